"""Selection ops: argmax/argmin, gather, masked_fill, sort/argsort/topk, nonzero.

Indices are never differentiable: ``argmax``, ``argsort``, ``nonzero`` and the
``indices`` half of ``sort``/``topk`` are int64 tensors outside the graph, as
in PyTorch. Values picked by an index (``gather``, ``sort``/``topk`` values,
``masked_fill``) are differentiable: the gradient goes back to where each value
came from.
"""

from collections import namedtuple

import numpy as np

from ..backend import array_module
from ..function import Function
from ..tensor import Tensor, array_of, as_tensor
from ._util import normalize_axis
from .elementwise import where
from .shape import getitem

# What ``sort`` and ``topk`` return, like ``torch.return_types.sort``: ``values, indices = td.sort(x)``.
ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


def _data(x):
    """The array of a Tensor, or an array (NumPy or CuPy) as it is, or a list as a NumPy array."""
    data = array_of(x)
    return data if hasattr(data, "dtype") else np.asarray(data)


def _one_axis(op, axis, ndim):
    """One axis as a non-negative int (a 0-d tensor accepts 0 and −1, as in PyTorch)."""
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"{op}: axis must be one int, got {axis!r}")
    axes = normalize_axis(int(axis), ndim)
    return axes[0] if axes else 0


def _arg_reduce(op, x, axis, keepdims):
    x = as_tensor(x)
    data = x.data
    if data.size == 0:
        raise ValueError(f"{op} of an empty tensor of shape {x.shape} is undefined")
    if axis is None:
        # PyTorch: the index into the flattened tensor; keepdims gives every axis size 1.
        out = getattr(data.reshape(-1), op)()
        out = out.reshape((1,) * x.ndim) if keepdims else out
    elif x.ndim == 0:
        _one_axis(op, axis, 0)
        out = array_module(data).zeros((), dtype=np.int64)
    else:
        out = getattr(data, op)(axis=_one_axis(op, axis, x.ndim), keepdims=keepdims)
    return as_tensor(array_module(data).asarray(out, dtype=np.int64))


def argmax(x, axis=None, keepdims=False):
    """Index of the largest value along ``axis`` (None: of the flattened tensor); the first one on ties.

    Not differentiable: an int64 tensor outside the graph, passing no gradient (as PyTorch).
    """
    return _arg_reduce("argmax", x, axis, keepdims)


def argmin(x, axis=None, keepdims=False):
    """Index of the smallest value along ``axis``; the first one on ties. Not differentiable (no gradient)."""
    return _arg_reduce("argmin", x, axis, keepdims)


class Gather(Function):
    """y[i][j][k] = x[i][index[i][j][k]][k] for ``axis`` = 1 (and likewise for any axis), as ``torch.gather``.

    ``index`` has x's number of axes and is no larger than x in the other axes.
    Each y element is one x element, but one x element may be picked several
    times, so ∂L/∂x is a scatter-*add* of ∂L/∂y into the picked positions.
    """

    @staticmethod
    def forward(ctx, x, index=None, axis=0):
        xp = array_module(x)
        ctx.in_shape = x.shape
        ctx.where = _gather_positions(xp, xp.asarray(index), axis)  # the index on x's device
        return x[ctx.where]

    @staticmethod
    def backward(ctx, grad):
        xp = array_module(grad)
        out = xp.zeros(ctx.in_shape, dtype=grad.dtype)
        xp.add.at(out, ctx.where, grad)  # repeated picks add up
        return out


def _gather_positions(xp, index, axis):
    """The full integer index of x for every element of ``index``: its own position, with ``axis`` replaced."""
    grid = list(xp.indices(index.shape, sparse=True))
    grid[axis] = index
    return tuple(grid)


def gather(x, axis, index):
    """``torch.gather(x, dim, index)``: pick along ``axis`` the elements that ``index`` (int64) names."""
    x = as_tensor(x)
    index = _data(index)
    if index.dtype.kind not in "iu":
        raise TypeError(f"gather: index must be an integer tensor, got dtype {index.dtype}")
    if index.ndim != x.ndim:
        raise ValueError(f"gather: index of shape {index.shape} must have as many axes as x of shape {x.shape}")
    a = _one_axis("gather", axis, x.ndim)
    too_big = [d for d in range(x.ndim) if d != a and index.shape[d] > x.shape[d]]
    if too_big:
        raise ValueError(f"gather: index shape {index.shape} is larger than x shape {x.shape} on axes {too_big}")
    n = x.shape[a] if x.ndim else 1
    if index.size and (int(index.min()) < 0 or int(index.max()) >= n):  # PyTorch refuses negative indices too
        raise IndexError(f"gather: index values must lie in [0, {n}) along axis {a} of shape {x.shape}")
    if x.ndim == 0:
        return getitem(x, ())
    return Gather.apply(x, index=index, axis=a)


