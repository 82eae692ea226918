"""Hypothesis strategies for testing tinydl's ops (a MyGrad-style test factory).

Only the test-suite imports this module, so it imports ``hypothesis`` at the
top; ``tinydl.testing`` itself does not import it, so ``import tinydl`` works
without hypothesis installed.

Every array strategy draws float64 values (pass ``dtype=np.float32`` to get a
cast copy) that are finite and bounded, so that ``exp`` cannot overflow and the
numerical gradient stays accurate. Where an op has a kink — ReLU and ``abs`` at
0, ties in ``max``/``min``/``maximum``/``minimum``, the bounds of ``clip`` — the
strategies below keep values a margin *away* from it: a gradient check at a
non-differentiable point would test the convention, not the derivative.

Shapes have 0–4 axes of 1–5 elements (size-1 axes included, since they are the
ones broadcasting stretches); ``max_size`` caps the number of elements, because
a numerical gradient costs two forward passes per element.

    from hypothesis import given, strategies as st
    from tinydl.testing import strategies as tst

    @given(st.data())
    def test_exp(data):
        x = data.draw(tst.float_arrays(tst.shapes(max_size=24)))
        td.gradcheck(td.exp, x)
"""

import math
import operator

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

__all__ = [
    "shapes",
    "broadcastable_shapes",
    "matmul_shapes",
    "reshape_targets",
    "float_arrays",
    "nonzero_arrays",
    "positive_arrays",
    "distinct_arrays",
    "distinct_values",
    "axes",
    "reduce_args",
    "permutations",
    "flatten_axes",
    "basic_indices",
    "integer_array_indices",
    "boolean_masks",
    "class_labels",
    "probability_rows",
]


def _as_strategy(x):
    return x if isinstance(x, st.SearchStrategy) else st.just(x)


