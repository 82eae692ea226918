"""Cross-check every differentiable op against PyTorch: forward values and gradients.

For each op, hypothesis draws shapes and values; :func:`compare` runs the same
function in tinydl and in torch on the same inputs, in float64 and in float32,
back-propagates the same upstream gradient through both, and requires

    relative error = max|tinydl − torch| / max(max|torch|, 1)   <  1e-10 (float64), 1e-5 (float32)

for the output and for the gradient of every input, and that dtypes are
preserved. This is the relative error in the max norm, measured against a
scale of at least 1 — the size of the inputs and upstream gradients, hence of
the terms that can cancel. Without that floor, cancellation makes even
PyTorch's own float32 results disagree with float64 by far more than 1e-5:
tanh'(4) = 1 − y² with y = 0.99933 loses four digits, as does the
cross-entropy gradient p − 1 of a confident prediction (PyTorch's testing
defaults add an absolute tolerance for the same reason).

Where an op has a kink (ReLU and abs at 0, ties in max/min/maximum/minimum,
clip bounds) the gradient is a convention, and ``test_*_convention`` tests
check that tinydl's convention is PyTorch's. Every test takes the ``torch``
fixture from conftest, so the whole file skips where torch is not installed.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from op_checks import DTYPES, compare

import tinydl as td
from tinydl.testing import strategies as tst

REDUCTIONS = ["mean", "sum", "none"]


def np_dtype(t):
    """The NumPy dtype of a torch tensor (to make its non-differentiable companions match)."""
    return t.detach().numpy().dtype


def torch_axis(axis, ndim):
    """tinydl/NumPy's ``axis=None`` means every axis; torch spells that as the full tuple."""
    return tuple(range(ndim)) if axis is None else axis


def small_shapes(**kwargs):
    return tst.shapes(max_size=60, **kwargs)


def broadcast_pair():
    return tst.broadcastable_shapes(2, max_size=40)


# ---------------------------------------------------------------- arithmetic
@pytest.mark.parametrize("name", ["add", "sub", "mul"])
@given(data=st.data())
def test_add_sub_mul(torch, name, data):
    sa, sb = data.draw(broadcast_pair())
    a, b = data.draw(tst.float_arrays(sa)), data.draw(tst.float_arrays(sb))
    compare(torch, getattr(td.Tensor, f"__{name}__"), getattr(torch.Tensor, f"__{name}__"), a, b)


@given(data=st.data())
def test_div(torch, data):
    sa, sb = data.draw(broadcast_pair())
    a, b = data.draw(tst.float_arrays(sa)), data.draw(tst.nonzero_arrays(sb, margin=0.5))
    compare(torch, lambda x, y: x / y, lambda x, y: x / y, a, b)


@given(data=st.data())
def test_pow_tensor_tensor(torch, data):
    sa, sb = data.draw(broadcast_pair())
    a, b = data.draw(tst.positive_arrays(sa)), data.draw(tst.float_arrays(sb, -2.0, 2.0))
    compare(torch, lambda x, y: x**y, lambda x, y: x**y, a, b)


@given(data=st.data(), exponent=st.sampled_from([2, 3, -1, 0.5, -2.5]))
def test_pow_tensor_scalar(torch, data, exponent):
    shape = data.draw(small_shapes())
    base = tst.nonzero_arrays(shape, margin=0.3) if exponent in (2, 3, -1) else tst.positive_arrays(shape)
    compare(torch, lambda x: x**exponent, lambda x: x**exponent, data.draw(base))


@given(data=st.data())
def test_reflected_operators(torch, data):
    x = data.draw(tst.nonzero_arrays(small_shapes(), margin=0.5))
    fn = lambda t: (1.5 - t) * (2.0 / t) + 2.0**t  # noqa: E731  (Python numbers on the left)
    compare(torch, fn, fn, x)


@given(data=st.data())
def test_neg(torch, data):
    compare(torch, lambda t: -t, lambda t: -t, data.draw(tst.float_arrays(small_shapes())))


@given(data=st.data())
def test_matmul(torch, data):
    sa, sb = data.draw(tst.matmul_shapes(max_side=5))
    a, b = data.draw(tst.float_arrays(sa)), data.draw(tst.float_arrays(sb))
    compare(torch, td.matmul, torch.matmul, a, b)


# --------------------------------------------------------------- elementwise
@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "abs"])
@given(data=st.data())
def test_unary(torch, name, data):
    shape = data.draw(small_shapes())
    values = {
        "exp": tst.float_arrays(shape, -5.0, 5.0),
        "log": tst.positive_arrays(shape, 0.05, 10.0),
        "sqrt": tst.positive_arrays(shape, 0.05, 10.0),
        "abs": tst.nonzero_arrays(shape),
    }[name]
    compare(torch, getattr(td, name), getattr(torch, name), data.draw(values))


