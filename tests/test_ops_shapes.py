"""Shape ops, reductions and PyTorch's axis order for mixed indexing: gradcheck and PyTorch cross-check.

Each differentiable op gets a float64 hypothesis gradcheck (``check``: forward
against NumPy, then central differences) and a PyTorch cross-check
(``compare``: values and gradients, float64 and float32). Non-differentiable
ops (``any``/``all``) are compared with torch on values and dtypes.
"""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from op_checks import DTYPES, check, compare

import tinydl as td
from tinydl.testing import strategies as tst

SMALL = 24


def small_shapes(**kwargs):
    return tst.shapes(max_size=SMALL, **kwargs)


def torch_axis(axis, ndim):
    """tinydl/NumPy's ``axis=None`` means every axis; torch spells that as the full tuple."""
    return tuple(range(ndim)) if axis is None else axis


def torch_index(torch, index):
    return tuple(torch.from_numpy(p) if isinstance(p, np.ndarray) else p for p in index)


# ------------------------------------------------- indexing: PyTorch's axis order
# Each mixes an int with an index array; the ones marked * order axes differently in NumPy and PyTorch.
MIXED_INDICES = [
    (slice(None), 0, [1, 2]),
    ([0, 1], slice(None), 0),
    (0, slice(None), [1, 2]),  # *
    (slice(None), [0, 1], slice(None), 0),  # *
    (0, [0, 1], slice(None), [1, 2]),
    (0, Ellipsis, [1, 2]),  # *
    (None, 0, slice(None), [1, 2]),  # *
    (0, None, [1, 2]),  # *
    (slice(None), 0, slice(None), np.array([[1, 2], [0, 1]])),  # *
    (0, slice(None), np.array([True, False, True, False])),  # *
    (0, slice(1, None), [1, 1, 2], slice(None, None, 2)),  # * repeats: gradients add
    (-1, np.array([[True, False, True, False]] * 3)),
    (slice(None), 0, [1, 2], 0),
    (0, slice(None), [1, 2], -1),  # *
]


def index_id(index):
    """A short test id: ``0,:,[1, 2]``."""

    def part(p):
        if isinstance(p, slice):
            return ":" if p == slice(None) else f"{p.start or ''}:{p.stop or ''}:{p.step or ''}"
        return "..." if p is Ellipsis else str(np.asarray(p).tolist()) if p is not None else "None"

    return ",".join(part(p) for p in index)


@pytest.mark.parametrize("index", MIXED_INDICES, ids=index_id)
def test_getitem_mixed_int_and_array_follows_torch_axis_order(torch, index):
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    index = tuple(np.asarray(p) if isinstance(p, list) else p for p in index)
    compare(torch, lambda t: t[index], lambda t: t[torch_index(torch, index)], x)


@st.composite
def mixed_indices(draw, shape):
    """An index with at least one int and one integer array (of one length), the rest slices."""
    length = draw(st.integers(1, 3))
    kinds = draw(st.lists(st.sampled_from(["int", "array", "slice"]), min_size=len(shape), max_size=len(shape)))
    kinds[0], kinds[-1] = draw(st.permutations(["int", "array"]))
    parts = []
    for kind, n in zip(kinds, shape):
        if kind == "int":
            parts.append(draw(st.integers(-n, n - 1)))
        elif kind == "array":
            parts.append(np.array(draw(st.lists(st.integers(-n, n - 1), min_size=length, max_size=length))))
        else:
            parts.append(slice(draw(st.none() | st.integers(0, n)), None, draw(st.sampled_from([1, 2]))))
    return tuple(parts)


@given(data=st.data())
def test_getitem_mixed_indices_gradcheck_and_torch(torch, data):
    shape = data.draw(tst.shapes(min_dims=2, max_dims=4, max_size=SMALL))
    index = data.draw(mixed_indices(shape))
    x = data.draw(tst.float_arrays(shape))

    def reference(a):
        return torch.from_numpy(a)[torch_index(torch, index)].numpy()

    check(lambda t: t[index], reference, x)
    compare(torch, lambda t: t[index], lambda t: t[torch_index(torch, index)], x)


