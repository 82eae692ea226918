"""Convolution and pooling: kernel parity, gradient checks, PyTorch cross-checks, layers, errors.

Every registered implementation of ``conv2d`` and ``maxpool2d`` must compute
exactly what the readable ``reference`` loops compute, on hypothesis-drawn
shapes (batch, channels, odd sizes, stride, padding, kernel 1–5). The Numba
strategies are registered each under its own name (``numba_im2col``,
``numba_implicit_gemm``, ``numba_direct``; ``numba`` picks one per shape), so
the tests select each by name; their tuning sizes (``chunk_bytes``) and the
implicit GEMM's two layouts are keyword arguments the tests pass.
"""

import functools
import os
import subprocess
import sys
import types

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import tinydl as td
from tinydl.kernels import reference

CONV_IMPLS = [name for name in td.kernels.available("conv2d") if name != "reference"]
POOL_IMPLS = [name for name in td.kernels.available("maxpool2d") if name != "reference"]
IMPLICIT_LAYOUTS = ("positions_in_vectors", "filters_in_vectors")
if "numba_implicit_gemm" in CONV_IMPLS:  # the strategy with each of its two layouts forced (else: by shape)
    CONV_IMPLS += [f"numba_implicit_gemm-{layout}" for layout in IMPLICIT_LAYOUTS]
CONV_ROLES = ("conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight")


def conv_kernels(name, chunk_bytes=None):
    """The conv2d kernel set called ``name``; 'numba_implicit_gemm-<layout>' forces that layout,
    and ``chunk_bytes`` sets the size of numba_im2col's chunks (tiny: several per batch)."""
    name, _, layout = name.partition("-")
    kernels = td.kernels.get("conv2d", name)
    options = {role: {} for role in CONV_ROLES}
    if layout:  # the weight gradient has one layout only
        options["conv2d_forward"]["layout"] = options["conv2d_backward_input"]["layout"] = layout
    if chunk_bytes is not None and name == "numba_im2col":
        for role in CONV_ROLES:
            options[role]["chunk_bytes"] = chunk_bytes
    return types.SimpleNamespace(
        name=name, **{role: functools.partial(getattr(kernels, role), **options[role]) for role in CONV_ROLES}
    )


@st.composite
def conv_problems(draw, max_batch=3, max_channels=4, max_side=9, impl=""):
    """(x_shape, w_shape, stride, padding) with a kernel that fits the padded input
    (for the implicit GEMM only what it runs: stride 1, padding < kernel)."""
    implicit_gemm = impl.startswith("numba_implicit_gemm")
    n = draw(st.integers(1, max_batch))
    c = draw(st.integers(1, max_channels))
    o = draw(st.integers(1, max_channels))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    if implicit_gemm:
        ph, pw = draw(st.integers(0, min(2, kh - 1))), draw(st.integers(0, min(2, kw - 1)))
    else:
        ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, kh - 2 * ph), max_side))
    w = draw(st.integers(max(1, kw - 2 * pw), max_side))
    stride = (1, 1) if implicit_gemm else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    return (n, c, h, w), (o, c, kh, kw), stride, (ph, pw)


@st.composite
def pool_problems(draw, max_side=9):
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    h, w = draw(st.integers(kh, max_side)), draw(st.integers(kw, max_side))
    stride = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return (n, c, h, w), (kh, kw), stride


def _random(shape, seed, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ------------------------------------------------------------------ kernel parity
@pytest.mark.parametrize("impl", CONV_IMPLS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(data=st.data(), seed=st.integers(0, 2**16), with_bias=st.booleans(), tiny_chunks=st.booleans())
def test_conv_kernels_match_reference(impl, dtype, data, seed, with_bias, tiny_chunks):
    problem = data.draw(conv_problems(impl=impl), label="problem")
    _check_conv_parity(conv_kernels(impl, chunk_bytes=1 if tiny_chunks else None), dtype, problem, seed, with_bias)


def _check_conv_parity(conv_kernels, dtype, problem, seed, with_bias):
    x_shape, w_shape, stride, padding = problem
    x, w = _random(x_shape, seed, dtype), _random(w_shape, seed + 1, dtype)
    bias = _random(w_shape[0], seed + 2, dtype) if with_bias else None
    # float32 sums of `depth` products of N(0, 1) numbers round differently in another order:
    # errors grow like depth · eps · (size of a sum ≈ √depth); float64 leaves no room for a wrong term.
    depth = max(w_shape[1], w_shape[0]) * w_shape[2] * w_shape[3]
    tol = dict(rtol=1e-5, atol=max(1e-5, 5e-7 * depth)) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)

    y = conv_kernels.conv2d_forward(x, w, bias, stride, padding)
    expected = reference.conv2d_forward(x, w, bias, stride, padding)
    assert y.shape == expected.shape and y.dtype == dtype
    np.testing.assert_allclose(y, expected, **tol)

    grad_y = _random(expected.shape, seed + 3, dtype)
    grad_x = conv_kernels.conv2d_backward_input(grad_y, w, x_shape, stride, padding)
    np.testing.assert_allclose(grad_x, reference.conv2d_backward_input(grad_y, w, x_shape, stride, padding), **tol)
    grad_w = conv_kernels.conv2d_backward_weight(grad_y, x, w_shape, stride, padding)
    np.testing.assert_allclose(grad_w, reference.conv2d_backward_weight(grad_y, x, w_shape, stride, padding), **tol)
    assert grad_x.shape == x_shape and grad_w.shape == w_shape


@pytest.mark.parametrize("impl", [name for name in CONV_IMPLS if name.startswith("numba_implicit_gemm")])
@pytest.mark.parametrize(
    "problem",
    [
        ((5, 32, 13, 13), (64, 32, 3, 3), (1, 1), (0, 0)),  # the benchmark's second layer, fewer images
        ((3, 20, 12, 11), (37, 20, 3, 3), (1, 1), (1, 1)),  # whole tiles and vectors plus leftovers
        ((2, 9, 7, 30), (70, 9, 2, 5), (1, 1), (1, 2)),  # more filters than two vectors, wide rows
        ((1, 8, 3, 9), (8, 8, 3, 3), (1, 1), (1, 1)),  # the last span of positions reads furthest past the image
    ],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_implicit_gemm_on_layer_sized_shapes(impl, problem, dtype):
    """Shapes that fill several register tiles in every direction (hypothesis draws small ones)."""
    _check_conv_parity(conv_kernels(impl), dtype, problem, seed=7, with_bias=True)


def test_implicit_gemm_names_what_it_cannot_run():
    if "numba_implicit_gemm" not in td.kernels.available("conv2d"):
        pytest.skip("numba is not installed")
    kernels = td.kernels.get("conv2d", "numba_implicit_gemm")
    x, w = np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3))
    with pytest.raises(ValueError, match=r"stride 1 with padding smaller than the kernel.*stride \(2, 2\)"):
        kernels.conv2d_forward(x, w, None, (2, 2), (0, 0))
    with pytest.raises(ValueError, match=r"padding \(3, 0\)"):
        kernels.conv2d_backward_input(np.zeros((1, 1, 9, 3)), w, x.shape, (1, 1), (3, 0))
    with pytest.raises(ValueError, match="layout must be one of"):
        kernels.conv2d_forward(x, w, None, (1, 1), (0, 0), layout="diagonal")