@given(data=st.data(), which=st.sampled_from(["both", "min", "max"]))
def test_clip(torch, data, which):
    x, bounds = data.draw(tst.distinct_arrays(small_shapes(), (2,)))
    low = None if which == "max" else float(bounds.min())
    high = None if which == "min" else float(bounds.max())
    compare(torch, lambda t: t.clip(low, high), lambda t: torch.clamp(t, low, high), x)


@given(data=st.data())
def test_where(torch, data):
    sc, sa, sb = data.draw(tst.broadcastable_shapes(3, max_size=40))
    cond = data.draw(tst.boolean_masks(sc))
    a, b = data.draw(tst.float_arrays(sa)), data.draw(tst.float_arrays(sb))
    compare(torch, lambda x, y: td.where(cond, x, y), lambda x, y: torch.where(torch.from_numpy(cond), x, y), a, b)


@pytest.mark.parametrize("name", ["maximum", "minimum"])
@given(data=st.data())
def test_maximum_minimum(torch, name, data):
    sa, sb = data.draw(broadcast_pair())
    a, b = data.draw(tst.distinct_arrays(sa, sb))
    compare(torch, getattr(td, name), getattr(torch, name), a, b)


@given(data=st.data())
def test_astype(torch, data):
    x = data.draw(tst.float_arrays(small_shapes()))

    def ours(t):
        other = td.float32 if t.dtype == td.float64 else td.float64
        y = t.astype(other)
        return (y * y).astype(t.dtype)

    def theirs(t):
        other = torch.float32 if t.dtype == torch.float64 else torch.float64
        y = t.to(other)
        return (y * y).to(t.dtype)

    compare(torch, ours, theirs, x)


# ---------------------------------------------------------------- reductions
@pytest.mark.parametrize("name", ["sum", "mean"])
@given(data=st.data())
def test_sum_mean(torch, name, data):
    shape = data.draw(small_shapes())
    axis, keepdims = data.draw(tst.reduce_args(len(shape)))
    compare(
        torch,
        lambda t: getattr(t, name)(axis=axis, keepdims=keepdims),
        lambda t: getattr(torch, name)(t, dim=torch_axis(axis, t.ndim), keepdim=keepdims),
        data.draw(tst.float_arrays(shape)),
    )


@pytest.mark.parametrize("name, torch_name", [("max", "amax"), ("min", "amin")])
@given(data=st.data())
def test_max_min(torch, name, torch_name, data):
    shape = data.draw(small_shapes())
    axis, keepdims = data.draw(tst.reduce_args(len(shape)))
    compare(
        torch,
        lambda t: getattr(t, name)(axis=axis, keepdims=keepdims),
        lambda t: getattr(torch, torch_name)(t, dim=torch_axis(axis, t.ndim), keepdim=keepdims),
        data.draw(tst.distinct_arrays(shape)),
    )


# --------------------------------------------------------------------- shape
@given(data=st.data())
def test_reshape(torch, data):
    shape = data.draw(small_shapes())
    target = data.draw(tst.reshape_targets(shape))
    compare(torch, lambda t: t.reshape(target), lambda t: t.reshape(target), data.draw(tst.float_arrays(shape)))


@given(data=st.data())
def test_flatten(torch, data):
    shape = data.draw(small_shapes(min_dims=1))
    start, end = data.draw(tst.flatten_axes(len(shape)))
    compare(
        torch,
        lambda t: t.flatten(start, end),
        lambda t: torch.flatten(t, start, end),
        data.draw(tst.float_arrays(shape)),
    )


@given(data=st.data())
def test_transpose(torch, data):
    shape = data.draw(small_shapes(min_dims=2))
    a0, a1 = data.draw(st.lists(st.integers(-len(shape), len(shape) - 1), min_size=2, max_size=2))
    compare(torch, lambda t: t.transpose(a0, a1), lambda t: t.transpose(a0, a1), data.draw(tst.float_arrays(shape)))


@given(data=st.data())
def test_permute_and_T(torch, data):
    shape = data.draw(small_shapes())
    perm = data.draw(tst.permutations(len(shape)))
    x = data.draw(tst.float_arrays(shape))
    compare(torch, lambda t: t.permute(*perm), lambda t: t.permute(perm), x)
    # torch's .T is deprecated beyond 2-D; it means all axes reversed, as tinydl's does
    compare(torch, lambda t: t.T, lambda t: t.permute(tuple(reversed(range(t.ndim)))), x)


def to_torch_index(torch, index):
    parts = index if isinstance(index, tuple) else (index,)
    return tuple(torch.from_numpy(p) if isinstance(p, np.ndarray) else p for p in parts)