def masked_fill(x, mask, value):
    """x with ``value`` wherever ``mask`` (bool, broadcastable to x) is true.

    Built from :func:`where` (no new backward): the gradient flows to x where
    the mask is false and to ``value`` (if it is a tensor) where it is true.
    """
    x = as_tensor(x)
    mask = _data(mask)
    if mask.dtype != np.bool_:
        raise TypeError(f"masked_fill: mask must be a bool tensor, got dtype {mask.dtype}")
    try:
        full = np.broadcast_shapes(mask.shape, x.shape)
    except ValueError:
        full = None
    if full != x.shape:
        raise ValueError(f"masked_fill: mask of shape {mask.shape} does not broadcast to x of shape {x.shape}")
    if isinstance(value, Tensor) and value.ndim != 0:
        raise ValueError(f"masked_fill: value must be a number or a 0-d tensor, got shape {value.shape}")
    return where(mask, value, x)


def _argsort(data, axis, descending):
    """Stable sort order along ``axis``: ties keep their original order (PyTorch's ``stable=True``)."""
    xp = array_module(data)
    if descending:
        # Sort the reversed axis ascending, stably, and reverse the result back: the largest first,
        # and among equal values the earlier one first (what ``-x`` would give, also for unsigned and bool).
        flipped = xp.flip(data, axis=axis)
        order = xp.flip(xp.argsort(flipped, axis=axis, kind="stable"), axis=axis)
        return (data.shape[axis] - 1 - order).astype(np.int64)
    return xp.argsort(data, axis=axis, kind="stable").astype(np.int64)


def argsort(x, axis=-1, descending=False, stable=False):
    """Indices that sort x along ``axis`` (int64). Not differentiable: outside the graph, no gradient.

    tinydl always sorts stably (``stable`` is accepted for PyTorch's signature): equal values keep their order.
    """
    x = as_tensor(x)
    if x.ndim == 0:
        _one_axis("argsort", axis, 0)
        return as_tensor(array_module(x.data).zeros((), dtype=np.int64))
    return as_tensor(_argsort(x.data, _one_axis("argsort", axis, x.ndim), descending))


def sort(x, axis=-1, descending=False, stable=False):
    """``values, indices = sort(x)``: x sorted along ``axis``, and where each value came from.

    The values are :func:`gather` of x at the indices, so they are differentiable
    (each gradient goes back to its element); the indices are not.
    """
    x = as_tensor(x)
    indices = argsort(x, axis=axis, descending=descending, stable=stable)
    if x.ndim == 0:
        return ValuesIndices(getitem(x, ()), indices)
    return ValuesIndices(gather(x, axis, indices), indices)


def topk(x, k, axis=-1, largest=True, sorted=True):
    """``values, indices``: the ``k`` largest (``largest=False``: smallest) elements along ``axis``, in order.

    Built from :func:`sort` and slicing: values differentiable, indices not. ``sorted``
    is accepted for PyTorch's signature; the result is always sorted.
    """
    x = as_tensor(x)
    a = _one_axis("topk", axis, x.ndim)
    n = x.shape[a] if x.ndim else 1
    if not isinstance(k, (int, np.integer)) or not 0 <= k <= n:
        raise ValueError(f"topk: k={k!r} must be an int in [0, {n}] for axis {a} of a tensor of shape {x.shape}")
    values, indices = sort(x, axis=a, descending=largest)
    if x.ndim == 0:
        return ValuesIndices(values, indices)
    keep = (slice(None),) * a + (slice(0, int(k)),)
    return ValuesIndices(getitem(values, keep), as_tensor(indices.data[keep]))


def nonzero(x, as_tuple=False):
    """Positions of the non-zero elements, row-major: an (n, ndim) int64 tensor, or one 1-d tensor per axis.

    Not differentiable (indices, outside the graph). As PyTorch, a 0-d x gives
    shape (n, 0), or with ``as_tuple`` one tensor as for a 1-element 1-d x.
    """
    data = as_tensor(x).data
    xp = array_module(data)
    if as_tuple:
        return tuple(as_tensor(i.astype(np.int64)) for i in xp.nonzero(xp.atleast_1d(data)))
    return as_tensor(xp.argwhere(data).astype(np.int64))