def test_numba_picks_the_strategy_by_shape():
    """The rule of numba_conv.fastest_strategy, on the shapes its docstring gives."""
    if "numba" not in td.kernels.available("conv2d"):
        pytest.skip("numba is not installed")
    from tinydl.kernels import numba_conv, numba_direct, numba_im2col, numba_implicit_gemm

    pick = numba_conv.fastest_strategy
    assert pick("conv2d", (64, 32, 3, 3), (1, 1), (0, 0)) is numba_implicit_gemm  # 288 taps
    assert pick("conv2d", (32, 1, 3, 3), (1, 1), (1, 1)) is numba_im2col  # 9 taps: too few
    assert pick("conv2d", (64, 32, 3, 3), (2, 2), (1, 1)) is numba_im2col  # strided
    assert pick("conv2d", (64, 32, 3, 3), (1, 1), (3, 3)) is numba_im2col  # padding ≥ kernel
    assert pick("conv2d", (8, 40, 3, 3), (1, 1), (1, 1)) is numba_implicit_gemm  # min(C, O)·9 = 72 taps
    assert pick("conv2d_relu_maxpool2d", (32, 1, 3, 3), (1, 1), (0, 0)) is numba_direct
    assert pick("conv2d_relu_maxpool2d", (64, 32, 3, 3), (1, 1), (0, 0)) is numba_im2col


@pytest.mark.parametrize("impl", POOL_IMPLS)
@given(problem=pool_problems(), seed=st.integers(0, 2**16), ties=st.booleans())
def test_maxpool_kernels_match_reference(impl, problem, seed, ties):
    x_shape, kernel, stride = problem
    x = _random(x_shape, seed)
    if ties:  # few distinct values: the first maximum must win, as in the reference
        x = np.round(x)
    kernels = td.kernels.get("maxpool2d", impl)
    y, argmax = kernels.maxpool2d_forward(x, kernel, stride)
    y_ref, argmax_ref = reference.maxpool2d_forward(x, kernel, stride)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(argmax, argmax_ref)
    grad_y = _random(y.shape, seed + 1)
    np.testing.assert_allclose(
        kernels.maxpool2d_backward(grad_y, argmax, x_shape, kernel, stride),
        reference.maxpool2d_backward(grad_y, argmax_ref, x_shape, kernel, stride),
        rtol=1e-12,
        atol=1e-12,
    )


def test_numba_kernels_write_every_output_element():
    """Poison every new array: a kernel that skips an element would leave NaN behind.

    Each Numba strategy takes its arrays from a ``workspace`` (kernels/workspace.py); a fresh
    one whose allocator fills them with NaN stands in for the shared one.
    """
    if "numba" not in td.kernels.available("conv2d"):
        pytest.skip("numba is not installed")
    from tinydl.kernels import numba_direct, numba_im2col, numba_implicit_gemm, numba_pool
    from tinydl.kernels.workspace import Workspace

    def poisoned_empty(shape, dtype):
        return np.full(shape, np.nan, dtype=dtype) if np.dtype(dtype).kind == "f" else np.empty(shape, dtype)

    x, w = _random((3, 2, 9, 8), 0), _random((4, 2, 3, 3), 1)
    grad_y = _random((3, 4, 7, 6), 2)
    conv_variants = [(numba_im2col, dict(chunk_bytes=chunk_bytes)) for chunk_bytes in (1, 8 << 20)]
    conv_variants += [(numba_implicit_gemm, dict(layout=layout)) for layout in IMPLICIT_LAYOUTS]
    for module, options in conv_variants:
        weight_options = {k: v for k, v in options.items() if k != "layout"}
        poisoned = dict(workspace=Workspace(allocate=poisoned_empty))
        assert np.isfinite(module.conv2d_forward(x, w, None, (1, 1), (0, 0), **options, **poisoned)).all()
        assert np.isfinite(
            module.conv2d_backward_input(grad_y, w, x.shape, (1, 1), (0, 0), **options, **poisoned)
        ).all()
        assert np.isfinite(
            module.conv2d_backward_weight(grad_y, x, w.shape, (1, 1), (0, 0), **weight_options, **poisoned)
        ).all()
    y, _ = numba_pool.maxpool2d_forward(x, (2, 2), (2, 2), workspace=Workspace(allocate=poisoned_empty))
    assert np.isfinite(y).all()
    for module in (numba_im2col, numba_direct):  # the fused op (its conv output is 7 × 6: pooled to 3 × 3)
        poisoned = dict(workspace=Workspace(allocate=poisoned_empty))
        y, argmax = module.conv2d_relu_maxpool2d_forward(x, w, None, (1, 1), (0, 0), (2, 2), (2, 2), **poisoned)
        assert np.isfinite(y).all()
        grads = module.conv2d_relu_maxpool2d_backward(
            _random(y.shape, 3), y, argmax, x, w, (1, 1), (0, 0), (2, 2), (2, 2), True, **poisoned
        )
        assert all(np.isfinite(g).all() for g in grads)