@given(data=st.data())
def test_getitem_basic(torch, data):
    shape = data.draw(small_shapes(min_dims=1))
    index = data.draw(tst.basic_indices(shape, allow_negative_step=False))  # torch has no negative steps
    compare(torch, lambda t: t[index], lambda t: t[index], data.draw(tst.float_arrays(shape)))


@given(data=st.data())
def test_getitem_integer_array_with_repeats(torch, data):
    shape = data.draw(small_shapes(min_dims=1))
    index, _ = data.draw(tst.integer_array_indices(shape))
    compare(torch, lambda t: t[index], lambda t: t[to_torch_index(torch, index)], data.draw(tst.float_arrays(shape)))


@given(data=st.data())
def test_getitem_boolean_mask(torch, data):
    shape = data.draw(small_shapes(min_dims=1))
    mask = data.draw(tst.boolean_masks(shape))
    compare(torch, lambda t: t[mask], lambda t: t[torch.from_numpy(mask)], data.draw(tst.float_arrays(shape)))


@given(data=st.data())
def test_concatenate(torch, data):
    shape = data.draw(small_shapes(min_dims=1, max_dims=3))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    ax = axis % len(shape)
    arrays = [data.draw(tst.float_arrays(shape[:ax] + (n,) + shape[ax + 1 :])) for n in sizes]
    compare(torch, lambda *ts: td.concatenate(ts, axis=axis), lambda *ts: torch.cat(ts, dim=axis), *arrays)


@given(data=st.data())
def test_stack(torch, data):
    shape = data.draw(small_shapes(max_dims=3))
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    arrays = [data.draw(tst.float_arrays(shape)) for _ in range(data.draw(st.integers(1, 3)))]
    compare(torch, lambda *ts: td.stack(ts, axis=axis), lambda *ts: torch.stack(ts, dim=axis), *arrays)


# ---------------------------------------------------------------- activations
@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
@given(data=st.data())
def test_pointwise_activations(torch, name, data):
    shape = data.draw(small_shapes())
    x = data.draw(tst.nonzero_arrays(shape, high=8.0) if name == "relu" else tst.float_arrays(shape, -8.0, 8.0))
    compare(torch, getattr(td, name), getattr(torch, name), x)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@given(data=st.data())
def test_softmax_log_softmax(torch, name, data):
    shape = data.draw(small_shapes(min_dims=1))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = data.draw(tst.float_arrays(shape, -10.0, 10.0))
    compare(torch, lambda t: getattr(td, name)(t, axis=axis), lambda t: getattr(torch, name)(t, dim=axis), x)


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "sigmoid", "tanh"])
@given(data=st.data())
def test_activations_stable_at_1e4(torch, name, data):
    """Inputs of ±1e4 (exp would overflow): no nan or inf, and the same values and gradients as torch."""
    shape = data.draw(tst.shapes(min_dims=1, max_dims=2, max_size=20))
    x = data.draw(tst.distinct_arrays(shape, gap=0.5, high=3.0)) * 1e4 / 3.0  # values spread over ±1e4
    if name in ("softmax", "log_softmax"):
        compare(torch, lambda t: getattr(td, name)(t, axis=-1), lambda t: getattr(torch, name)(t, dim=-1), x)
    else:
        compare(torch, getattr(td, name), getattr(torch, name), x)
    for dtype in DTYPES:
        out = getattr(td, name)(td.tensor(x.astype(dtype)))
        assert np.all(np.isfinite(out.numpy()))


# --------------------------------------------------------------------- losses
@given(data=st.data(), reduction=st.sampled_from(REDUCTIONS))
def test_mse_loss(torch, data, reduction):
    shape = data.draw(small_shapes())
    p, t = data.draw(tst.float_arrays(shape)), data.draw(tst.float_arrays(shape))
    compare(
        torch,
        lambda a, b: td.mse_loss(a, b, reduction=reduction),
        lambda a, b: torch.nn.functional.mse_loss(a, b, reduction=reduction),
        p,
        t,
    )


@st.composite
def ce_problem(draw, soft):
    n, c = draw(st.integers(1, 6)), draw(st.integers(2, 6))
    logits = draw(tst.float_arrays((n, c), -6.0, 6.0))
    weight = draw(st.none() | tst.positive_arrays((c,), 0.1, 2.0))
    target = draw(tst.probability_rows(n, c) if soft else tst.class_labels(n, c))
    return logits, target, weight


@pytest.mark.parametrize("soft", [False, True], ids=["int_labels", "soft_targets"])
@given(data=st.data(), reduction=st.sampled_from(REDUCTIONS))
def test_cross_entropy(torch, soft, data, reduction):
    logits, target, weight = data.draw(ce_problem(soft))

    def theirs(z):
        y = torch.from_numpy(target.astype(np.int64) if not soft else target.astype(np_dtype(z)))
        w = None if weight is None else torch.from_numpy(weight.astype(np_dtype(z)))
        return torch.nn.functional.cross_entropy(z, y, weight=w, reduction=reduction)

    def ours(z):
        y = target if not soft else target.astype(z.dtype)
        return td.cross_entropy(z, y, weight=weight, reduction=reduction)

    compare(torch, ours, theirs, logits)


