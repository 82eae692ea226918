"""The CUDA C kernels, proven right on a machine without a GPU.

Every kernel in tinydl/kernels/cuda/*.cu runs here through the CPU emulation
(tinydl.testing.cuda_emulator): the same source, launched by the very
launchers that launch it on CuPy (so the grid, block and tile edges are the
GPU's), on hypothesis-drawn shapes that end tiles anywhere. Outputs start as
NaN (every element must be written), arrays carry guard bytes (no write may
land outside them), and float32 results are compared with the float64
``reference`` kernels within rtol 1e-5 plus an absolute tolerance scaled by
the reduction length and the inputs' magnitude (plain relative error fails
near zero). The last tests plant bugs in copies of the kernels and show that
these checks catch them.
"""

import re
import types

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinydl.kernels import numpy_norm, numpy_pool, reference
from tinydl.testing import cuda_emulator

pytestmark = pytest.mark.skipif(
    cuda_emulator.unavailable_reason() is not None, reason=f"CUDA emulation: {cuda_emulator.unavailable_reason()}"
)

# The poisoned inputs and PyTorch's NaN rule, shared with the CPU kernels' tests.
from test_conv import POOL_CASES, assert_same_numbers, poisoned, poisoned_arithmetic  # noqa: E402

from tinydl.kernels.cuda import batchnorm, conv, launch, matmul, optim, pool  # noqa: E402

EPS32 = float(np.finfo(np.float32).eps)


@pytest.fixture(scope="module")
def emulator():
    """One emulator for the module: each family is compiled once (and cached on disk between runs)."""
    return cuda_emulator.Emulator()


def assert_close(got, want, depth, scale, dtype, what=""):
    """|got − want| ≤ rtol·|want| + atol, atol = 4·depth·ε·scale (the rounding a sum of ``depth`` terms may collect)."""
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    assert not np.isnan(got).any(), f"{what}: {np.isnan(got).sum()} elements never written (still NaN)"
    eps = EPS32 if dtype == np.float32 else float(np.finfo(np.float64).eps)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, want, rtol=rtol, atol=4 * max(depth, 1) * eps * max(scale, 1e-30), err_msg=what)


def _random(shape, seed, dtype):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


DTYPES = [np.float32, np.float64]


# ------------------------------------------------------------------ matmul
@st.composite
def matmul_shapes(draw):
    """Sizes that end the 16- and 128-wide tiles anywhere, and the 4-wide vector loads."""
    side = st.one_of(st.integers(1, 20), st.sampled_from([15, 16, 17, 31, 32, 33, 63, 64]), st.integers(120, 136))
    m, n = draw(side), draw(side)
    k = draw(st.one_of(st.integers(1, 40), st.sampled_from([7, 8, 9, 16, 17])))
    return m, k, n


@pytest.mark.parametrize("rung", ["naive", "tiled", "blocked"])
@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=matmul_shapes(), seed=st.integers(0, 2**16))
def test_matmul_rungs_match_reference(emulator, rung, dtype, shape, seed):
    m, k, n = shape
    a, b = _random((m, k), seed, dtype), _random((k, n), seed + 1, dtype)
    with cuda_emulator.emulate(emulator=emulator):
        c = getattr(matmul, f"matmul_{rung}")(a, b)
    want = a.astype(np.float64) @ b.astype(np.float64)
    assert c.dtype == dtype
    assert_close(c, want, k, np.abs(a).max() * np.abs(b).max(), dtype, f"matmul_{rung} {shape}")
    assert emulator.launches[-1][1] == f"matmul_{rung}{launch.suffix(dtype)}"