# ------------------------------------------------------------------- shapes
@st.composite
def shapes(draw, min_dims=0, max_dims=4, min_side=1, max_side=5, max_size=None):
    """A shape with ``min_dims..max_dims`` axes of ``min_side..max_side`` elements each.

    With ``max_size`` the later axes shrink so that the total number of
    elements stays ≤ max_size (given min_side = 1). Shrinks towards ``()``.
    """
    ndim = draw(st.integers(min_dims, max_dims))
    shape, size = [], 1
    for _ in range(ndim):
        hi = max_side if max_size is None else max(min_side, min(max_side, max_size // size))
        side = draw(st.integers(min_side, hi))
        shape.append(side)
        size *= side
    return tuple(shape)


@st.composite
def broadcastable_shapes(draw, n=2, min_dims=0, max_dims=4, max_side=5, max_size=None):
    """A tuple of ``n`` shapes that broadcast together (NumPy rules).

    Each is a common shape with some leading axes dropped (so ndims differ) and
    some remaining axes set to 1 (so they are stretched by broadcasting).
    """
    base = draw(shapes(min_dims, max_dims, 1, max_side, max_size))
    out = []
    for _ in range(n):
        kept = base[draw(st.integers(0, len(base))) :]
        ones = draw(st.lists(st.booleans(), min_size=len(kept), max_size=len(kept)))
        out.append(tuple(1 if one else side for one, side in zip(ones, kept)))
    return tuple(out)


@st.composite
def matmul_shapes(draw, max_side=4, max_batch_dims=2, vectors=True):
    """A pair of shapes valid for ``a @ b``: vector·vector, vector·matrix, matrix·vector,
    matrix·matrix, and batched (≥3-D) operands whose batch axes broadcast."""
    n, k, m = (draw(st.integers(1, max_side)) for _ in range(3))
    batch_a, batch_b = draw(broadcastable_shapes(2, 0, max_batch_dims, max_side=3))
    a_vec, b_vec = (draw(st.booleans()) if vectors else False for _ in range(2))
    a = (k,) if a_vec else batch_a + (n, k)
    b = (k,) if b_vec else batch_b + (k, m)
    return a, b


@st.composite
def reshape_targets(draw, shape):
    """A shape (possibly with one -1) holding the same number of elements as ``shape``."""
    size = math.prod(shape)
    candidates = [(size,), (-1,), tuple(reversed(shape)), (1,) + tuple(shape), tuple(shape) + (1,)]
    if len(shape) >= 2:
        candidates.append((shape[0] * shape[1],) + tuple(shape[2:]))
        candidates.append(tuple(shape[:-2]) + (-1,) + (shape[-1],))
    for d in range(1, size + 1):  # any 2-D factorisation
        if size % d == 0:
            candidates.append((d, size // d))
            candidates.append((d, -1))
    return draw(st.sampled_from(candidates))


# ------------------------------------------------------------------- values
def _arrays(shape, elements, dtype):
    arrays = hnp.arrays(np.float64, _as_strategy(shape), elements=elements)
    return arrays if np.dtype(dtype) == np.float64 else arrays.map(lambda a: a.astype(dtype))


def float_arrays(shape, low=-3.0, high=3.0, dtype=np.float64):
    """Arrays of ``shape`` (a tuple or a strategy) with finite values in [low, high]."""
    return _arrays(shape, st.floats(low, high, allow_nan=False, allow_infinity=False, allow_subnormal=False), dtype)


def nonzero_arrays(shape, margin=0.1, high=3.0, dtype=np.float64):
    """Values with margin ≤ |x| ≤ high, either sign: away from the kink of relu/abs and safe divisors."""
    magnitude = st.floats(margin, high, allow_subnormal=False)
    return _arrays(shape, st.one_of(magnitude, magnitude.map(operator.neg)), dtype)


def positive_arrays(shape, low=0.2, high=3.0, dtype=np.float64):
    """Values in [low, high] with low > 0: the domain of log and sqrt, and the base of x ** y."""
    return _arrays(shape, st.floats(low, high, allow_subnormal=False), dtype)


@st.composite
def distinct_values(draw, n, gap=0.05, high=3.0):
    """``n`` floats, pairwise at least ``gap`` apart, in about [-high, high] (random order).

    Drawn as distinct points of a grid of step 2·gap, each jittered by less
    than gap. Used to avoid ties in max/min and kinks of maximum/minimum/clip.
    """
    step = 2 * gap
    k = max(int(high / step), (n + 1) // 2)
    grid = draw(st.lists(st.integers(-k, k - 1), min_size=n, max_size=n, unique=True))
    jitter = draw(st.lists(st.floats(0, gap * 0.99, allow_subnormal=False), min_size=n, max_size=n))
    return np.array([i * step + j for i, j in zip(grid, jitter)], dtype=np.float64)


@st.composite
def distinct_arrays(draw, *shapes_, gap=0.05, high=3.0, dtype=np.float64):
    """Arrays of the given shapes whose elements — within and across arrays — are pairwise ≥ gap apart.

    One shape gives one array; several give a tuple, e.g. the two operands of
    ``maximum`` (no ties between them) or ``x`` and the bounds of ``clip``.
    """
    shapes_ = [draw(_as_strategy(s)) for s in shapes_]
    sizes = [math.prod(s) for s in shapes_]
    values = draw(distinct_values(sum(sizes), gap=gap, high=high))
    out, start = [], 0
    for s, size in zip(shapes_, sizes):
        out.append(values[start : start + size].reshape(s).astype(dtype))
        start += size
    return out[0] if len(out) == 1 else tuple(out)


# --------------------------------------------------------------------- axes
@st.composite
def axes(draw, ndim, allow_none=True, allow_tuple=True, allow_negative=True):
    """A valid ``axis`` argument for a tensor with ``ndim`` axes.

    None (every axis), one int in [-ndim, ndim), or a non-empty tuple of
    distinct axes (mixing signs). A 0-d tensor gets None, 0 or -1.
    """
    if ndim == 0:
        return draw(st.sampled_from(([None] if allow_none else []) + [0] + ([-1] if allow_negative else [])))
    single = st.integers(-ndim if allow_negative else 0, ndim - 1)
    options = [single]
    if allow_none:
        options.append(st.none())
    if allow_tuple:
        signs = st.booleans() if allow_negative else st.just(False)
        options.append(
            st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).flatmap(
                lambda ax: st.tuples(*[signs.map(lambda neg, a=a: a - ndim if neg else a) for a in ax])
            )
        )
    return draw(st.one_of(*options))


def reduce_args(ndim, **kwargs):
    """``(axis, keepdims)`` for a reduction over a tensor with ``ndim`` axes."""
    return st.tuples(axes(ndim, **kwargs), st.booleans())


@st.composite
def permutations(draw, ndim, allow_negative=True):
    """A permutation of ``range(ndim)``, some entries possibly written as negative axes."""
    perm = draw(st.permutations(list(range(ndim))))
    if not allow_negative:
        return tuple(perm)
    signs = draw(st.lists(st.booleans(), min_size=ndim, max_size=ndim))
    return tuple(a - ndim if neg else a for a, neg in zip(perm, signs))


@st.composite
def flatten_axes(draw, ndim):
    """``(start_axis, end_axis)`` with start ≤ end (after wrapping negatives), for ndim ≥ 1."""
    start = draw(st.integers(0, ndim - 1))
    end = draw(st.integers(start, ndim - 1))
    neg_start, neg_end = draw(st.booleans()), draw(st.booleans())
    return (start - ndim if neg_start else start), (end - ndim if neg_end else end)


# ----------------------------------------------------------------- indexing
@st.composite
def basic_indices(draw, shape, allow_negative_step=True, allow_newaxis=True):
    """A basic index for ``shape``: a tuple of ints (maybe negative), slices, ``None`` and ``...``.

    Each element is picked at most once (no integer arrays). PyTorch rejects
    negative slice steps, hence ``allow_negative_step``.
    """
    parts = []
    for n in shape:
        kind = draw(st.sampled_from(["int", "slice", "full"]))
        if kind == "int":
            parts.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            step = draw(st.sampled_from([1, 2, -1, -2] if allow_negative_step else [1, 2, 3]))
            start = draw(st.none() | st.integers(-n, n))
            stop = draw(st.none() | st.integers(-n, n))
            parts.append(slice(start, stop, step))
        else:
            parts.append(slice(None))
    if draw(st.booleans()):  # ``...`` stands for full slices of all the remaining axes
        parts = parts[: draw(st.integers(0, len(parts)))] + [Ellipsis]
    if allow_newaxis and draw(st.booleans()):
        parts.insert(draw(st.integers(0, len(parts))), None)
    return tuple(parts)


@st.composite
def integer_array_indices(draw, shape):
    """``(index, axis)``: an integer array (repeats likely, negatives allowed) selecting along one axis.

    ``index`` is a tuple of full slices up to ``axis`` followed by the array, so
    ``x[index]`` picks elements of axis ``axis``, some of them several times.
    """
    axis = draw(st.integers(0, len(shape) - 1))
    n = shape[axis]
    length = draw(st.integers(1, 2 * n + 1))  # longer than n forces repeats
    idx = np.array(draw(st.lists(st.integers(-n, n - 1), min_size=length, max_size=length)), dtype=np.int64)
    return (slice(None),) * axis + (idx,), axis


def boolean_masks(shape):
    """A boolean array of ``shape`` (may select nothing, or everything)."""
    return hnp.arrays(np.bool_, _as_strategy(shape))


# ------------------------------------------------------------------- labels
def class_labels(n, classes):
    """``n`` integer class labels in [0, classes), as int64."""
    return hnp.arrays(np.int64, (n,), elements=st.integers(0, classes - 1))


def probability_rows(n, classes):
    """An (n, classes) float64 array of soft targets: positive rows that sum to 1."""
    return positive_arrays((n, classes), low=0.05, high=1.0).map(lambda p: p / p.sum(axis=1, keepdims=True))