def test_numba_kernels_run_as_plain_python_with_jit_disabled():
    """NUMBA_DISABLE_JIT=1 turns the kernels into Python functions (for pdb); they must still be right."""
    code = (
        "import numpy as np, tinydl as td\n"
        "from tinydl.kernels import reference as R\n"
        "k = td.kernels.get('conv2d', 'numba')\n"
        "x = np.random.default_rng(0).standard_normal((2, 40, 5, 5)); w = np.random.default_rng(2).standard_normal((8, 40, 3, 3))\n"
        "assert np.allclose(k.conv2d_forward(x, w, None, (1, 1), (1, 1)), R.conv2d_forward(x, w, None, (1, 1), (1, 1)))\n"
        "g = np.random.default_rng(1).standard_normal((2, 8, 5, 5))\n"  # the implicit GEMM's backward: SIMD ops in NumPy
        "assert np.allclose(k.conv2d_backward_weight(g, x, w.shape, (1, 1), (1, 1)), R.conv2d_backward_weight(g, x, w.shape, (1, 1), (1, 1)))\n"
        "assert np.allclose(k.conv2d_backward_input(g, w, x.shape, (1, 1), (1, 1)), R.conv2d_backward_input(g, w, x.shape, (1, 1), (1, 1)))\n"
        "y, a = td.kernels.get('maxpool2d', 'numba').maxpool2d_forward(x, (2, 2), (2, 2))\n"
        "assert np.array_equal(y, R.maxpool2d_forward(x, (2, 2), (2, 2))[0])\n"
        "import numba; assert numba.config.DISABLE_JIT\n"
        "import tinydl.kernels.numba_conv as nc, tinydl.kernels.numba_implicit_gemm as ig\n"
        "assert nc.fastest_strategy('conv2d', (8, 40, 3, 3), (1, 1), (1, 1)) is ig\n"
        # Compiled, the SIMD loads do not check bounds; here they do: sweep shapes that end tiles and
        # spans in every possible place, for both forward layouts and both gradients.
        "rng = np.random.default_rng(3)\n"
        "for layout in ('positions_in_vectors', 'filters_in_vectors'):\n"
        "    shapes = [(3, 9, 3, 3, 1), (1, 1, 1, 1, 0), (2, 7, 2, 3, 1), (5, 4, 3, 1, 2), (9, 2, 1, 2, 0), (4, 13, 3, 3, 0)]\n"
        "    for _ in range(30):\n"
        "        kh, kw = rng.integers(1, 4), rng.integers(1, 4); p = min(rng.integers(0, 3), kh - 1, kw - 1)\n"
        "        shapes.append((rng.integers(max(1, kh - 2 * p), 8), rng.integers(max(1, kw - 2 * p), 14), kh, kw, p))\n"
        "    for h, w_, kh, kw, p in shapes:\n"
        "        xs = rng.standard_normal((2, 3, h, w_)); ws = rng.standard_normal((9, 3, kh, kw))\n"
        # padding ≥ kernel: not an implicit GEMM; numba sends it to im2col
        "        m, opt = (ig, dict(layout=layout)) if p < min(kh, kw) else (k, {})\n"
        "        ys = m.conv2d_forward(xs, ws, None, (1, 1), (p, p), **opt)\n"
        "        assert np.allclose(ys, R.conv2d_forward(xs, ws, None, (1, 1), (p, p)))\n"
        "        gs = rng.standard_normal(ys.shape)\n"
        "        assert np.allclose(m.conv2d_backward_input(gs, ws, xs.shape, (1, 1), (p, p), **opt), R.conv2d_backward_input(gs, ws, xs.shape, (1, 1), (p, p)))\n"
        "        assert np.allclose(m.conv2d_backward_weight(gs, xs, ws.shape, (1, 1), (p, p)), R.conv2d_backward_weight(gs, xs, ws.shape, (1, 1), (p, p)))\n"
    )
    if "numba" not in td.kernels.available("conv2d"):
        pytest.skip("numba is not installed")
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


# ------------------------------------------------------------------ gradient checks (float64)
@pytest.mark.parametrize("impl", ["reference", *td.kernels.available("conv2d")[1:]])
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_conv2d_gradcheck(impl, data, seed):
    x_shape, w_shape, stride, padding = data.draw(
        conv_problems(max_batch=2, max_channels=2, max_side=6, impl=impl), label="problem"
    )
    x, w, b = _random(x_shape, seed), _random(w_shape, seed + 1), _random(w_shape[0], seed + 2)
    with td.kernels.using("conv2d", impl):
        td.gradcheck(lambda x, w, b: td.nn.functional.conv2d(x, w, b, stride=stride, padding=padding), x, w, b)