def test_blocked_matmul_takes_the_vector_path_and_the_scalar_path(emulator):
    """K and N multiples of 4 switch the float4 loads on; both paths must give the same product."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((130, 20)).astype(np.float32), rng.standard_normal((20, 36)).astype(np.float32)
    assert matmul._vector_loads(a, b) == (1,)
    assert matmul._vector_loads(a[:, :19], b[:19]) == (0,)
    with cuda_emulator.emulate(emulator=emulator):
        vector, scalar = matmul.matmul_blocked(a, b), matmul.matmul_blocked(a[:, :19].copy(), b[:19].copy())
    assert_close(vector, a.astype(np.float64) @ b, 20, 16, np.float32)
    assert_close(scalar, a[:, :19].astype(np.float64) @ b[:19], 19, 16, np.float32)


def test_matmul_empty_and_mixed_inputs(emulator):
    with cuda_emulator.emulate(emulator=emulator):
        assert (matmul.matmul_tiled(np.ones((3, 0), np.float32), np.ones((0, 4), np.float32)) == 0).all()
        assert matmul.matmul_blocked(np.ones((0, 3)), np.ones((3, 2))).shape == (0, 2)
        mixed = matmul.matmul_naive(np.ones((2, 3), np.float32), np.ones((3, 2), np.float64))
        assert mixed.dtype == np.float64 and (mixed == 3).all()
        with pytest.raises(ValueError, match=r"needs matrices \(M, K\) and \(K, N\), got \(2, 3\) and \(2, 3\)"):
            matmul.matmul_tiled(np.ones((2, 3)), np.ones((2, 3)))
        with pytest.raises(TypeError, match="float32 or float64"):
            matmul.matmul_tiled(np.ones((2, 3), np.float16), np.ones((3, 2), np.float16))


# ------------------------------------------------------------------ convolution
@st.composite
def conv_problems(draw):
    """(x_shape, w_shape, stride, padding): 1×1 to 5×5 filters, odd sizes, stride and padding; sometimes
    more than 64 filters or pixels, so that the implicit GEMM's 64-wide tiles end anywhere."""
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    o = draw(st.one_of(st.integers(1, 5), st.sampled_from([63, 65])))
    kh, kw = draw(st.sampled_from([1, 2, 3, 5])), draw(st.sampled_from([1, 2, 3, 5]))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, kh - 2 * ph), 11))
    w = draw(st.integers(max(1, kw - 2 * pw), 11))
    stride = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return (n, c, h, w), (o, c, kh, kw), stride, (ph, pw)


CONV_SETS = {"cupy_im2col": conv.im2col, "cupy_direct": conv.direct}


@pytest.mark.parametrize("impl", sorted(CONV_SETS))
@pytest.mark.parametrize("dtype", DTYPES)
@given(problem=conv_problems(), seed=st.integers(0, 2**16), with_bias=st.booleans())
def test_conv_kernels_match_reference(emulator, impl, dtype, problem, seed, with_bias):
    x_shape, w_shape, stride, padding = problem
    x, w = _random(x_shape, seed, dtype), _random(w_shape, seed + 1, dtype)
    bias = _random(w_shape[:1], seed + 2, dtype) if with_bias else None
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    y_want = reference.conv2d_forward(x64, w64, None if bias is None else bias.astype(np.float64), stride, padding)
    grad_y = _random(y_want.shape, seed + 3, dtype)
    gx_want = reference.conv2d_backward_input(grad_y.astype(np.float64), w64, x_shape, stride, padding)
    gw_want = reference.conv2d_backward_weight(grad_y.astype(np.float64), x64, w_shape, stride, padding)
    kernels = CONV_SETS[impl]
    with cuda_emulator.emulate(emulator=emulator):
        y = kernels.conv2d_forward(x, w, bias, stride, padding)
        gx = kernels.conv2d_backward_input(grad_y, w, x_shape, stride, padding)
        gw = kernels.conv2d_backward_weight(grad_y, x, w_shape, stride, padding)
    taps = w_shape[1] * w_shape[2] * w_shape[3]
    scale = np.abs(x).max() * np.abs(w).max() + (np.abs(bias).max() if with_bias else 0)
    assert_close(y, y_want, taps, scale, dtype, f"{impl} forward {problem}")
    assert_close(
        gx,
        gx_want,
        w_shape[0] * w_shape[2] * w_shape[3],
        np.abs(grad_y).max() * np.abs(w).max(),
        dtype,
        f"{impl} input gradient {problem}",
    )
    assert_close(
        gw,
        gw_want,
        grad_y.shape[0] * grad_y.shape[2] * grad_y.shape[3],
        np.abs(grad_y).max() * np.abs(x).max(),
        dtype,
        f"{impl} weight gradient {problem}",
    )
    assert y.dtype == gx.dtype == gw.dtype == dtype