# ------------------------------------------------------------------ squeeze & co
@given(data=st.data())
def test_squeeze(torch, data):
    shape = data.draw(tst.shapes(max_dims=4, max_side=3))
    axis = data.draw(st.none() | tst.axes(len(shape), allow_none=False)) if shape else None
    x = data.draw(tst.float_arrays(shape))
    ref_axis = tuple(a for a in np.atleast_1d(axis) if shape[a] == 1) if axis is not None else None
    check(lambda t: td.squeeze(t, axis), lambda a: np.squeeze(a, ref_axis), x)
    compare(torch, lambda t: t.squeeze(axis), lambda t: t.squeeze() if axis is None else t.squeeze(axis), x)


@given(data=st.data())
def test_unsqueeze(torch, data):
    shape = data.draw(small_shapes())
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    x = data.draw(tst.float_arrays(shape))
    check(lambda t: td.unsqueeze(t, axis), lambda a: np.expand_dims(a, axis), x)
    compare(torch, lambda t: t.unsqueeze(axis), lambda t: t.unsqueeze(axis), x)


@given(data=st.data())
def test_unflatten(torch, data):
    shape = data.draw(small_shapes(min_dims=1))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[axis]
    d = data.draw(st.sampled_from([k for k in range(1, n + 1) if n % k == 0]))
    sizes = data.draw(st.sampled_from([(d, n // d), (-1, n // d), (d, -1), (n,), (1, n, 1)]))
    x = data.draw(tst.float_arrays(shape))
    a = axis % len(shape)
    target = shape[:a] + tuple(n // d if s == -1 and i == 1 else d if s == -1 else s for i, s in enumerate(sizes))
    check(lambda t: td.unflatten(t, axis, sizes), lambda v: v.reshape(target + shape[a + 1 :]), x)
    compare(torch, lambda t: t.unflatten(axis, sizes), lambda t: t.unflatten(axis, sizes), x)


@st.composite
def expand_targets(draw, shape):
    """Sizes for ``expand``: axes of size 1 stretched (or -1), others kept (or -1), maybe new leading axes."""
    lead = draw(st.lists(st.integers(1, 3), max_size=2))
    rest = [draw(st.sampled_from([-1, 1, 2, 3])) if n == 1 else draw(st.sampled_from([-1, n])) for n in shape]
    return tuple(lead + rest)


@given(data=st.data())
def test_expand(torch, data):
    shape = data.draw(tst.shapes(max_dims=3, max_side=3))
    sizes = data.draw(expand_targets(shape))
    x = data.draw(tst.float_arrays(shape))
    lead = len(sizes) - len(shape)
    target = sizes[:lead] + tuple(n if s == -1 else s for s, n in zip(sizes[lead:], shape))
    check(lambda t: t.expand(*sizes), lambda a: np.broadcast_to(a, target), x)
    compare(torch, lambda t: t.expand(sizes), lambda t: t.expand(torch.Size(sizes)), x)


@given(data=st.data())
def test_flip(torch, data):
    shape = data.draw(small_shapes(min_dims=1))
    axes = tuple(data.draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, unique=True)))
    x = data.draw(tst.float_arrays(shape))
    check(lambda t: td.flip(t, axes), lambda a: np.flip(a, axes), x)
    compare(torch, lambda t: t.flip(*axes), lambda t: t.flip(axes), x)


@given(data=st.data())
def test_repeat_is_tile(torch, data):
    shape = data.draw(tst.shapes(max_dims=3, max_side=3))
    reps = tuple(data.draw(st.lists(st.integers(1, 3), min_size=len(shape), max_size=len(shape) + 2)))
    x = data.draw(tst.float_arrays(shape))
    check(lambda t: t.repeat(*reps), lambda a: np.tile(a, reps), x)
    compare(torch, lambda t: t.repeat(reps), lambda t: t.repeat(torch.Size(reps)), x)


def test_repeat_zero_times_and_bad_reps(torch):
    x = np.ones((2, 3))
    compare(torch, lambda t: t.repeat(0, 2), lambda t: t.repeat(0, 2), x)
    with pytest.raises(ValueError, match="repeat"):
        td.tensor(x).repeat(2)


@given(data=st.data())
def test_repeat_interleave(torch, data):
    shape = data.draw(tst.shapes(max_dims=3, max_side=3))
    repeats = data.draw(st.integers(0, 3))
    axis = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1)) if shape else None
    x = data.draw(tst.float_arrays(shape))
    if repeats:
        check(lambda t: td.repeat_interleave(t, repeats, axis), lambda a: np.repeat(a, repeats, axis), x)
    compare(torch, lambda t: t.repeat_interleave(repeats, axis), lambda t: t.repeat_interleave(repeats, axis), x)


def _weighted_cat(cat, pieces, axis):
    """Join the pieces back, each scaled by its own factor, so a gradient sent to the wrong piece shows."""
    return cat([p * (k + 1.0) for k, p in enumerate(pieces)], axis)


@given(data=st.data())
def test_split_and_chunk(torch, data):
    shape = data.draw(small_shapes(min_dims=1))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[axis]
    how = data.draw(st.sampled_from(["size", "sections", "chunk"]))
    if how == "size":
        arg = data.draw(st.integers(1, n + 1))
    elif how == "sections":
        cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=3)))
        arg = [b - a for a, b in zip([0] + cuts, cuts + [n])]
    else:
        arg = data.draw(st.integers(1, n + 1))
    x = data.draw(tst.float_arrays(shape))

    def ours(t):
        pieces = td.chunk(t, arg, axis) if how == "chunk" else td.split(t, arg, axis)
        return _weighted_cat(td.cat, pieces, axis)

    def theirs(t):
        pieces = torch.chunk(t, arg, axis) if how == "chunk" else torch.split(t, arg, axis)
        return _weighted_cat(torch.cat, pieces, axis)

    ours_shapes = [p.shape for p in (td.chunk if how == "chunk" else td.split)(td.tensor(x), arg, axis)]
    theirs_shapes = [
        tuple(p.shape) for p in (torch.chunk if how == "chunk" else torch.split)(torch.tensor(x), arg, axis)
    ]
    assert ours_shapes == theirs_shapes
    check(ours, lambda a: theirs(torch.from_numpy(a)).numpy(), x)
    compare(torch, ours, theirs, x)