@given(data=st.data(), reduction=st.sampled_from(REDUCTIONS), use_weight=st.booleans(), use_pos_weight=st.booleans())
def test_binary_cross_entropy_with_logits(torch, data, reduction, use_weight, use_pos_weight):
    shape = data.draw(tst.shapes(min_dims=1, max_dims=3, max_size=40))
    x = data.draw(tst.float_arrays(shape, -8.0, 8.0))
    y = data.draw(tst.float_arrays(shape, 0.0, 1.0))
    weight = data.draw(tst.positive_arrays(shape, 0.1, 2.0)) if use_weight else None
    pos_weight = data.draw(tst.positive_arrays(shape[-1:], 0.1, 3.0)) if use_pos_weight else None

    def theirs(z):
        dt = np_dtype(z)
        as_t = lambda a: None if a is None else torch.from_numpy(a.astype(dt))  # noqa: E731
        return torch.nn.functional.binary_cross_entropy_with_logits(
            z, as_t(y), weight=as_t(weight), pos_weight=as_t(pos_weight), reduction=reduction
        )

    compare(
        torch,
        lambda z: td.binary_cross_entropy_with_logits(z, y, weight=weight, pos_weight=pos_weight, reduction=reduction),
        theirs,
        x,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_losses_stable_at_1e4(torch, reduction):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3]])
    labels = np.array([1, 0])
    compare(
        torch,
        lambda z: td.cross_entropy(z, labels, reduction=reduction),
        lambda z: torch.nn.functional.cross_entropy(z, torch.from_numpy(labels), reduction=reduction),
        x,
    )
    y = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.25]])
    compare(
        torch,
        lambda z: td.binary_cross_entropy_with_logits(z, y, reduction=reduction),
        lambda z: torch.nn.functional.binary_cross_entropy_with_logits(
            z, torch.from_numpy(y.astype(np_dtype(z))), reduction=reduction
        ),
        x,
    )


# ------------------------------------------------ conventions at the kinks
def test_relu_and_abs_at_zero_convention(torch):
    x = np.array([-1.0, 0.0, 0.0, 2.0])
    compare(torch, td.relu, torch.relu, x)
    compare(torch, td.abs, torch.abs, x)


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_relu_propagates_nan_and_inf_as_torch(torch, dtype, data):
    """relu(NaN) = NaN and its gradient passes; where y <= 0 the gradient is 0 even if ∂L/∂y is NaN or ±Inf."""
    special = st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.5, -1.5])
    x = data.draw(st.lists(special, min_size=1, max_size=12), label="x")
    grad = data.draw(st.lists(special, min_size=len(x), max_size=len(x)), label="upstream gradient")
    x, grad = np.array(x, dtype=dtype), np.array(grad, dtype=dtype)
    xt, xtt = td.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yt = td.relu(xt), torch.relu(xtt)
    y.backward(grad)
    yt.backward(torch.tensor(grad))
    np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())
    np.testing.assert_array_equal(xt.grad.numpy(), xtt.grad.numpy())
    assert xt.grad.dtype == dtype


def test_clip_at_bounds_convention(torch):
    x = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    compare(torch, lambda t: t.clip(-1.0, 1.0), lambda t: torch.clamp(t, -1.0, 1.0), x)


@pytest.mark.parametrize("name, torch_name", [("max", "amax"), ("min", "amin")])
@given(data=st.data())
def test_max_min_ties_split_equally_like_amax(torch, name, torch_name, data):
    """Values from {-1, 0, 1} tie often: the gradient is shared equally among the tied elements."""
    shape = data.draw(tst.shapes(min_dims=1, max_size=40))
    x = data.draw(tst.float_arrays(shape, -1.0, 1.0)).round()
    axis, keepdims = data.draw(tst.reduce_args(len(shape)))
    compare(
        torch,
        lambda t: getattr(t, name)(axis=axis, keepdims=keepdims),
        lambda t: getattr(torch, torch_name)(t, dim=torch_axis(axis, t.ndim), keepdim=keepdims),
        x,
    )


@pytest.mark.parametrize("name", ["maximum", "minimum"])
@given(data=st.data())
def test_maximum_minimum_ties_convention(torch, name, data):
    sa, sb = data.draw(broadcast_pair())
    a = data.draw(tst.float_arrays(sa, -1.0, 1.0)).round()
    b = data.draw(tst.float_arrays(sb, -1.0, 1.0)).round()
    compare(torch, getattr(td, name), getattr(torch, name), a, b)