def test_split_k_weight_gradient_covers_the_depth_exactly():
    for rows, columns, depth in [(64, 288, 512 * 169), (2, 3, 5), (1, 1, 1), (70, 700, 17), (32, 9, 16)]:
        splits, per_split = conv.plan_split_k(rows, columns, depth)
        bk = conv.tiles().GEMM_BK
        assert per_split % bk == 0 and splits * per_split >= depth > (splits - 1) * per_split
    assert conv.plan_split_k(64, 288, 512 * 169)[0] > 1  # the long depth is split


@pytest.mark.parametrize("impl", sorted(CONV_SETS))
def test_fused_conv_relu_maxpool_matches_the_reference(emulator, impl):
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((2, 3, 9, 9)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    options = dict(stride=(1, 1), padding=(1, 1), pool_kernel=(2, 2), pool_stride=(2, 2))
    y_want, arg_want = reference.conv2d_relu_maxpool2d_forward(x, w, b, **options)
    grad = rng.standard_normal(y_want.shape)
    want = reference.conv2d_relu_maxpool2d_backward(grad, y_want, arg_want, x, w, need_input_grad=True, **options)
    with cuda_emulator.emulate(emulator=emulator):
        y, argmax = CONV_SETS[impl].conv2d_relu_maxpool2d_forward(x, w, b, **options)
        got = CONV_SETS[impl].conv2d_relu_maxpool2d_backward(grad, y, argmax, x, w, need_input_grad=True, **options)
    np.testing.assert_allclose(y, y_want, atol=1e-12)
    np.testing.assert_array_equal(argmax, arg_want)
    for g, g_want in zip(got, want):
        np.testing.assert_allclose(g, g_want, atol=1e-11)


# ------------------------------------------------------------------ pooling
@st.composite
def pool_problems(draw):
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    h, w = draw(st.integers(kh, 13)), draw(st.integers(kw, 13))
    stride = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return (n, c, h, w), (kh, kw), stride


@pytest.mark.parametrize("dtype", DTYPES)
@given(problem=pool_problems(), seed=st.integers(0, 2**16), ties=st.booleans())
def test_pool_kernels_match_reference(emulator, dtype, problem, seed, ties):
    x_shape, kernel, stride = problem
    x = _random(x_shape, seed, dtype)
    if ties:  # few distinct values: the first maximum of a window must win, as on the CPU
        x = np.round(x).astype(dtype)
    y_want, arg_want = reference.maxpool2d_forward(x, kernel, stride)
    grad = _random(y_want.shape, seed + 1, dtype)
    gx_want = reference.maxpool2d_backward(grad, arg_want, x_shape, kernel, stride)
    with cuda_emulator.emulate(emulator=emulator):
        y, argmax = pool.maxpool2d_forward(x, kernel, stride)
        gx = pool.maxpool2d_backward(grad, argmax, x_shape, kernel, stride)
        avg = pool.avgpool2d_forward(x, kernel, stride)
        avg_grad = pool.avgpool2d_backward(grad, x_shape, kernel, stride)
    np.testing.assert_array_equal(y, y_want)
    np.testing.assert_array_equal(argmax, arg_want)
    assert argmax.dtype == np.int32
    window = kernel[0] * kernel[1]
    assert_close(gx, gx_want, window, np.abs(grad).max(), dtype, "max-pool backward")
    avg_want = (
        sum(
            x[
                :,
                :,
                i : i + stride[0] * (y.shape[2] - 1) + 1 : stride[0],
                j : j + stride[1] * (y.shape[3] - 1) + 1 : stride[1],
            ].astype(np.float64)
            for i in range(kernel[0])
            for j in range(kernel[1])
        )
        / window
    )
    assert_close(avg, avg_want, window, np.abs(x).max(), dtype, "avg-pool forward")
    avg_grad_want = np.zeros(x_shape)
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            avg_grad_want[
                :,
                :,
                i : i + stride[0] * (y.shape[2] - 1) + 1 : stride[0],
                j : j + stride[1] * (y.shape[3] - 1) + 1 : stride[1],
            ] += grad / window
    assert_close(avg_grad, avg_grad_want, window, np.abs(grad).max(), dtype, "avg-pool backward")


# ------------------------------------------------------------------ NaN and ±Inf, as in PyTorch (tests/test_conv.py)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_CASES, ids=[str(c[0]) for c in POOL_CASES])
def test_pool_kernel_lets_nan_win_as_torch_does(emulator, dtype, case):
    window, want_y, want_argmax = case
    x = np.array(window, dtype=dtype).reshape(1, 1, 2, 2)
    with cuda_emulator.emulate(emulator=emulator):
        y, argmax = pool.maxpool2d_forward(x, (2, 2), (2, 2))
        grad_x = pool.maxpool2d_backward(np.ones_like(y), argmax, x.shape, (2, 2), (2, 2))
    np.testing.assert_array_equal(y.ravel(), [want_y])
    assert int(argmax.ravel()[0]) == want_argmax
    np.testing.assert_array_equal(grad_x.ravel(), np.eye(4)[want_argmax])


@poisoned_arithmetic
@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data(), problem=pool_problems(), seed=st.integers(0, 2**16))
def test_pool_kernels_match_reference_on_poisoned_inputs(emulator, dtype, data, problem, seed):
    x_shape, kernel, stride = problem
    x = data.draw(poisoned(x_shape, seed, dtype), label="x")
    y_want, arg_want = reference.maxpool2d_forward(x, kernel, stride)
    grad = data.draw(poisoned(y_want.shape, seed + 1, dtype), label="grad_y")
    with cuda_emulator.emulate(emulator=emulator):
        y, argmax = pool.maxpool2d_forward(x, kernel, stride)
        gx = pool.maxpool2d_backward(grad, argmax, x_shape, kernel, stride)
        avg = pool.avgpool2d_forward(x, kernel, stride)
    np.testing.assert_array_equal(y, y_want)
    np.testing.assert_array_equal(argmax, arg_want)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else {}
    assert_same_numbers(gx, reference.maxpool2d_backward(grad, arg_want, x_shape, kernel, stride), **tol)
    views = [v.astype(np.float64) for _, v in numpy_pool.window_views(x, kernel, stride)]
    assert_same_numbers(avg, sum(views) / len(views), **tol)  # plain arithmetic: Inf - Inf = NaN


