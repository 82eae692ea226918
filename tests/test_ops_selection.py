"""Selection ops: argmax/argmin, gather, masked_fill, sort/argsort/topk, nonzero.

Values picked by an index (gather, masked_fill, the values of sort/topk) get a
float64 hypothesis gradcheck and a PyTorch cross-check of values and gradients
(``check``/``compare`` from op_checks). Indices are not differentiable: they
are compared with torch on values, shape and dtype (int64), and must be
outside the graph.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from op_checks import check, compare

import tinydl as td
from tinydl.testing import strategies as tst

SMALL = 24


def small_shapes(**kwargs):
    return tst.shapes(max_size=SMALL, **kwargs)


def assert_indices_match(ours, theirs):
    """Non-differentiable int64 results: same shape, dtype and values as torch, and no graph."""
    assert ours.dtype == np.int64 and theirs.dtype.is_floating_point is False
    assert ours.shape == tuple(theirs.shape), (ours.shape, tuple(theirs.shape))
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert not ours.requires_grad


# ---------------------------------------------------------------- argmax/argmin
@pytest.mark.parametrize("name", ["argmax", "argmin"])
@given(data=st.data())
def test_argmax_argmin(torch, name, data):
    shape = data.draw(small_shapes())
    axis = data.draw(st.none() | st.integers(-max(len(shape), 1), max(len(shape), 1) - 1))
    keepdims = data.draw(st.booleans())
    x = data.draw(tst.distinct_arrays(shape))
    ours = getattr(td.tensor(x, requires_grad=True), name)(axis, keepdims)
    assert_indices_match(ours, getattr(torch, name)(torch.tensor(x), dim=axis, keepdim=keepdims))


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@given(data=st.data())
def test_argmax_argmin_ties_pick_the_first(torch, name, data):
    shape = data.draw(small_shapes(min_dims=1))
    axis = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1))
    x = data.draw(tst.float_arrays(shape, -1.0, 1.0)).round()  # values in {-1, 0, 1}: many ties
    assert_indices_match(getattr(td, name)(td.tensor(x), axis), getattr(torch, name)(torch.tensor(x), dim=axis))


def test_argmax_errors():
    with pytest.raises(ValueError, match="argmax of an empty tensor"):
        td.argmax(td.zeros(0))
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        td.argmin(td.zeros(2, 2), 2)


# ---------------------------------------------------------------------- gather
@st.composite
def gather_problems(draw):
    """(shape of x, axis, index): index has x's axes, any length along ``axis``, no longer elsewhere."""
    shape = draw(tst.shapes(min_dims=1, max_dims=3, max_side=4))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    a = axis % len(shape)
    index_shape = tuple(draw(st.integers(1, 4)) if d == a else draw(st.integers(1, n)) for d, n in enumerate(shape))
    index = draw(hnp.arrays(np.int64, index_shape, elements=st.integers(0, shape[a] - 1)))
    return shape, axis, index


@given(data=st.data())
def test_gather(torch, data):
    shape, axis, index = data.draw(gather_problems())
    x = data.draw(tst.float_arrays(shape))

    def reference(a):
        return torch.gather(torch.from_numpy(a), axis, torch.from_numpy(index)).numpy()

    check(lambda t: t.gather(axis, index), reference, x)
    compare(
        torch, lambda t: td.gather(t, axis, td.tensor(index)), lambda t: torch.gather(t, axis, torch.tensor(index)), x
    )


def test_gather_errors():
    x = td.zeros(2, 3)
    with pytest.raises(TypeError, match="gather: index must be an integer"):
        td.gather(x, 1, np.zeros((2, 1)))
    with pytest.raises(ValueError, match="gather: index of shape"):
        td.gather(x, 1, np.zeros(2, dtype=np.int64))
    with pytest.raises(IndexError, match="gather: index values"):
        td.gather(x, 1, np.array([[3]]))
    with pytest.raises(ValueError, match="larger than x"):
        td.gather(x, 1, np.zeros((3, 1), dtype=np.int64))


# ----------------------------------------------------------------- masked_fill
@st.composite
def mask_shapes(draw, shape):
    """A shape that broadcasts to ``shape``: leading axes dropped, some axes set to 1."""
    kept = shape[draw(st.integers(0, len(shape))) :]
    return tuple(1 if draw(st.booleans()) else n for n in kept)


@given(data=st.data(), value=st.sampled_from([0.0, -1e9, 2.5]))
def test_masked_fill(torch, data, value):
    shape = data.draw(small_shapes())
    mask = data.draw(tst.boolean_masks(data.draw(mask_shapes(shape))))
    x = data.draw(tst.float_arrays(shape))
    if abs(value) < 1e3:  # −1e9 (an attention mask) swamps the central differences of gradcheck: torch only
        check(lambda t: t.masked_fill(mask, value), lambda a: np.where(mask, value, a), x)
    compare(
        torch,
        lambda t: td.masked_fill(t, td.tensor(mask), value),
        lambda t: t.masked_fill(torch.tensor(mask), value),
        x,
    )


