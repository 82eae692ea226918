"""Numerical gradient checks for every differentiable op, activation and loss.

Each test draws shapes and values with hypothesis (``tinydl.testing.strategies``),
checks the forward result against a NumPy reference, then runs ``td.gradcheck``
(central differences in float64) on the backward pass. Values are kept away
from non-differentiable points (ReLU/abs at 0, ties in max/min, clip bounds):
there the derivative does not exist and a check would only test a convention
(the conventions are compared with PyTorch in ``test_ops_torch.py``).

Inputs are small (``SMALL`` elements at most): the numerical gradient costs two
forward passes per element.
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from op_checks import check

import tinydl as td
from tinydl.testing import strategies as tst

SMALL = 24  # elements per input
REDUCTIONS = ["mean", "sum", "none"]


def small_shapes(**kwargs):
    return tst.shapes(max_size=SMALL, **kwargs)


def broadcast_pair(**kwargs):
    return tst.broadcastable_shapes(2, max_size=12, **kwargs)


# ---------------------------------------------------------------- arithmetic
@pytest.mark.parametrize(
    "op, ref",
    [(td.Tensor.__add__, np.add), (td.Tensor.__sub__, np.subtract), (td.Tensor.__mul__, np.multiply)],
    ids=["add", "sub", "mul"],
)
@given(data=st.data())
def test_add_sub_mul_broadcast(op, ref, data):
    sa, sb = data.draw(broadcast_pair())
    a, b = data.draw(tst.float_arrays(sa)), data.draw(tst.float_arrays(sb))
    check(op, ref, a, b)


@given(data=st.data())
def test_div_broadcast(data):
    sa, sb = data.draw(broadcast_pair())
    a, b = data.draw(tst.float_arrays(sa)), data.draw(tst.nonzero_arrays(sb, margin=0.5))
    check(lambda x, y: x / y, np.divide, a, b)


@given(data=st.data())
def test_pow_tensor_tensor_positive_base(data):
    sa, sb = data.draw(broadcast_pair())
    a, b = data.draw(tst.positive_arrays(sa)), data.draw(tst.float_arrays(sb, -2.0, 2.0))
    check(lambda x, y: x**y, np.power, a, b)


@given(data=st.data(), exponent=st.sampled_from([2, 3, -1, 0.5, 1.5, -2.5]))
def test_pow_tensor_scalar(data, exponent):
    shape = data.draw(small_shapes())
    # Integer exponents work for any sign of the base; fractional ones need a > 0.
    base = tst.nonzero_arrays(shape, margin=0.3) if exponent in (2, 3, -1) else tst.positive_arrays(shape)
    check(lambda x: x**exponent, lambda x: x**exponent, data.draw(base))


@given(data=st.data(), base=st.sampled_from([2.0, 0.5, 3]))
def test_pow_scalar_tensor(data, base):
    x = data.draw(tst.float_arrays(small_shapes(), -2.0, 2.0))
    check(lambda t: base**t, lambda t: np.power(float(base), t), x)


@given(data=st.data())
def test_reflected_operators_with_python_numbers(data):
    x = data.draw(tst.nonzero_arrays(small_shapes(), margin=0.5))
    check(lambda t: 1.5 - t, lambda t: 1.5 - t, x)
    check(lambda t: 2.0 / t, lambda t: 2.0 / t, x)
    check(lambda t: 3 * t + 1, lambda t: 3 * t + 1, x)


@given(data=st.data())
def test_neg(data):
    check(lambda t: -t, np.negative, data.draw(tst.float_arrays(small_shapes())))


@given(data=st.data())
def test_matmul(data):
    sa, sb = data.draw(tst.matmul_shapes())
    a, b = data.draw(tst.float_arrays(sa)), data.draw(tst.float_arrays(sb))
    check(lambda x, y: x @ y, np.matmul, a, b)


def test_matmul_covers_vector_matrix_and_batched_cases():
    """The hypothesis test draws these at random; make sure each case runs at least once."""
    rng = np.random.default_rng(0)
    for sa, sb in [
        ((3,), (3,)),
        ((3,), (3, 2)),
        ((2, 3), (3,)),
        ((2, 3), (3, 4)),
        ((2, 1, 2, 3), (4, 3, 2)),
        ((3,), (2, 3, 4)),
        ((5, 2, 3), (3,)),
    ]:
        check(td.matmul, np.matmul, rng.standard_normal(sa), rng.standard_normal(sb))


# --------------------------------------------------------------- elementwise
@given(data=st.data())
def test_exp(data):
    check(td.exp, np.exp, data.draw(tst.float_arrays(small_shapes())))


@given(data=st.data())
def test_log(data):
    check(td.log, np.log, data.draw(tst.positive_arrays(small_shapes())))


@given(data=st.data())
def test_sqrt(data):
    check(td.sqrt, np.sqrt, data.draw(tst.positive_arrays(small_shapes())))


@given(data=st.data())
def test_abs_away_from_zero(data):
    check(td.abs, np.abs, data.draw(tst.nonzero_arrays(small_shapes())))


@given(data=st.data(), which=st.sampled_from(["both", "min", "max"]))
def test_clip_away_from_bounds(data, which):
    shape = data.draw(small_shapes())
    x, bounds = data.draw(tst.distinct_arrays(shape, (2,)))  # no element of x sits on a bound
    low, high = float(bounds.min()), float(bounds.max())
    low, high = (None if which == "max" else low), (None if which == "min" else high)
    check(lambda t: td.clip(t, low, high), lambda t: np.clip(t, low, high), x)


@given(data=st.data())
def test_where(data):
    sc, sa, sb = data.draw(tst.broadcastable_shapes(3, max_size=12))
    cond = data.draw(tst.boolean_masks(sc))
    a, b = data.draw(tst.float_arrays(sa)), data.draw(tst.float_arrays(sb))
    check(lambda x, y: td.where(cond, x, y), lambda x, y: np.where(cond, x, y), a, b)


@pytest.mark.parametrize("op, ref", [(td.maximum, np.maximum), (td.minimum, np.minimum)], ids=["maximum", "minimum"])
@given(data=st.data())
def test_maximum_minimum_without_ties(op, ref, data):
    sa, sb = data.draw(broadcast_pair())
    a, b = data.draw(tst.distinct_arrays(sa, sb))
    check(op, ref, a, b)


@given(data=st.data())
def test_astype_round_trip(data):
    x = data.draw(tst.float_arrays(small_shapes()))

    def fn(t):  # float64 -> float32 -> float64; the gradient is cast back at each step
        y = t.astype(td.float32)
        return (y * y).astype(td.float64)

    # float32 rounding (~1e-7 relative) needs a large step for the central difference;
    # the function is quadratic, so the step adds no truncation error.
    check(fn, lambda a: (a.astype(np.float32) ** 2).astype(np.float64), x, eps=1e-2)


# ---------------------------------------------------------------- reductions
@pytest.mark.parametrize("name", ["sum", "mean"])
@given(data=st.data())
def test_sum_mean(name, data):
    shape = data.draw(small_shapes())
    x = data.draw(tst.float_arrays(shape))
    axis, keepdims = data.draw(tst.reduce_args(len(shape)))
    np_axis = None if len(shape) == 0 else axis  # NumPy has no axis 0 on a 0-d array
    check(
        lambda t: getattr(td, name)(t, axis=axis, keepdims=keepdims),
        lambda a: getattr(np, name)(a, axis=np_axis, keepdims=keepdims),
        x,
    )


@pytest.mark.parametrize("name", ["max", "min"])
@given(data=st.data())
def test_max_min_without_ties(name, data):
    shape = data.draw(small_shapes())
    x = data.draw(tst.distinct_arrays(shape))
    axis, keepdims = data.draw(tst.reduce_args(len(shape)))
    np_axis = None if len(shape) == 0 else axis
    check(
        lambda t: getattr(t, name)(axis=axis, keepdims=keepdims),
        lambda a: getattr(np, name)(a, axis=np_axis, keepdims=keepdims),
        x,
    )


# --------------------------------------------------------------------- shape
@given(data=st.data())
def test_reshape(data):
    shape = data.draw(small_shapes())
    target = data.draw(tst.reshape_targets(shape))
    x = data.draw(tst.float_arrays(shape))
    check(lambda t: t.reshape(target), lambda a: a.reshape(target), x)
    check(lambda t: td.reshape(t, *target), lambda a: a.reshape(target), x)


@given(data=st.data())
def test_flatten(data):
    shape = data.draw(small_shapes(min_dims=1))
    start, end = data.draw(tst.flatten_axes(len(shape)))
    x = data.draw(tst.float_arrays(shape))
    s, e = start % len(shape), end % len(shape)
    expected_shape = shape[:s] + (math.prod(shape[s : e + 1]),) + shape[e + 1 :]
    check(lambda t: t.flatten(start, end), lambda a: a.reshape(expected_shape), x)


@given(data=st.data())
def test_transpose(data):
    shape = data.draw(small_shapes(min_dims=2))
    a0, a1 = data.draw(st.lists(st.integers(-len(shape), len(shape) - 1), min_size=2, max_size=2))
    x = data.draw(tst.float_arrays(shape))
    check(lambda t: t.transpose(a0, a1), lambda a: np.swapaxes(a, a0, a1), x)


@given(data=st.data())
def test_permute(data):
    shape = data.draw(small_shapes())
    perm = data.draw(tst.permutations(len(shape)))
    x = data.draw(tst.float_arrays(shape))
    check(lambda t: t.permute(*perm), lambda a: np.transpose(a, perm), x)
    check(lambda t: td.permute(t, perm), lambda a: np.transpose(a, perm), x)


@given(data=st.data())
def test_T(data):
    check(lambda t: t.T, lambda a: a.T, data.draw(tst.float_arrays(small_shapes())))


@given(data=st.data())
def test_getitem_basic(data):
    shape = data.draw(small_shapes(min_dims=1))
    index = data.draw(tst.basic_indices(shape))
    check(lambda t: t[index], lambda a: a[index], data.draw(tst.float_arrays(shape)))


@given(data=st.data())
def test_getitem_integer_array_with_repeats(data):
    shape = data.draw(small_shapes(min_dims=1))
    index, _ = data.draw(tst.integer_array_indices(shape))
    check(lambda t: t[index], lambda a: a[index], data.draw(tst.float_arrays(shape)))


def test_getitem_repeated_index_adds_gradients():
    x = td.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    x[np.array([0, 2, 0, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 0.0, 1.0])


@given(data=st.data())
def test_getitem_boolean_mask(data):
    shape = data.draw(small_shapes(min_dims=1))
    mask = data.draw(tst.boolean_masks(shape))
    x = data.draw(tst.float_arrays(shape))
    check(lambda t: t[mask], lambda a: a[mask], x)
    check(lambda t: t[td.tensor(mask)], lambda a: a[mask], x)  # a boolean Tensor as the mask


@given(data=st.data())
def test_concatenate(data):
    shape = data.draw(small_shapes(min_dims=1, max_dims=3))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    shapes = [shape[: axis % len(shape)] + (n,) + shape[axis % len(shape) + 1 :] for n in sizes]
    arrays = [data.draw(tst.float_arrays(s)) for s in shapes]
    check(lambda *ts: td.concatenate(ts, axis=axis), lambda *a: np.concatenate(a, axis=axis), *arrays)


@given(data=st.data())
def test_stack(data):
    shape = data.draw(small_shapes(max_dims=3))
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    k = data.draw(st.integers(1, 3))
    arrays = [data.draw(tst.float_arrays(shape)) for _ in range(k)]
    check(lambda *ts: td.stack(ts, axis=axis), lambda *a: np.stack(a, axis=axis), *arrays)


# ---------------------------------------------------------------- activations
def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


@given(data=st.data())
def test_relu_away_from_zero(data):
    check(td.relu, lambda a: np.maximum(a, 0), data.draw(tst.nonzero_arrays(small_shapes())))


@given(data=st.data())
def test_sigmoid(data):
    check(td.sigmoid, np_sigmoid, data.draw(tst.float_arrays(small_shapes(), -8.0, 8.0)))


@given(data=st.data())
def test_tanh(data):
    check(td.tanh, np.tanh, data.draw(tst.float_arrays(small_shapes(), -4.0, 4.0)))


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@given(data=st.data())
def test_softmax_log_softmax(name, data):
    shape = data.draw(small_shapes(min_dims=1))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = data.draw(tst.float_arrays(shape, -5.0, 5.0))
    ref = (lambda a: np.exp(np_log_softmax(a, axis))) if name == "softmax" else (lambda a: np_log_softmax(a, axis))
    check(lambda t: getattr(td, name)(t, axis=axis), ref, x)


# --------------------------------------------------------------------- losses
def reduce(losses, reduction, norm=None):
    if reduction == "none":
        return losses
    total = losses.sum()
    return total / (losses.size if norm is None else norm) if reduction == "mean" else total


@given(data=st.data(), reduction=st.sampled_from(REDUCTIONS))
def test_mse_loss(data, reduction):
    shape = data.draw(tst.shapes(max_size=12))
    p, t = data.draw(tst.float_arrays(shape)), data.draw(tst.float_arrays(shape))
    check(lambda a, b: td.mse_loss(a, b, reduction=reduction), lambda a, b: reduce((a - b) ** 2, reduction), p, t)


@st.composite
def ce_problem(draw):
    n, c = draw(st.integers(1, 4)), draw(st.integers(2, 5))
    logits = draw(tst.float_arrays((n, c), -4.0, 4.0))
    weight = draw(st.none() | tst.positive_arrays((c,), 0.1, 2.0))
    return logits, weight


@given(problem=ce_problem(), reduction=st.sampled_from(REDUCTIONS), data=st.data())
def test_cross_entropy_int_labels(problem, reduction, data):
    logits, weight = problem
    n, c = logits.shape
    labels = data.draw(tst.class_labels(n, c))
    w = np.ones(c) if weight is None else weight

    def ref(z):
        losses = -w[labels] * np_log_softmax(z, 1)[np.arange(n), labels]
        return reduce(losses, reduction, norm=w[labels].sum())  # 'mean' is the weighted mean

    check(lambda z: td.cross_entropy(z, labels, weight=weight, reduction=reduction), ref, logits)
    # integer labels may also be given as a Tensor; gradcheck passes integer inputs through unchecked
    td.gradcheck(lambda z, y: td.cross_entropy(z, y, weight=weight, reduction=reduction), logits, td.tensor(labels))


@given(problem=ce_problem(), reduction=st.sampled_from(REDUCTIONS), data=st.data())
def test_cross_entropy_soft_targets(problem, reduction, data):
    logits, weight = problem
    n, c = logits.shape
    target = data.draw(tst.probability_rows(n, c))
    w = np.ones(c) if weight is None else weight

    def ref(z):
        return reduce(-(w * target * np_log_softmax(z, 1)).sum(axis=1), reduction, norm=n)

    check(lambda z: td.cross_entropy(z, target, weight=weight, reduction=reduction), ref, logits)


@given(data=st.data(), reduction=st.sampled_from(REDUCTIONS), use_weight=st.booleans(), use_pos_weight=st.booleans())
def test_binary_cross_entropy_with_logits(data, reduction, use_weight, use_pos_weight):
    shape = data.draw(tst.shapes(min_dims=1, max_dims=3, max_size=12))
    x = data.draw(tst.float_arrays(shape, -6.0, 6.0))
    y = data.draw(tst.float_arrays(shape, 0.0, 1.0))
    weight = data.draw(tst.positive_arrays(shape, 0.1, 2.0)) if use_weight else None
    pos_weight = data.draw(tst.positive_arrays(shape[-1:], 0.1, 3.0)) if use_pos_weight else None

    def ref(z):
        p = 1.0 if pos_weight is None else pos_weight
        losses = -(p * y * np.log(np_sigmoid(z)) + (1 - y) * np.log(1 - np_sigmoid(z)))
        return reduce(losses * (1.0 if weight is None else weight), reduction)

    fn = lambda z: td.binary_cross_entropy_with_logits(z, y, weight=weight, pos_weight=pos_weight, reduction=reduction)  # noqa: E731
    out = fn(td.tensor(x))
    np.testing.assert_allclose(out.numpy(), ref(x), rtol=1e-9, atol=1e-12)  # log(1 - σ) loses digits; the op does not
    td.gradcheck(fn, x)


# ------------------------------------------------------------ composite graph
@given(data=st.data())
def test_small_mlp_graph(data):
    """Several ops chained, with a weight used twice: the gradients of a whole graph."""
    x = data.draw(tst.float_arrays((3, 4)))
    w1 = data.draw(tst.float_arrays((4, 5)))
    b1 = data.draw(tst.float_arrays((5,)))
    labels = data.draw(tst.class_labels(3, 5))

    def fn(w, b):
        h = td.tanh(td.tensor(x) @ w + b)
        return td.cross_entropy(h @ w.T @ w, labels) + (w * w).mean()

    td.gradcheck(fn, w1, b1)