@st.composite
def small_fused_problems(draw):
    """(x_shape, w_shape, stride, padding, pool, pool_stride) small enough for the emulator."""
    n, c, o = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 1)), draw(st.integers(0, 1))
    h, w = draw(st.integers(max(1, kh - 2 * ph), 7)), draw(st.integers(max(1, kw - 2 * pw), 7))
    stride = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    conv_hw = [(n_ + 2 * p - k) // s + 1 for n_, p, k, s in zip((h, w), (ph, pw), (kh, kw), stride)]
    pool_size = draw(st.integers(1, min(3, *conv_hw)))
    return (n, c, h, w), (o, c, kh, kw), stride, (ph, pw), pool_size, draw(st.integers(1, 3))


@poisoned_arithmetic
@pytest.mark.parametrize("impl", sorted(CONV_SETS))
@given(data=st.data(), problem=small_fused_problems(), seed=st.integers(0, 2**16))
def test_conv_and_fused_kernels_match_reference_on_poisoned_inputs(emulator, impl, data, problem, seed):
    """conv2d and conv → ReLU → max-pool with NaN/±Inf in x (sometimes in w and b), float64."""
    x_shape, w_shape, stride, padding, pool_size, pool_stride = problem
    x = data.draw(poisoned(x_shape, seed), label="x")
    w = data.draw(poisoned(w_shape, seed + 1, max_poisons=1), label="w") if data.draw(st.booleans()) else None
    w = _random(w_shape, seed + 1, np.float64) if w is None else w
    b = data.draw(poisoned(w_shape[:1], seed + 2, max_poisons=1), label="b")
    options = dict(stride=stride, padding=padding, pool_kernel=(pool_size,) * 2, pool_stride=(pool_stride,) * 2)
    y_want, arg_want = reference.conv2d_relu_maxpool2d_forward(x, w, b, **options)
    grad = _random(y_want.shape, seed + 3, np.float64)
    want = reference.conv2d_relu_maxpool2d_backward(grad, y_want, arg_want, x, w, need_input_grad=True, **options)
    conv_want = reference.conv2d_forward(x, w, b, stride, padding)
    conv_grad = _random(conv_want.shape, seed + 4, np.float64)
    kernels = CONV_SETS[impl]
    with cuda_emulator.emulate(emulator=emulator):
        conv_y = kernels.conv2d_forward(x, w, b, stride, padding)
        conv_gx = kernels.conv2d_backward_input(conv_grad, w, x_shape, stride, padding)
        conv_gw = kernels.conv2d_backward_weight(conv_grad, x, w_shape, stride, padding)
        y, argmax = kernels.conv2d_relu_maxpool2d_forward(x, w, b, **options)
        got = kernels.conv2d_relu_maxpool2d_backward(grad, y, argmax, x, w, need_input_grad=True, **options)
    assert_same_numbers(conv_y, conv_want, what="conv2d forward")
    assert_same_numbers(conv_gx, reference.conv2d_backward_input(conv_grad, w, x_shape, stride, padding), what="∂x")
    assert_same_numbers(conv_gw, reference.conv2d_backward_weight(conv_grad, x, w_shape, stride, padding), what="∂w")
    assert_same_numbers(y, y_want, what="fused forward")
    np.testing.assert_array_equal(argmax, arg_want)
    for what, g, g_want in zip(("fused ∂x", "fused ∂w", "fused ∂b"), got, want):
        assert_same_numbers(g, g_want, what=what)


# ------------------------------------------------------------------ batch norm
@pytest.mark.parametrize("dtype", DTYPES)
@given(
    shape=st.one_of(
        st.tuples(st.integers(1, 5), st.integers(1, 4)),
        st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 9), st.integers(1, 9)),
    ),
    seed=st.integers(0, 2**16),
    need_x=st.booleans(),
)
def test_batchnorm_kernels_match_the_formulas(emulator, dtype, shape, seed, need_x):
    x = _random(shape, seed, dtype) * 3 + 1
    weight, bias = _random(shape[1:2], seed + 1, dtype), _random(shape[1:2], seed + 2, dtype)
    grad = _random(shape, seed + 3, dtype)
    want = numpy_norm.batchnorm_train_forward(
        x.astype(np.float64), weight.astype(np.float64), bias.astype(np.float64), 1e-5
    )
    back_want = numpy_norm.batchnorm_train_backward(
        grad.astype(np.float64), want[1], want[4], weight.astype(np.float64), True
    )
    with cuda_emulator.emulate(emulator=emulator):
        got = batchnorm.batchnorm_train_forward(x, weight, bias, 1e-5)
        back = batchnorm.batchnorm_train_backward(grad, got[1], got[4], weight, need_x)
    count = x.size // x.shape[1]
    # x̂ is O(1); 1/σ can be large when a channel has nearly equal values, so scale by it
    scale = max(1.0, float(np.abs(want[4]).max()))
    for name, g, w in zip(["y", "x_hat", "mean", "var", "inv_std"], got, want):
        assert_close(g, w, count, scale * max(1.0, float(np.abs(w).max())), dtype, f"batch norm {name} {shape}")
    assert (back[0] is None) == (not need_x)
    names = ["grad_x", "grad_weight", "grad_bias"]
    for name, g, w in zip(names, back, back_want):
        if g is not None:
            assert_close(
                g,
                w,
                count,
                scale * np.abs(grad).max() * max(1.0, float(np.abs(weight).max())),
                dtype,
                f"batch norm {name} {shape}",
            )