@given(data=st.data())
def test_masked_fill_with_a_tensor_value_is_differentiable_in_it(torch, data):
    shape = data.draw(small_shapes())
    mask = data.draw(tst.boolean_masks(shape))
    x, v = data.draw(tst.float_arrays(shape)), data.draw(tst.float_arrays(()))
    check(lambda t, u: td.masked_fill(t, mask, u), lambda a, b: np.where(mask, b, a), x, v)
    compare(torch, lambda t, u: t.masked_fill(mask, u), lambda t, u: t.masked_fill(torch.tensor(mask), u), x, v)


def test_masked_fill_errors():
    with pytest.raises(TypeError, match="masked_fill: mask must be a bool"):
        td.masked_fill(td.zeros(2), np.array([1, 0]), 1.0)
    with pytest.raises(ValueError, match="does not broadcast"):
        td.masked_fill(td.zeros(2), np.array([[True, False]] * 2), 1.0)


# ----------------------------------------------------------- sort, argsort, topk
@st.composite
def sort_args(draw, shape):
    axis = draw(st.integers(-max(len(shape), 1), max(len(shape), 1) - 1))
    return axis, draw(st.booleans())


@given(data=st.data())
def test_sort(torch, data):
    shape = data.draw(small_shapes())
    axis, descending = data.draw(sort_args(shape))
    x = data.draw(tst.distinct_arrays(shape))
    check(
        lambda t: td.sort(t, axis, descending).values,
        lambda a: torch.sort(torch.from_numpy(a), axis, descending)[0].numpy(),
        x,
    )
    compare(torch, lambda t: t.sort(axis, descending)[0], lambda t: t.sort(axis, descending)[0], x)
    values, indices = td.sort(td.tensor(x, requires_grad=True), axis=axis, descending=descending)
    assert values.requires_grad
    assert_indices_match(indices, torch.sort(torch.tensor(x), dim=axis, descending=descending).indices)
    assert_indices_match(
        td.argsort(td.tensor(x), axis, descending), torch.argsort(torch.tensor(x), dim=axis, descending=descending)
    )


@given(data=st.data())
def test_sort_with_ties_is_stable_like_torch_stable(torch, data):
    shape = data.draw(small_shapes(min_dims=1))
    axis, descending = data.draw(sort_args(shape))
    x = data.draw(tst.float_arrays(shape, -1.0, 1.0)).round()
    ours = td.sort(td.tensor(x), axis=axis, descending=descending, stable=True)
    theirs = torch.sort(torch.tensor(x), dim=axis, descending=descending, stable=True)
    np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
    assert_indices_match(ours.indices, theirs.indices)
    assert_indices_match(
        td.argsort(td.tensor(x), axis, descending, stable=True),
        torch.argsort(torch.tensor(x), dim=axis, descending=descending, stable=True),
    )


@given(data=st.data())
def test_topk(torch, data):
    shape = data.draw(small_shapes())
    axis, largest = data.draw(sort_args(shape))
    n = shape[axis] if shape else 1
    k = data.draw(st.integers(1, n))
    x = data.draw(tst.distinct_arrays(shape))

    def reference(a):
        return torch.topk(torch.from_numpy(a), k, axis, largest).values.numpy()

    check(lambda t: td.topk(t, k, axis, largest).values, reference, x)
    compare(torch, lambda t: t.topk(k, axis, largest)[0], lambda t: t.topk(k, axis, largest)[0], x)
    assert_indices_match(
        td.topk(td.tensor(x), k, axis, largest).indices, torch.topk(torch.tensor(x), k, axis, largest).indices
    )


def test_topk_errors():
    with pytest.raises(ValueError, match="topk: k=4"):
        td.topk(td.zeros(3), 4)


# --------------------------------------------------------------------- nonzero
@pytest.mark.parametrize("kind", ["bool", "float", "int"])
@given(data=st.data(), as_tuple=st.booleans())
def test_nonzero(torch, kind, data, as_tuple):
    shape = data.draw(small_shapes())
    x = data.draw(tst.boolean_masks(shape))
    if kind == "float":
        x = x * data.draw(tst.float_arrays(shape))
    elif kind == "int":
        x = x.astype(np.int64) * 3
    ours = td.nonzero(td.tensor(x), as_tuple=as_tuple)
    theirs = torch.nonzero(torch.tensor(x), as_tuple=as_tuple)
    if as_tuple:
        assert len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            assert_indices_match(o, t)
    else:
        assert_indices_match(ours, theirs)
        assert_indices_match(td.tensor(x).nonzero(), theirs)