def test_split_errors():
    x = td.zeros(4, 3)
    with pytest.raises(ValueError, match="split: sections"):
        td.split(x, [1, 2])
    with pytest.raises(ValueError, match="chunk"):
        td.chunk(x, 0)
    with pytest.raises(ValueError, match="unflatten"):
        td.unflatten(x, 0, (3, 2))
    with pytest.raises(ValueError, match="expand"):
        td.tensor(np.ones((2, 3))).expand(4, 3)
    with pytest.raises(ValueError, match="unsqueeze"):
        td.unsqueeze(x, 3)
    with pytest.raises(ValueError, match="flip: axis 2"):
        td.flip(x, 2)


@given(data=st.data())
def test_roll(torch, data):
    shape = data.draw(small_shapes(min_dims=1))
    axes = data.draw(st.none() | st.lists(st.integers(-len(shape), len(shape) - 1), min_size=1, max_size=3))
    shifts = data.draw(st.lists(st.integers(-7, 7), min_size=len(axes or [0]), max_size=len(axes or [0])))
    if axes is None:
        shifts = shifts[0]
    x = data.draw(tst.float_arrays(shape))
    dims = None if axes is None else tuple(axes)
    shift_arg = shifts if axes is None else tuple(shifts)
    check(lambda t: td.roll(t, shift_arg, dims), lambda a: np.roll(a, shift_arg, dims), x)
    compare(torch, lambda t: t.roll(shift_arg, dims), lambda t: torch.roll(t, shift_arg, dims), x)