# ------------------------------------------------------------------ optimisers
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_fused_adam_kernel_gives_the_numpy_lines_numbers_bit_for_bit(emulator, dtype, weight_decay):
    import tinydl as td

    rng = np.random.default_rng(0)
    start = rng.standard_normal(1500).astype(dtype)
    grads = [rng.standard_normal(1500).astype(dtype) for _ in range(3)]
    readable = td.nn.Parameter(start.copy())
    optimizer = td.optim.Adam([readable], lr=1e-2, weight_decay=weight_decay, fused=False)
    param, m, v = start.copy(), np.zeros_like(start), np.zeros_like(start)
    for t, g in enumerate(grads, start=1):
        readable.grad = td.Tensor._from_array(g)
        optimizer.step()
        with cuda_emulator.emulate(emulator=emulator):
            optim.adam_step(param, g, m, v, t, 1e-2, (0.9, 0.999), 1e-8, weight_decay)
    np.testing.assert_array_equal(param, readable.data)
    np.testing.assert_array_equal(m, optimizer.state[readable]["exp_avg"])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "options",
    [dict(momentum=0.9), dict(momentum=0.9, nesterov=True, weight_decay=0.1), dict(momentum=0.5, dampening=0.3)],
)
def test_fused_sgd_kernel_gives_the_numpy_lines_numbers_bit_for_bit(emulator, dtype, options):
    import tinydl as td

    rng = np.random.default_rng(1)
    start = rng.standard_normal(700).astype(dtype)
    grads = [rng.standard_normal(700).astype(dtype) for _ in range(3)]
    readable = td.nn.Parameter(start.copy())
    optimizer = td.optim.SGD([readable], lr=0.05, **options)
    param, buffer = start.copy(), np.full_like(start, np.nan)  # the first step must write the whole buffer
    for step, g in enumerate(grads):
        readable.grad = td.Tensor._from_array(g)
        optimizer.step()
        with cuda_emulator.emulate(emulator=emulator):
            optim.sgd_step(
                param,
                g,
                buffer,
                0.05,
                options["momentum"],
                options.get("dampening", 0.0),
                options.get("weight_decay", 0.0),
                options.get("nesterov", False),
                step == 0,
            )
    np.testing.assert_array_equal(param, readable.data)
    np.testing.assert_array_equal(buffer, optimizer.state[readable]["momentum_buffer"])