@given(problem=pool_problems(max_side=6), seed=st.integers(0, 2**16))
def test_max_pool2d_gradcheck_without_ties(problem, seed):
    x_shape, kernel, stride = problem
    # A permutation of well-separated values: no two elements of a window are within 2·eps.
    x = np.random.default_rng(seed).permutation(np.prod(x_shape)).reshape(x_shape) * 0.1
    td.gradcheck(lambda x: td.nn.functional.max_pool2d(x, kernel, stride), x)


@given(problem=pool_problems(max_side=6), seed=st.integers(0, 2**16))
def test_avg_pool2d_gradcheck(problem, seed):
    x_shape, kernel, stride = problem
    x = _random(x_shape, seed)
    y = td.nn.functional.avg_pool2d(td.tensor(x), kernel, stride).numpy()
    oh, ow = y.shape[2:]
    expected = np.array(
        [
            [
                [
                    [
                        x[
                            n, c, p * stride[0] : p * stride[0] + kernel[0], q * stride[1] : q * stride[1] + kernel[1]
                        ].mean()
                        for q in range(ow)
                    ]
                    for p in range(oh)
                ]
                for c in range(x.shape[1])
            ]
            for n in range(x.shape[0])
        ]
    )
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    td.gradcheck(lambda x: td.nn.functional.avg_pool2d(x, kernel, stride), x)