@pytest.mark.parametrize("name", ["tril", "triu"])
@given(data=st.data())
def test_tril_triu(torch, name, data):
    shape = data.draw(small_shapes(min_dims=2, max_dims=3))
    diagonal = data.draw(st.integers(-4, 4))
    x = data.draw(tst.float_arrays(shape))
    check(lambda t: getattr(td, name)(t, diagonal), lambda a: getattr(np, name)(a, diagonal), x)
    compare(torch, lambda t: getattr(t, name)(diagonal), lambda t: getattr(t, name)(diagonal), x)


def test_tril_needs_a_matrix():
    with pytest.raises(ValueError, match="tril: needs at least 2 dimensions"):
        td.tril(td.zeros(3))


# ------------------------------------------------------------------ reductions
@pytest.mark.parametrize("name", ["var", "std"])
@given(data=st.data())
def test_var_std(torch, name, data):
    shape = data.draw(small_shapes(min_dims=1))
    axis, keepdims = data.draw(tst.reduce_args(len(shape)))
    n = int(np.prod([shape[a] for a in np.atleast_1d(torch_axis(axis, len(shape)))]))
    assume(name == "var" or n > 1)  # the std of one value is 0, where sqrt has no derivative
    spelling = data.draw(st.sampled_from(["default", "unbiased", "correction"] if n > 1 else ["correction"]))
    if spelling == "default":
        kwargs, c = {}, 1
    elif spelling == "unbiased":
        flag = data.draw(st.booleans())
        kwargs, c = {"unbiased": flag}, int(flag)
    else:
        c = data.draw(st.integers(0, max(n - 1, 0)))
        kwargs = {"correction": c}
    x = data.draw(tst.distinct_arrays(shape, gap=0.1))  # distinct values: std > 0, its gradient is finite
    ref_axis = torch_axis(axis, len(shape))

    def reference(a):
        v = a.var(axis=ref_axis, ddof=c, keepdims=keepdims)
        return np.sqrt(v) if name == "std" else v

    check(lambda t: getattr(t, name)(axis, keepdims=keepdims, **kwargs), reference, x)
    compare(
        torch,
        lambda t: getattr(td, name)(t, axis=axis, keepdims=keepdims, **kwargs),
        lambda t: getattr(torch, name)(t, dim=ref_axis, keepdim=keepdims, **kwargs),
        x,
    )


def test_var_argument_errors():
    with pytest.raises(ValueError, match="var: give unbiased or correction"):
        td.var(td.zeros(3), unbiased=True, correction=1)
    with pytest.raises(TypeError, match="std: unbiased"):
        td.std(td.zeros(3), unbiased=1)


@given(data=st.data())
def test_logsumexp(torch, data):
    shape = data.draw(small_shapes(min_dims=1))
    axis, keepdims = data.draw(tst.reduce_args(len(shape)))
    x = data.draw(tst.float_arrays(shape, -30.0, 30.0))
    ref_axis = torch_axis(axis, len(shape))

    def reference(a):
        m = a.max(axis=ref_axis, keepdims=True)
        out = np.log(np.exp(a - m).sum(axis=ref_axis, keepdims=True)) + m
        return out if keepdims else np.squeeze(out, ref_axis)

    check(lambda t: t.logsumexp(axis, keepdims), reference, x)
    compare(torch, lambda t: td.logsumexp(t, axis, keepdims), lambda t: torch.logsumexp(t, ref_axis, keepdims), x)


def test_logsumexp_is_stable():
    x = td.tensor(np.array([1000.0, 1000.0, -np.inf]), requires_grad=True)
    y = td.logsumexp(x, 0)
    y.backward()
    np.testing.assert_allclose(y.numpy(), 1000.0 + np.log(2.0))
    np.testing.assert_allclose(x.grad.numpy(), [0.5, 0.5, 0.0])


def torch_prod(torch, t, axis, keepdims):
    """torch.prod takes one dim: a tuple of axes is reduced one axis at a time."""
    if axis is None:
        out = torch.prod(t)
        return out.reshape((1,) * t.ndim) if keepdims else out
    for a in sorted((a % t.ndim for a in np.atleast_1d(axis)), reverse=True):
        t = torch.prod(t, a, keepdim=keepdims)
    return t