def test_optimiser_grid_is_capped_and_grid_stride_covers_the_rest(emulator):
    blocks, threads = optim.plan(10**9)[0][0], optim.plan(10**9)[1][0]
    assert blocks == launch.constants("optim")["OPTIM_MAX_BLOCKS"] and threads == 256
    with pytest.MonkeyPatch.context() as patch:  # a tiny cap: three blocks must cover 2000 numbers
        patch.setattr(optim, "tiles", lambda family: types.SimpleNamespace(OPTIM_THREADS=64, OPTIM_MAX_BLOCKS=3))
        param, grad = np.zeros(2000, np.float32), np.ones(2000, np.float32)
        buffer = np.empty_like(param)
        with cuda_emulator.emulate(emulator=emulator) as emu:
            optim.sgd_step(param, grad, buffer, 0.5, 0.9, 0.0, 0.0, False, True)
        assert emu.launches[-1][2:] == ((3, 1, 1), (64, 1, 1))
    np.testing.assert_array_equal(param, -0.5)


# ------------------------------------------------------------------ the launchers and the emulator
def test_tile_edges_come_from_the_cuda_source():
    assert launch.constants("matmul")["BLOCKED_THREADS"] == (128 // 8) * (128 // 8)
    assert matmul.plan_blocked(129, 257) == ((3, 2, 1), (256, 1, 1))
    assert matmul.plan_tiled(17, 16) == ((1, 2, 1), (16, 16, 1))
    assert conv.plan_gemm(65, 10, 3) == ((1, 2, 3), (256, 1, 1))
    with pytest.raises(ValueError, match="no CUDA kernel family 'fft'"):
        launch.source_path("fft")


def test_emulator_refuses_arguments_cupy_would_pass_wrongly(emulator):
    a = np.ones((4, 4), np.float32)
    with cuda_emulator.emulate(emulator=emulator):
        with pytest.raises(
            cuda_emulator.EmulatedKernelError, match=r"parameter 'M' \(int\) needs a NumPy int32 scalar"
        ):
            launch.launch("matmul", "matmul_naive_f32", (1, 1, 1), (4, 4, 1), (a, a, a, 4, np.int32(4), np.int32(4)))
        with pytest.raises(
            cuda_emulator.EmulatedKernelError, match=r"parameter 'A' .* needs float32 data, got .*float64"
        ):
            launch.launch(
                "matmul",
                "matmul_naive_f32",
                (1, 1, 1),
                (4, 4, 1),
                (a.astype(np.float64), a, a, np.int32(4), np.int32(4), np.int32(4)),
            )
        with pytest.raises(cuda_emulator.EmulatedKernelError, match="C-contiguous"):
            launch.launch(
                "matmul",
                "matmul_naive_f32",
                (1, 1, 1),
                (4, 4, 1),
                (a.T[:, :2], a, a, np.int32(4), np.int32(4), np.int32(4)),
            )
        with pytest.raises(cuda_emulator.EmulatedKernelError, match="takes 6 arguments"):
            launch.launch("matmul", "matmul_naive_f32", (1, 1, 1), (4, 4, 1), (a, a, a))
        with pytest.raises(cuda_emulator.EmulatedKernelError, match="at most 1024"):
            launch.launch(
                "matmul", "matmul_naive_f32", (1, 1, 1), (64, 32, 1), (a, a, a, np.int32(4), np.int32(4), np.int32(4))
            )


# ------------------------------------------------------------------ the checks can fail
def _planted(family, pattern, replacement, count=1):
    text = launch.source_path(family).read_text()
    planted, n = re.subn(pattern, replacement, text, count=count)
    assert n == count, f"the pattern {pattern!r} was not found in {family}.cu"
    return planted


def test_a_missing_syncthreads_in_the_tiled_matmul_is_caught():
    """The first barrier of matmul_tiled removed: thread 0 reads tiles the others have not written yet."""
    bad = cuda_emulator.Emulator()
    bad.with_source("matmul", _planted("matmul", r"(Bs\[ty\]\[tx\] = [^;]*;\n)\s*__syncthreads\(\);", r"\1"))
    a, b = np.random.default_rng(0).standard_normal((40, 40)).astype(np.float32), np.ones((40, 40), np.float32)
    with cuda_emulator.emulate(emulator=bad):
        c = matmul.matmul_tiled(a, b)
    assert not np.allclose(c, a @ b, rtol=1e-3, atol=1e-3)


def test_a_missing_second_syncthreads_in_the_blocked_matmul_is_caught():
    """The barrier after the outer products removed: the next tile overwrites numbers still being read."""
    bad = cuda_emulator.Emulator()
    bad.with_source(
        "matmul",
        _planted("matmul", r"(acc\[i\]\[j\] \+= a_frag\[i\] \* b_frag\[j\];\n\s*\}\n)\s*__syncthreads\(\);", r"\1"),
    )
    a, b = np.random.default_rng(1).standard_normal((64, 40)).astype(np.float32), np.ones((40, 64), np.float32)
    with cuda_emulator.emulate(emulator=bad):
        c = matmul.matmul_blocked(a, b)
    assert not np.allclose(c, a @ b, rtol=1e-3, atol=1e-3)


def test_an_index_off_by_one_in_im2col_is_caught():
    bad = cuda_emulator.Emulator()
    bad.with_source(
        "conv", _planted("conv", r"q \* s\.sw - s\.pw \+ j\);\n    \}\n\}", "q * s.sw - s.pw + j + 1);\n    }\n}")
    )
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((1, 2, 6, 6)), rng.standard_normal((3, 2, 3, 3))
    with cuda_emulator.emulate(emulator=bad):
        y = conv.im2col.conv2d_forward(x, w, None, (1, 1), (1, 1))
    assert not np.allclose(y, reference.conv2d_forward(x, w, None, (1, 1), (1, 1)))


def test_an_unwritten_output_element_shows_as_nan():
    """The store of the last column skipped: the NaN-filled output gives it away."""
    bad = cuda_emulator.Emulator()
    bad.with_source(
        "matmul",
        _planted(
            "matmul",
            r"if \(row < M && col < N\) C\[row \* N \+ col\] = sum;",
            "if (row < M && col < N - 1) C[row * N + col] = sum;",
        ),
    )
    with cuda_emulator.emulate(emulator=bad):
        c = matmul.matmul_tiled(np.ones((5, 3), np.float32), np.ones((3, 7), np.float32))
    assert np.isnan(c[:, -1]).all() and not np.isnan(c[:, :-1]).any()


def test_a_write_past_the_end_of_an_array_is_caught():
    bad = cuda_emulator.Emulator()
    bad.with_source("pool", _planted("pool", r"y\[e\] = best;", "y[e + 1] = best;"))
    with cuda_emulator.emulate(emulator=bad):
        with pytest.raises(cuda_emulator.EmulatedKernelError, match=r"wrote outside the array passed as 'y'"):
            pool.maxpool2d_forward(np.ones((1, 1, 4, 4)), (2, 2), (2, 2))


def test_a_barrier_only_some_threads_reach_is_reported():
    """252 of 256 threads return before the first block_sum's barrier (undefined behaviour on a GPU)."""
    bad = cuda_emulator.Emulator()
    bad.with_source(
        "batchnorm",
        _planted(
            "batchnorm", r"const double mu = block_sum", "if (threadIdx.x > 3) return;\n    const double mu = block_sum"
        ),
    )
    x = np.ones((2, 3, 4, 4), np.float32)
    with cuda_emulator.emulate(emulator=bad):
        with pytest.raises(cuda_emulator.EmulatedKernelError, match=r"__syncthreads\(\) was reached by 4 of the 256"):
            batchnorm.batchnorm_train_forward(x, np.ones(3, np.float32), np.zeros(3, np.float32), 1e-5)


def test_a_race_is_reported_by_thread_sanitizer_with_os_threads(tmp_path):
    """The same planted barrier bug, with every CUDA thread an OS thread and -fsanitize=thread:
    ThreadSanitizer names the race on the shared-memory tile (run in a child process, which
    must load the sanitizer's runtime first)."""
    import os
    import subprocess
    import sys

    reason = cuda_emulator.unavailable_reason(threads=True)
    if reason:
        pytest.skip(reason)
    libtsan = subprocess.run(
        [cuda_emulator.compiler(), "-print-file-name=libtsan.so"], capture_output=True, text=True
    ).stdout.strip()
    if not os.path.isabs(libtsan) or not os.path.exists(libtsan):
        pytest.skip("no ThreadSanitizer runtime (libtsan.so) for this compiler")
    bad_source = _planted("matmul", r"(Bs\[ty\]\[tx\] = [^;]*;\n)\s*__syncthreads\(\);", r"\1")
    (tmp_path / "bad.cu").write_text(bad_source)
    script = (
        "import numpy as np, pathlib, sys\n"
        "from tinydl.testing import cuda_emulator\n"
        "from tinydl.kernels.cuda import matmul\n"
        f"emu = cuda_emulator.Emulator(threads=True, flags=('-fsanitize=thread',), cache_dir={str(tmp_path)!r})\n"
        "if sys.argv[1] == 'bad':\n"
        f"    emu.with_source('matmul', pathlib.Path({str(tmp_path / 'bad.cu')!r}).read_text())\n"
        "a = np.ones((16, 16), np.float32)\n"
        "with cuda_emulator.emulate(emulator=emu):\n"
        "    matmul.matmul_tiled(a, a)\n"
    )
    env = dict(os.environ, LD_PRELOAD=libtsan, TSAN_OPTIONS="exitcode=66 report_signal_unsafe=0")
    runs = {
        which: subprocess.run(
            [sys.executable, "-c", script, which], capture_output=True, text=True, env=env, timeout=300
        )
        for which in ("bad", "good")
    }
    bad_run = runs["bad"]
    if "data race" not in bad_run.stderr and bad_run.returncode != 66:
        pytest.skip(f"ThreadSanitizer did not run in this process (exit {bad_run.returncode}): {bad_run.stderr[-300:]}")
    assert "WARNING: ThreadSanitizer: data race" in bad_run.stderr and "matmul_tiled" in bad_run.stderr
    assert "data race" not in runs["good"].stderr, runs["good"].stderr[-2000:]


def test_every_kernel_of_every_family_was_launched_by_the_tests_above(emulator, request):
    """A new kernel without a parity test shows up here (runs last; needs the whole module)."""
    if request.config.option.keyword or request.config.option.markexpr not in ("", "not slow and not gpu"):
        pytest.skip("only meaningful when the whole module runs")
    launched = {(family, kernel) for family, kernel, _, _ in emulator.launches}
    missing = [
        (family, kernel)
        for family in launch.families()
        for kernel in cuda_emulator.kernel_signatures(launch.source_path(family).read_text())
        if (family, kernel) not in launched
    ]
    assert not missing, f"kernels no test launched: {missing}"