# ------------------------------------------------------------------ PyTorch cross-checks
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 1e-5)], ids=["float64", "float32"])
@given(problem=conv_problems(), seed=st.integers(0, 2**16))
def test_conv2d_matches_torch(torch, dtype, tol, problem, seed):
    x_shape, w_shape, stride, padding = problem
    x, w, b = _random(x_shape, seed, dtype), _random(w_shape, seed + 1, dtype), _random(w_shape[0], seed + 2, dtype)
    g = _random(reference.conv2d_forward(x[:1, :1], w[:1, :1], None, stride, padding).shape[2:], seed + 3, dtype)

    xs = [td.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = td.nn.functional.conv2d(*xs, stride=stride, padding=padding)
    grad = np.broadcast_to(g, y.shape).copy()
    y.backward(grad)
    ts = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    y_t = torch.nn.functional.conv2d(*ts, stride=stride, padding=padding)
    y_t.backward(torch.tensor(grad))

    def close(a, b):
        assert np.linalg.norm(a - b) <= tol * max(np.linalg.norm(b), 1.0)

    close(y.numpy(), y_t.detach().numpy())
    for mine, theirs in zip(xs, ts):
        close(mine.grad.numpy(), theirs.grad.numpy())


@pytest.mark.parametrize("kind", ["max", "avg"])
@given(problem=pool_problems(), seed=st.integers(0, 2**16))
def test_pooling_matches_torch(torch, kind, problem, seed):
    x_shape, kernel, stride = problem
    x = _random(x_shape, seed)
    ours, theirs = getattr(td.nn.functional, f"{kind}_pool2d"), getattr(torch.nn.functional, f"{kind}_pool2d")
    xt, xtt = td.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, y_t = ours(xt, kernel, stride), theirs(xtt, kernel, stride)
    g = _random(y.shape, seed + 1)
    y.backward(g)
    y_t.backward(torch.tensor(g))
    np.testing.assert_allclose(y.numpy(), y_t.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(xt.grad.numpy(), xtt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_conv2d_layer_matches_torch_layer(torch):
    td.manual_seed(0)
    layer = td.nn.Conv2d(3, 5, (3, 2), stride=(2, 1), padding=1)
    torch_layer = torch.nn.Conv2d(3, 5, (3, 2), stride=(2, 1), padding=1)
    torch_layer.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in layer.state_dict().items()})
    x = _random((4, 3, 9, 7), 0, np.float32)
    y = layer(td.tensor(x))
    y_t = torch_layer(torch.tensor(x))
    np.testing.assert_allclose(y.numpy(), y_t.detach().numpy(), rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ layers
def test_conv2d_layer_shapes_init_and_repr():
    td.manual_seed(1)
    layer = td.nn.Conv2d(2, 8, 3, padding=1)
    assert layer.weight.shape == (8, 2, 3, 3) and layer.bias.shape == (8,)
    bound = 1 / np.sqrt(2 * 9)
    assert np.abs(layer.weight.numpy()).max() <= bound and np.abs(layer.bias.numpy()).max() <= bound
    assert layer(td.zeros(4, 2, 10, 10)).shape == (4, 8, 10, 10)
    assert repr(layer) == "Conv2d(2, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"
    assert td.nn.Conv2d(1, 1, 3, bias=False).bias is None
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]


def test_pool_layers():
    x = td.tensor(np.arange(32, dtype=np.float32).reshape(1, 2, 4, 4))
    np.testing.assert_array_equal(td.nn.MaxPool2d(2)(x).numpy()[0, 0], [[5, 7], [13, 15]])
    np.testing.assert_array_equal(td.nn.AvgPool2d(2)(x).numpy()[0, 0], [[2.5, 4.5], [10.5, 12.5]])
    assert td.nn.MaxPool2d(3, stride=1)(x).shape == (1, 2, 2, 2)
    assert repr(td.nn.MaxPool2d(2)) == "MaxPool2d(kernel_size=(2, 2), stride=(2, 2))"


def test_kernel_switch_gives_same_training_gradients():
    x = _random((2, 3, 8, 8), 0)
    w = _random((4, 3, 3, 3), 1)
    grads = {}
    for impl in td.kernels.available("conv2d"):
        with td.kernels.using("conv2d", impl):
            wt = td.tensor(w, requires_grad=True)
            td.nn.functional.max_pool2d(td.relu(td.nn.functional.conv2d(x, wt, padding=1)), 2).sum().backward()
            grads[impl] = wt.grad.numpy()
    for impl, g in grads.items():
        np.testing.assert_allclose(g, grads["reference"], rtol=1e-10, err_msg=impl)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: td.nn.functional.conv2d(td.zeros(2, 3, 5, 5), td.zeros(4, 2, 3, 3)), "input has 3 channels"),
        (lambda: td.nn.functional.conv2d(td.zeros(3, 5, 5), td.zeros(4, 3, 3, 3)), r"shape \(N, C, H, W\)"),
        (lambda: td.nn.functional.conv2d(td.zeros(1, 1, 2, 2), td.zeros(1, 1, 3, 3)), "larger than the"),
        (lambda: td.nn.functional.conv2d(td.zeros(1, 1, 5, 5), td.zeros(1, 1, 3)), "weight must have shape"),
        (
            lambda: td.nn.functional.conv2d(td.zeros(1, 1, 5, 5), td.zeros(2, 1, 3, 3), td.zeros(3)),
            r"bias must have shape \(2,\)",
        ),
        (lambda: td.nn.functional.conv2d(td.zeros(1, 1, 5, 5), td.zeros(1, 1, 3, 3), stride=0), "must be ≥ 1"),
        (
            lambda: td.nn.functional.conv2d(td.zeros(1, 1, 5, 5), td.zeros(1, 1, 3, 3), stride=1.5),
            "stride must be an int",
        ),
        (lambda: td.nn.functional.max_pool2d(td.zeros(1, 1, 1, 5), 2), "larger than the"),
        (lambda: td.nn.Conv2d(0, 3, 3), "in_channels must be a positive integer"),
        (lambda: td.nn.Conv2d(2, 3, 3)(td.zeros(1, 3, 5, 5)), r"expects input of shape \(N, 2, H, W\)"),
        (lambda: td.nn.Conv2d(1, 3, 3)(td.zeros(1, 1, 5, 5, dtype=td.float64)), "float32 weights but got a float64"),
        (lambda: td.kernels.use("conv2d", "fast"), "no implementation 'fast' of 'conv2d'"),
        (lambda: td.kernels.available("conv4d"), "unknown kernel op 'conv4d'"),
    ],
)
def test_errors_name_what_is_wrong(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_kernel_registry_switching():
    assert td.kernels.available("conv2d")[:2] == ["reference", "numpy"]
    before = td.kernels.current("conv2d")
    with td.kernels.using("conv2d", "reference"):
        assert td.kernels.current("conv2d") == "reference"
    assert td.kernels.current("conv2d") == before
    td.kernels.use("maxpool2d", "numpy")
    try:
        assert td.kernels.current("maxpool2d") == "numpy"
    finally:
        td.kernels.use("maxpool2d", None)
    assert td.kernels.current("maxpool2d") == td.kernels.default("maxpool2d")


# ------------------------------------------------------------------ fused conv → ReLU → max-pool
@st.composite
def fused_problems(draw):
    x_shape, w_shape, stride, padding = draw(conv_problems(max_side=10))
    conv_hw = [(n + 2 * p - k) // s + 1 for n, p, k, s in zip(x_shape[2:], padding, w_shape[2:], stride)]
    pool = draw(st.integers(1, min(3, *conv_hw)))
    pool_stride = draw(st.integers(1, 3))
    return x_shape, w_shape, stride, padding, pool, pool_stride


@pytest.mark.parametrize("impl", td.kernels.available("conv2d_relu_maxpool2d"))
@given(problem=fused_problems(), seed=st.integers(0, 2**16))
def test_fused_conv_relu_maxpool_equals_the_three_ops(impl, problem, seed):
    x_shape, w_shape, stride, padding, pool, pool_stride = problem
    arrays = _random(x_shape, seed), _random(w_shape, seed + 1), _random(w_shape[0], seed + 2)
    F = td.nn.functional

    def unfused(x, w, b):
        return F.max_pool2d(td.relu(F.conv2d(x, w, b, stride=stride, padding=padding)), pool, pool_stride)

    def fused(x, w, b):
        return F.conv2d_relu_maxpool2d(x, w, b, stride=stride, padding=padding, pool_size=pool, pool_stride=pool_stride)

    results = []
    with td.kernels.using("conv2d_relu_maxpool2d", impl):
        for fn in (unfused, fused):
            tensors = [td.tensor(a, requires_grad=True) for a in arrays]
            y = fn(*tensors)
            y.backward(_random(y.shape, seed + 3))
            results.append([y.numpy()] + [t.grad.numpy() for t in tensors])
    for expected, got in zip(*results):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("chunk_bytes", [1, 8 << 20], ids=["one image per chunk", "one chunk"])
def test_fused_im2col_in_chunks_matches_reference(chunk_bytes):
    """numba_im2col's fused op computes its conv output chunk by chunk: tiny chunks (several per batch) too."""
    if "numba_im2col" not in td.kernels.available("conv2d_relu_maxpool2d"):
        pytest.skip("numba is not installed")
    from tinydl.kernels import numba_im2col

    x, w, b = _random((3, 5, 9, 8), 0), _random((6, 5, 3, 3), 1), _random(6, 2)  # 45 taps
    args = (x, w, b, (1, 1), (1, 1), (2, 2), (2, 2))
    y, argmax = numba_im2col.conv2d_relu_maxpool2d_forward(*args, chunk_bytes=chunk_bytes)
    y_ref, argmax_ref = reference.conv2d_relu_maxpool2d_forward(*args)
    np.testing.assert_allclose(y, y_ref, rtol=1e-10, atol=1e-12)
    grad_y = _random(y.shape, 3)
    got = numba_im2col.conv2d_relu_maxpool2d_backward(
        grad_y, y, argmax, x, w, (1, 1), (1, 1), (2, 2), (2, 2), True, chunk_bytes=chunk_bytes
    )
    want = reference.conv2d_relu_maxpool2d_backward(
        grad_y, y_ref, argmax_ref, x, w, (1, 1), (1, 1), (2, 2), (2, 2), True
    )
    for g, e in zip(got, want):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12)


@given(problem=fused_problems(), seed=st.integers(0, 2**16))
def test_fused_conv_relu_maxpool_gradcheck(problem, seed):
    x_shape, w_shape, stride, padding, pool, pool_stride = problem
    x, w, b = _random(x_shape, seed), _random(w_shape, seed + 1), _random(w_shape[0], seed + 2)
    F = td.nn.functional
    conv = F.conv2d(td.tensor(x), td.tensor(w), td.tensor(b), stride=stride, padding=padding).numpy()
    # Stay away from the kinks: in every pooling window the winner must beat the runner-up
    # and zero (ReLU) by a margin far above the finite-difference step.
    windows = np.sort(
        np.lib.stride_tricks.sliding_window_view(conv, (pool, pool), axis=(2, 3))[
            :, :, ::pool_stride, ::pool_stride
        ].reshape(*conv.shape[:2], -1, pool * pool),
        axis=-1,
    )
    margin = (
        np.abs(windows[..., -1])
        if pool == 1
        else np.minimum(np.abs(windows[..., -1]), windows[..., -1] - windows[..., -2])
    )
    assume(margin.min() > 1e-4)
    td.gradcheck(
        lambda x, w, b: F.conv2d_relu_maxpool2d(
            x, w, b, stride=stride, padding=padding, pool_size=pool, pool_stride=pool_stride
        ),
        x,
        w,
        b,
    )


def test_small_cnn_fused_and_unfused_agree():
    x = _random((6, 1, 28, 28), 0)
    labels = np.array([0, 1, 1, 0, 1, 0])
    grads = []
    for fused in (True, False):
        td.manual_seed(0)
        model = td.models.SmallCNN(fused=fused).double()
        loss = td.cross_entropy(model(td.tensor(x)), labels)
        loss.backward()
        grads.append([loss.numpy()] + [p.grad.numpy() for p in model.parameters()])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


# ------------------------------------------------------------------ NaN and ±Inf: exactly as in PyTorch
# PyTorch's max-pooling loop takes a value that is larger than the best so far *or NaN*: a NaN
# anywhere in a window makes the output NaN, and the gradient goes to the window's LAST NaN;
# otherwise the first maximum wins ties (+Inf is a number like any other; a window of -Inf gives
# -Inf at its first tap). relu(NaN) = NaN, and ReLU's derivative is 0 only where y <= 0. Every
# registered kernel must do the same; the cases below are PyTorch 2.13's answers (return_indices).
NAN, INF = np.nan, np.inf
POOL_CASES = [  # one 2×2 window: (x, y, argmax)
    ([[1, NAN], [2, 3]], NAN, 1),  # the example: a NaN is not dropped
    ([[1, NAN], [NAN, 3]], NAN, 2),  # two NaNs: the last one wins
    ([[NAN, 1], [NAN, 3]], NAN, 2),
    ([[INF, NAN], [NAN, 3]], NAN, 2),  # NaN beats +Inf
    ([[1, INF], [INF, 3]], INF, 1),  # +Inf ties: the first
    ([[-INF, -INF], [-INF, -INF]], -INF, 0),
    ([[-INF, NAN], [-INF, -INF]], NAN, 1),
    ([[1, -INF], [3, INF]], INF, 3),
]
POISONS = (np.nan, np.inf, -np.inf)
FUSED_IMPLS = td.kernels.available("conv2d_relu_maxpool2d")
# NumPy warns of Inf − Inf and 0 · Inf; here they are the point (the Numba kernels compute the same silently).
poisoned_arithmetic = pytest.mark.filterwarnings(
    "ignore:invalid value:RuntimeWarning", "ignore:overflow:RuntimeWarning"
)


@st.composite
def poisoned(draw, shape, seed, dtype=np.float64, max_poisons=4):
    """N(0, 1) numbers of ``shape`` with NaN, +Inf or -Inf at 1..max_poisons hypothesis-drawn positions."""
    a = _random(shape, seed, dtype)
    for k in draw(st.lists(st.integers(0, a.size - 1), min_size=1, max_size=max_poisons), label="poisoned at"):
        a.flat[k] = draw(st.sampled_from(POISONS), label="poison")
    return a


def assert_same_numbers(got, want, rtol=1e-10, atol=1e-10, what=""):
    """Equal up to rounding, with NaN, +Inf and -Inf in the same places (assert_allclose checks all three)."""
    assert got.shape == want.shape, what
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def _torch_window_index(indices, x_shape, kernel, stride):
    """PyTorch's return_indices (flat h·W + w in the input plane) as our argmax: i·KW + j inside each window."""
    indices = np.asarray(indices)
    p = np.arange(indices.shape[2]).reshape(-1, 1)
    q = np.arange(indices.shape[3]).reshape(1, -1)
    i, j = indices // x_shape[3] - p * stride[0], indices % x_shape[3] - q * stride[1]
    return i * kernel[1] + j


@poisoned_arithmetic
@pytest.mark.parametrize("impl", td.kernels.available("maxpool2d"))
@pytest.mark.parametrize("case", POOL_CASES, ids=[str(c[0]) for c in POOL_CASES])
def test_maxpool_kernels_let_nan_win_as_torch_does(impl, case):
    window, want_y, want_argmax = case
    x = np.array(window, dtype=np.float64).reshape(1, 1, 2, 2)
    kernels = td.kernels.get("maxpool2d", impl)
    y, argmax = kernels.maxpool2d_forward(x, (2, 2), (2, 2))
    np.testing.assert_array_equal(y.ravel(), [want_y])
    assert int(argmax.ravel()[0]) == want_argmax
    grad_x = kernels.maxpool2d_backward(np.ones_like(y), argmax, x.shape, (2, 2), (2, 2))
    np.testing.assert_array_equal(grad_x.ravel(), np.eye(4)[want_argmax])  # the gradient goes to the winner


@poisoned_arithmetic
@pytest.mark.parametrize("impl", FUSED_IMPLS)
@pytest.mark.parametrize("case", POOL_CASES, ids=[str(c[0]) for c in POOL_CASES])
def test_fused_kernels_let_nan_win_as_torch_does(impl, case):
    """A 1×1 conv with weight 1 passes x on: the fused op must pool it as max_pool2d(relu(x)) does."""
    window, want_y, want_argmax = case
    x = np.array(window, dtype=np.float64).reshape(1, 1, 2, 2)
    w = np.ones((1, 1, 1, 1))
    kernels = td.kernels.get("conv2d_relu_maxpool2d", impl)
    y, argmax = kernels.conv2d_relu_maxpool2d_forward(x, w, None, (1, 1), (0, 0), (2, 2), (2, 2))
    relu_y = want_y if not want_y <= 0 else 0.0  # relu keeps NaN
    np.testing.assert_array_equal(y.ravel(), [relu_y])
    grad_x, _, grad_b = kernels.conv2d_relu_maxpool2d_backward(
        np.ones_like(y), y, argmax, x, w, (1, 1), (0, 0), (2, 2), (2, 2), True
    )
    if not relu_y <= 0:  # ReLU passes the gradient (also for NaN), to the window's winner
        assert int(argmax.ravel()[0]) == want_argmax
        np.testing.assert_array_equal(grad_x.ravel(), np.eye(4)[want_argmax])
        np.testing.assert_array_equal(grad_b, [1.0])
    else:
        np.testing.assert_array_equal(grad_x.ravel(), np.zeros(4))


@poisoned_arithmetic
@pytest.mark.parametrize("impl", td.kernels.available("maxpool2d"))
@given(data=st.data(), problem=pool_problems(), seed=st.integers(0, 2**16))
def test_maxpool_kernels_match_torch_on_poisoned_inputs(torch, impl, data, problem, seed):
    x_shape, kernel, stride = problem
    x = data.draw(poisoned(x_shape, seed), label="x")
    grad_y = data.draw(poisoned(reference.maxpool2d_forward(x, kernel, stride)[0].shape, seed + 1), label="grad_y")
    kernels = td.kernels.get("maxpool2d", impl)
    y, argmax = kernels.maxpool2d_forward(x, kernel, stride)
    grad_x = kernels.maxpool2d_backward(grad_y, argmax, x_shape, kernel, stride)

    xt = torch.tensor(x, requires_grad=True)
    yt, indices = torch.nn.functional.max_pool2d(xt, kernel, stride, return_indices=True)
    yt.backward(torch.tensor(grad_y))
    np.testing.assert_array_equal(y, yt.detach().numpy())
    np.testing.assert_array_equal(argmax, _torch_window_index(indices.numpy(), x_shape, kernel, stride))
    assert_same_numbers(grad_x, xt.grad.numpy())


@poisoned_arithmetic
@pytest.mark.parametrize("impl", POOL_IMPLS)
@given(data=st.data(), problem=pool_problems(), seed=st.integers(0, 2**16))
def test_maxpool_kernels_match_reference_on_poisoned_inputs(impl, data, problem, seed):
    x_shape, kernel, stride = problem
    x = data.draw(poisoned(x_shape, seed), label="x")
    kernels = td.kernels.get("maxpool2d", impl)
    y, argmax = kernels.maxpool2d_forward(x, kernel, stride)
    y_ref, argmax_ref = reference.maxpool2d_forward(x, kernel, stride)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(argmax, argmax_ref)
    grad_y = data.draw(poisoned(y.shape, seed + 1), label="grad_y")
    assert_same_numbers(
        kernels.maxpool2d_backward(grad_y, argmax, x_shape, kernel, stride),
        reference.maxpool2d_backward(grad_y, argmax_ref, x_shape, kernel, stride),
    )


def _poisoned_conv_inputs(data, w_shape, x_shape, seed):
    """x always poisoned; w and the bias poisoned or not (a NaN weight poisons its whole channel)."""
    x = data.draw(poisoned(x_shape, seed), label="x")
    w = data.draw(poisoned(w_shape, seed + 1, max_poisons=1), label="w") if data.draw(st.booleans()) else None
    b = data.draw(poisoned(w_shape[:1], seed + 2, max_poisons=1), label="b") if data.draw(st.booleans()) else None
    w = _random(w_shape, seed + 1) if w is None else w
    b = _random(w_shape[0], seed + 2) if b is None else b
    return x, w, b


@poisoned_arithmetic
@pytest.mark.parametrize("impl", CONV_IMPLS)
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_conv_kernels_match_reference_on_poisoned_inputs(impl, data, seed):
    x_shape, w_shape, stride, padding = data.draw(conv_problems(impl=impl), label="problem")
    x, w, b = _poisoned_conv_inputs(data, w_shape, x_shape, seed)
    kernels = conv_kernels(impl, chunk_bytes=1 if data.draw(st.booleans(), label="tiny chunks") else None)
    y = kernels.conv2d_forward(x, w, b, stride, padding)
    assert_same_numbers(y, reference.conv2d_forward(x, w, b, stride, padding))
    poisoned_grad = data.draw(poisoned(y.shape, seed + 3), label="grad_y")
    for grad_y in (_random(y.shape, seed + 3), poisoned_grad):  # for the poisoned inputs, then poisoned itself
        assert_same_numbers(
            kernels.conv2d_backward_input(grad_y, w, x_shape, stride, padding),
            reference.conv2d_backward_input(grad_y, w, x_shape, stride, padding),
        )
        assert_same_numbers(
            kernels.conv2d_backward_weight(grad_y, x, w_shape, stride, padding),
            reference.conv2d_backward_weight(grad_y, x, w_shape, stride, padding),
        )


def _fused_with_kernels(impl, x, w, b, grad_y, stride, padding, pool, pool_stride):
    kernels = td.kernels.get("conv2d_relu_maxpool2d", impl)
    options = (stride, padding, (pool, pool), (pool_stride, pool_stride))
    y, argmax = kernels.conv2d_relu_maxpool2d_forward(x, w, b, *options)
    grad_y = grad_y(y.shape) if callable(grad_y) else grad_y
    return (y, *kernels.conv2d_relu_maxpool2d_backward(grad_y, y, argmax, x, w, *options, True))


@poisoned_arithmetic
@pytest.mark.parametrize("impl", [name for name in FUSED_IMPLS if name != "reference"])
@given(data=st.data(), problem=fused_problems(), seed=st.integers(0, 2**16))
def test_fused_kernels_match_reference_on_poisoned_inputs(impl, data, problem, seed):
    x_shape, w_shape, stride, padding, pool, pool_stride = problem
    x, w, b = _poisoned_conv_inputs(data, w_shape, x_shape, seed)
    problem = (stride, padding, pool, pool_stride)
    want = _fused_with_kernels("reference", x, w, b, lambda shape: _random(shape, seed + 3), *problem)
    got = _fused_with_kernels(impl, x, w, b, lambda shape: _random(shape, seed + 3), *problem)
    for what, g, e in zip(("y", "grad_x", "grad_w", "grad_b"), got, want):
        assert_same_numbers(g, e, what=what)


@poisoned_arithmetic
@pytest.mark.parametrize("impl", FUSED_IMPLS)
@given(data=st.data(), problem=fused_problems(), seed=st.integers(0, 2**16))
def test_fused_kernels_match_torch_on_poisoned_inputs(torch, impl, data, problem, seed):
    """conv → ReLU → max-pool with NaN/±Inf in x (and sometimes w, b): PyTorch's three ops' values and gradients."""
    x_shape, w_shape, stride, padding, pool, pool_stride = problem
    x, w, b = _poisoned_conv_inputs(data, w_shape, x_shape, seed)
    got = _fused_with_kernels(impl, x, w, b, lambda shape: _random(shape, seed + 3), stride, padding, pool, pool_stride)

    tensors = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    F = torch.nn.functional
    yt = F.max_pool2d(F.relu(F.conv2d(*tensors, stride=stride, padding=padding)), pool, pool_stride)
    yt.backward(torch.tensor(_random(tuple(yt.shape), seed + 3)))
    want = [yt.detach().numpy()] + [t.grad.numpy() for t in tensors]
    for what, g, e in zip(("y", "grad_x", "grad_w", "grad_b"), got, want):
        assert_same_numbers(g, e, rtol=1e-9, atol=1e-9, what=what)


@poisoned_arithmetic
@pytest.mark.parametrize("impl", CONV_IMPLS)
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_conv_kernels_match_torch_on_poisoned_inputs(torch, impl, data, seed):
    x_shape, w_shape, stride, padding = data.draw(conv_problems(impl=impl), label="problem")
    x, w, b = _poisoned_conv_inputs(data, w_shape, x_shape, seed)
    kernels = conv_kernels(impl)
    y = kernels.conv2d_forward(x, w, b, stride, padding)
    tensors = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    yt = torch.nn.functional.conv2d(*tensors, stride=stride, padding=padding)
    grad_y = _random(y.shape, seed + 3)
    yt.backward(torch.tensor(grad_y))
    assert_same_numbers(y, yt.detach().numpy(), rtol=1e-9, atol=1e-9)
    assert_same_numbers(kernels.conv2d_backward_input(grad_y, w, x_shape, stride, padding), tensors[0].grad.numpy())
    assert_same_numbers(kernels.conv2d_backward_weight(grad_y, x, w_shape, stride, padding), tensors[1].grad.numpy())


@poisoned_arithmetic
@pytest.mark.parametrize("impl", FUSED_IMPLS)
@given(data=st.data(), problem=fused_problems(), seed=st.integers(0, 2**16))
def test_fused_op_equals_the_three_ops_on_poisoned_inputs(impl, data, problem, seed):
    """The issue's symptom: F.conv2d_relu_maxpool2d must give what conv2d, relu and max_pool2d give, NaN included."""
    x_shape, w_shape, stride, padding, pool, pool_stride = problem
    arrays = _poisoned_conv_inputs(data, w_shape, x_shape, seed)
    F = td.nn.functional
    results = []
    with td.kernels.using("conv2d_relu_maxpool2d", impl):
        for fused in (False, True):
            tensors = [td.tensor(a, requires_grad=True) for a in arrays]
            if fused:
                y = F.conv2d_relu_maxpool2d(
                    *tensors, stride=stride, padding=padding, pool_size=pool, pool_stride=pool_stride
                )
            else:
                y = F.max_pool2d(td.relu(F.conv2d(*tensors, stride=stride, padding=padding)), pool, pool_stride)
            y.backward(_random(y.shape, seed + 3))
            results.append([y.numpy()] + [t.grad.numpy() for t in tensors])
    for what, expected, got in zip(("y", "grad_x", "grad_w", "grad_b"), *results):
        assert_same_numbers(got, expected, what=what)