@given(data=st.data(), zeros=st.sampled_from([0, 1, 2, 3]))
def test_prod_with_and_without_zeros(torch, data, zeros):
    """With no zero, exactly one zero, or several zeros among the factors (torch is the oracle)."""
    shape = data.draw(small_shapes(min_dims=1))
    axis, keepdims = data.draw(tst.reduce_args(len(shape)))
    x = data.draw(tst.float_arrays(shape, -1.5, 1.5))
    flat = x.reshape(-1)
    k = min(zeros, flat.size)
    spots = data.draw(st.lists(st.integers(0, flat.size - 1), min_size=k, max_size=k, unique=True))
    flat[spots] = 0.0
    x = flat.reshape(shape)
    check(lambda t: t.prod(axis, keepdims), lambda a: a.prod(axis=axis, keepdims=keepdims), x)
    compare(torch, lambda t: td.prod(t, axis, keepdims), lambda t: torch_prod(torch, t, axis, keepdims), x)


def test_prod_gradient_with_one_zero_and_with_two():
    x = td.tensor(np.array([2.0, 0.0, 3.0]), requires_grad=True)
    x.prod().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 6.0, 0.0])  # only the zero's own gradient is non-zero
    x = td.tensor(np.array([2.0, 0.0, 0.0]), requires_grad=True)
    x.prod().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])


@given(data=st.data())
def test_cumsum(torch, data):
    shape = data.draw(small_shapes())
    axis = data.draw(st.integers(-max(len(shape), 1), max(len(shape), 1) - 1))
    x = data.draw(tst.float_arrays(shape))
    check(lambda t: t.cumsum(axis), lambda a: np.cumsum(a, axis) if a.ndim else a, x)
    compare(torch, lambda t: td.cumsum(t, axis), lambda t: torch.cumsum(t, axis), x)


def test_cumsum_of_integers_and_bad_axis(torch):
    ours = td.cumsum(td.tensor(np.array([True, False, True])), 0)
    theirs = torch.cumsum(torch.tensor([True, False, True]), 0)
    assert ours.dtype == np.int64 and ours.numpy().tolist() == theirs.tolist()
    with pytest.raises(TypeError, match="cumsum: axis"):
        td.cumsum(td.zeros(3), None)


@pytest.mark.parametrize("name", ["any", "all"])
@pytest.mark.parametrize("kind", ["bool", "float"])
@given(data=st.data())
def test_any_all_like_torch(torch, name, kind, data):
    """Not differentiable: bool tensors outside the graph, values and dtype as torch's."""
    shape = data.draw(small_shapes())
    axis, keepdims = data.draw(tst.reduce_args(len(shape)))
    x = data.draw(tst.boolean_masks(shape))
    x = x if kind == "bool" else x.astype(np.float64) * data.draw(tst.float_arrays(shape))
    ours = getattr(td.tensor(x, requires_grad=kind == "float"), name)(axis=axis, keepdims=keepdims)
    theirs = getattr(torch, name)(torch.tensor(x), dim=torch_axis(axis, x.ndim), keepdim=keepdims)
    assert ours.dtype == np.bool_ and theirs.dtype == torch.bool
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert not ours.requires_grad


def test_any_all_keep_working_in_if_statements():
    t = td.tensor([0.0, 2.0])
    assert t.any() and not t.all()
    assert bool((t == t).all())
    with pytest.raises(ValueError, match="ambiguous"):
        bool(t.any(axis=0, keepdims=True).expand(2))


@pytest.mark.parametrize("dtype", DTYPES)
def test_reductions_keep_float_dtype(dtype):
    x = td.tensor(np.arange(1.0, 7.0).reshape(2, 3).astype(dtype))
    for y in (x.var(1), x.std(), x.logsumexp(0), x.prod(1), x.cumsum(1)):
        assert y.dtype == np.dtype(dtype)
