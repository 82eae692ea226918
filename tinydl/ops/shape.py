"""Shape ops: reshape, flatten, transpose/permute, indexing, concatenate, stack, and PyTorch's
squeeze, unsqueeze, unflatten, expand, flip, repeat, repeat_interleave, split, chunk, roll, tril/triu.

None of these change values, only where they sit, so every backward just
moves the gradient back to where each value came from.
"""

import math

import numpy as np

from ..backend import array_module
from ..function import Function
from ..tensor import as_tensor
from ._util import unbroadcast


class Reshape(Function):
    """y = x viewed with a new shape.   ∂L/∂x = (∂L/∂y) reshaped back to x's shape."""

    @staticmethod
    def forward(ctx, x, shape=None):
        ctx.in_shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(
                f"cannot reshape a tensor of shape {x.shape} ({x.size} elements) into {tuple(shape)}"
            ) from None

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.in_shape)


class Permute(Function):
    """y = x with its axes reordered: y.shape[i] = x.shape[axes[i]].

    ∂L/∂x = (∂L/∂y) permuted by the inverse permutation (argsort of ``axes``).
    """

    @staticmethod
    def forward(ctx, x, axes=None):
        in_range = all(-x.ndim <= a < x.ndim for a in axes)
        if not in_range or sorted(a % x.ndim for a in axes) != list(range(x.ndim)):
            raise ValueError(
                f"permute: {tuple(axes)} is not a permutation of the {x.ndim} axes of a tensor of shape {x.shape}"
            )
        ctx.axes = axes
        return x.transpose(axes)

    @staticmethod
    def backward(ctx, grad):
        return grad.transpose(np.argsort([a % grad.ndim for a in ctx.axes]))


def _is_basic_index(index):
    """True for ints, slices, None and Ellipsis only: then each element is picked at most once."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, np.integer, slice)) or p is None or p is Ellipsis for p in parts)


def _is_int(part):
    return isinstance(part, (int, np.integer)) and not isinstance(part, (bool, np.bool_))


def _index_dims(part):
    """How many axes of x one part of an index consumes (a k-d boolean mask consumes k)."""
    if part is None or part is Ellipsis:
        return 0
    if isinstance(part, (int, np.integer, slice)):
        return 1
    dtype = getattr(part, "dtype", None)
    if dtype is None:  # a list: look at what NumPy makes of it
        dtype = np.asarray(part).dtype
        return np.asarray(part).ndim if dtype == np.bool_ else 1
    return part.ndim if dtype == np.bool_ else 1


def split_index(index):
    """PyTorch's order of work for an index mixing integers and arrays: ``(first, then)`` or None.

    NumPy counts an integer as an *advanced* index when the index also holds an
    array, so in ``x[0, :, [1, 2]]`` (x of shape (A, B, C)) the two advanced
    parts are separated by a slice and their axis moves to the front: (2, B).
    PyTorch first applies the integers (and slices, None, ...) as a view and then
    indexes that view with the arrays: ``x[0][:, [1, 2]]``, shape (B, 2).
    Returns the two NumPy indices ``first`` (basic: ints, slices, None, ...; a
    full slice where each array was) and ``then`` (the arrays, a full slice for
    every axis ``first`` kept), so that ``x[first][then]`` is PyTorch's result,
    or None when the index does not mix the two (then NumPy and PyTorch agree).
    """
    parts = index if isinstance(index, tuple) else (index,)
    if _is_basic_index(parts) or not any(_is_int(p) for p in parts):
        return None
    first, then = [], []
    for p in parts:
        if _is_int(p):
            first.append(p)  # the axis is gone after ``first``: nothing in ``then``
        elif p is None:
            first.append(None)
            then.append(slice(None))  # the new axis exists after ``first``
        elif p is Ellipsis or isinstance(p, slice):
            first.append(p)
            then.append(Ellipsis if p is Ellipsis else slice(None))
        else:  # an integer or boolean array (or list)
            first.extend([slice(None)] * _index_dims(p))
            then.append(p)
    return tuple(first), tuple(then)


class GetItem(Function):
    """y = x[index] (ints, slices, None, ..., integer and boolean arrays), with PyTorch's axis order.

    ∂L/∂x is zero except at the picked positions, which receive ∂L/∂y. With
    integer-array indices an element may be picked twice, so gradients are
    *added* there (``np.add.at``), not overwritten.

    Axis order: NumPy's and PyTorch's rules agree except when an index mixes
    integers and arrays. PyTorch applies the integers first, so
    ``x[0, :, [1, 2]]`` on x of shape (A, B, C) is ``x[0][:, [1, 2]]``, shape
    (B, 2), where NumPy gives (2, B) (an integer and an array separated by a
    slice count as two advanced indices, whose axis NumPy moves to the front).
    tinydl follows PyTorch (see :func:`split_index`), forward and backward.
    """

    @staticmethod
    def forward(ctx, x, index=None):
        ctx.in_shape, ctx.index, ctx.dtype = x.shape, index, x.dtype
        ctx.split = split_index(index)
        try:
            if ctx.split is not None:
                first, then = ctx.split
                return x[first][then]
            return x[index]
        except IndexError as e:
            raise IndexError(f"index {index!r} does not fit a tensor of shape {x.shape}: {e}") from None

    @staticmethod
    def backward(ctx, grad):
        xp = array_module(grad)
        out = xp.zeros(ctx.in_shape, dtype=grad.dtype)
        if ctx.split is not None:
            first, then = ctx.split
            xp.add.at(out[first], then, grad)  # out[first] is a view (basic index): add.at writes into out
        elif _is_basic_index(ctx.index):
            out[ctx.index] = grad
        else:
            xp.add.at(out, ctx.index, grad)
        return out


class Concatenate(Function):
    """y = [x₁, x₂, …] joined along ``axis``.   ∂L/∂x_k = the slice of ∂L/∂y that x_k filled."""

    @staticmethod
    def forward(ctx, *xs, axis=0):
        xp = array_module(*xs)
        try:
            out = xp.concatenate(xs, axis=axis)
        except ValueError as e:  # also numpy's AxisError
            raise ValueError(
                f"concatenate along axis {axis}: shapes {[x.shape for x in xs]} do not fit ({e})"
            ) from None
        ctx.axis = axis
        ctx.sizes = [x.shape[axis] for x in xs]
        return out

    @staticmethod
    def backward(ctx, grad):
        xp = array_module(grad)
        cuts = np.cumsum(ctx.sizes)[:-1]
        return tuple(xp.split(grad, cuts, axis=ctx.axis))


class Stack(Function):
    """y = [x₁, x₂, …] stacked along a new ``axis``.   ∂L/∂x_k = ∂L/∂y taken at index k of that axis."""

    @staticmethod
    def forward(ctx, *xs, axis=0):
        xp = array_module(*xs)
        ctx.axis = axis
        if len({x.shape for x in xs}) > 1:
            raise ValueError(f"stack needs tensors of one shape, got {[x.shape for x in xs]}")
        return xp.stack(xs, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        xp = array_module(grad)
        return tuple(xp.moveaxis(grad, ctx.axis, 0))


def _shape_arg(shape):
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape


def reshape(x, *shape):
    """``reshape(x, 2, 3)`` or ``reshape(x, (2, 3))``; one size may be -1."""
    return Reshape.apply(as_tensor(x), shape=_shape_arg(shape))


def flatten(x, start_axis=0, end_axis=-1):
    """Merge axes ``start_axis..end_axis`` into one (``Flatten`` in a CNN uses start_axis=1)."""
    x = as_tensor(x)
    if x.ndim == 0:
        return reshape(x, 1)
    start, end = start_axis % x.ndim, end_axis % x.ndim
    shape = x.shape[:start] + (-1,) + x.shape[end + 1 :]
    return reshape(x, shape)


def permute(x, *axes):
    """Reorder the axes: ``permute(x, 0, 2, 3, 1)`` turns NCHW into NHWC."""
    return Permute.apply(as_tensor(x), axes=_shape_arg(axes))


def transpose(x, axis0=-2, axis1=-1):
    """Swap two axes (by default the last two, the matrix transpose)."""
    x = as_tensor(x)
    axes = list(range(x.ndim))
    axes[axis0], axes[axis1] = axes[axis1], axes[axis0]
    return Permute.apply(x, axes=tuple(axes))


def getitem(x, index):
    if isinstance(index, tuple):
        index = tuple(i.data if hasattr(i, "_ctx") else i for i in index)
    elif hasattr(index, "_ctx"):  # a Tensor used as an index
        index = index.data
    return GetItem.apply(as_tensor(x), index=index)


def concatenate(tensors, axis=0):
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("concatenate needs at least one tensor")
    return Concatenate.apply(*tensors, axis=axis)


cat = concatenate


def stack(tensors, axis=0):
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack needs at least one tensor")
    return Stack.apply(*tensors, axis=axis)


# ------------------------------------------------------------------ more shape ops (PyTorch's names)
def _axis_list(axis, ndim, op):
    """``axis`` (an int or a sequence of ints) as a list of non-negative axes, checked against ``ndim``."""
    axes = [axis] if isinstance(axis, (int, np.integer)) else list(axis)
    n = max(ndim, 1)
    for a in axes:
        if not -n <= a < n:
            raise ValueError(f"{op}: axis {a} is out of range for a tensor with {ndim} dimensions")
    return [int(a) % n for a in axes]


def squeeze(x, axis=None):
    """Drop axes of size 1: all of them (``axis=None``) or those in ``axis`` that have size 1.

    As in PyTorch, naming an axis whose size is not 1 is not an error: it is kept.
    Built from :func:`reshape`, so the gradient is reshaped back (no new backward).
    """
    x = as_tensor(x)
    if axis is None:
        drop = {i for i, n in enumerate(x.shape) if n == 1}
    else:
        drop = {a for a in _axis_list(axis, x.ndim, "squeeze") if x.ndim and x.shape[a] == 1}
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in drop))


def unsqueeze(x, axis):
    """Insert an axis of size 1 at position ``axis`` (−ndim−1 ≤ axis ≤ ndim). Built from :func:`reshape`."""
    x = as_tensor(x)
    if not isinstance(axis, (int, np.integer)) or not -x.ndim - 1 <= axis <= x.ndim:
        raise ValueError(f"unsqueeze: axis {axis!r} is out of range for a tensor with {x.ndim} dimensions")
    axis = int(axis) % (x.ndim + 1)
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


def unflatten(x, axis, sizes):
    """Split axis ``axis`` into ``sizes`` (one may be −1): the inverse of :func:`flatten`. Built from :func:`reshape`."""
    x = as_tensor(x)
    axis = _axis_list(axis, x.ndim, "unflatten")[0]
    sizes = tuple(int(s) for s in sizes)
    known = math.prod(s for s in sizes if s != -1)
    fits = known and (x.shape[axis] % known == 0 if -1 in sizes else known == x.shape[axis])
    if not sizes or sizes.count(-1) > 1 or not fits:
        raise ValueError(f"unflatten: sizes {sizes} do not multiply to {x.shape[axis]}, the size of axis {axis}")
    return reshape(x, x.shape[:axis] + sizes + x.shape[axis + 1 :])


class Expand(Function):
    """y = x broadcast to a larger shape (PyTorch's ``expand``; −1 keeps a size).

    Every element of x is used once per copy, so ∂L/∂x sums ∂L/∂y over the
    copies: over the new leading axes and over the axes stretched from size 1
    (the backward of broadcasting, :func:`unbroadcast`).
    """

    @staticmethod
    def forward(ctx, x, shape=None):
        xp = array_module(x)
        lead = len(shape) - x.ndim
        bad = lead < 0 or any(s == -1 for s in shape[:lead])
        target = tuple(shape[:lead]) + tuple(n if s == -1 else s for s, n in zip(shape[lead:], x.shape))
        bad = bad or any(n != 1 and n != s for s, n in zip(target[lead:], x.shape))
        if bad:
            raise ValueError(f"expand: a tensor of shape {x.shape} cannot be expanded to {tuple(shape)}")
        ctx.in_shape = x.shape
        return xp.broadcast_to(x, target).copy()  # a copy: later in-place writes must not alias x

    @staticmethod
    def backward(ctx, grad):
        return unbroadcast(grad, ctx.in_shape)


def expand(x, *sizes):
    """``expand(x, 3, -1, 4)`` or ``expand(x, (3, -1, 4))``: x repeated along axes of size 1, new axes in front."""
    return Expand.apply(as_tensor(x), shape=tuple(int(s) for s in _shape_arg(sizes)))


class Flip(Function):
    """y = x reversed along ``axes``.   ∂L/∂x = ∂L/∂y reversed along the same axes (flipping is its own inverse)."""

    @staticmethod
    def forward(ctx, x, axes=()):
        ctx.axes = axes
        return array_module(x).flip(x, axis=axes).copy() if axes else x.copy()

    @staticmethod
    def backward(ctx, grad):
        return array_module(grad).flip(grad, axis=ctx.axes) if ctx.axes else grad


def flip(x, *dims):
    """Reverse the order of elements along ``dims``: ``flip(x, 0)``, ``flip(x, (0, 2))`` or ``flip(x, 0, 2)``."""
    x = as_tensor(x)
    return Flip.apply(x, axes=tuple(_axis_list(_shape_arg(dims), x.ndim, "flip")))


class Repeat(Function):
    """y = x tiled ``reps`` times along each axis (PyTorch's ``repeat`` is NumPy's ``tile``, not ``np.repeat``).

    With len(reps) > x.ndim, x first gets leading axes of size 1. Element
    y[k₀·n₀ + i₀, …] = x[i₀, …] for each copy k, so ∂L/∂x[i] = Σ_k ∂L/∂y[k·n + i]:
    view ∂L/∂y as (r₀, n₀, r₁, n₁, …) and sum over the r axes.
    """

    @staticmethod
    def forward(ctx, x, reps=()):
        if len(reps) < x.ndim or any(r < 0 for r in reps):
            raise ValueError(
                f"repeat: {tuple(reps)} must give a non-negative count for each of the {x.ndim} axes of shape {x.shape}"
            )
        shape = (1,) * (len(reps) - x.ndim) + x.shape
        ctx.in_shape, ctx.shape, ctx.reps = x.shape, shape, reps
        return array_module(x).tile(x.reshape(shape), reps)

    @staticmethod
    def backward(ctx, grad):
        interleaved = [d for r, n in zip(ctx.reps, ctx.shape) for d in (r, n)]
        summed = grad.reshape(interleaved).sum(axis=tuple(range(0, len(interleaved), 2)))
        return summed.reshape(ctx.in_shape)


def repeat(x, *sizes):
    """``repeat(x, 2, 3)``: x tiled twice along axis 0 and three times along axis 1 (``np.tile``)."""
    return Repeat.apply(as_tensor(x), reps=tuple(int(s) for s in _shape_arg(sizes)))


class RepeatInterleave(Function):
    """y = each element of x repeated ``repeats`` times along ``axis`` (NumPy's ``np.repeat``).

    y[i·r + j] = x[i] for j < r, so ∂L/∂x[i] = Σ_j ∂L/∂y[i·r + j]: view the axis
    as (n, r) and sum over r.
    """

    @staticmethod
    def forward(ctx, x, repeats=1, axis=0):
        ctx.in_shape, ctx.repeats, ctx.axis = x.shape, repeats, axis
        return array_module(x).repeat(x, repeats, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        a = ctx.axis
        split = grad.shape[:a] + (ctx.in_shape[a], ctx.repeats) + grad.shape[a + 1 :]
        return grad.reshape(split).sum(axis=a + 1)


def repeat_interleave(x, repeats, axis=None):
    """Repeat each element ``repeats`` times (an int) along ``axis``; ``axis=None`` flattens first, as PyTorch."""
    x = as_tensor(x)
    if not isinstance(repeats, (int, np.integer)) or repeats < 0:
        raise TypeError(f"repeat_interleave: repeats must be a non-negative int, got {repeats!r}")
    if axis is None:
        x, axis = reshape(x, -1), 0
    axis = _axis_list(axis, x.ndim, "repeat_interleave")[0]
    if x.ndim == 0:
        x = reshape(x, 1)
    return RepeatInterleave.apply(x, repeats=int(repeats), axis=axis)


def _slice_along(x, axis, start, stop):
    return getitem(x, (slice(None),) * axis + (slice(start, stop),))


def split(x, split_size_or_sections, axis=0):
    """Cut x along ``axis`` into pieces of ``split_size`` (an int; the last may be smaller) or of the given sizes.

    Returns a tuple of tensors. Built from slicing (:func:`getitem` with basic
    indices), so each piece sends its gradient back to its own slice.
    """
    x = as_tensor(x)
    axis = _axis_list(axis, x.ndim, "split")[0]
    n = x.shape[axis]
    if isinstance(split_size_or_sections, (int, np.integer)):
        size = int(split_size_or_sections)
        if size <= 0 and n:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = [min(size, n - s) for s in range(0, n, size)] if n else [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise ValueError(f"split: sections {sizes} do not add up to {n}, the size of axis {axis}")
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    return tuple(_slice_along(x, axis, int(a), int(b)) for a, b in zip(starts[:-1], starts[1:]))


def chunk(x, chunks, axis=0):
    """Cut x into ``chunks`` pieces of ceil(n / chunks) along ``axis`` (fewer if they run out), as PyTorch."""
    x = as_tensor(x)
    if not isinstance(chunks, (int, np.integer)) or chunks <= 0:
        raise ValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
    axis = _axis_list(axis, x.ndim, "chunk")[0]
    n = x.shape[axis]
    return split(x, max(-(-n // int(chunks)), 1), axis=axis)


class Roll(Function):
    """y = x shifted cyclically by ``shifts`` along ``axes`` (what falls off one end comes back at the other).

    y[i + s] = x[i] (mod n), so ∂L/∂x = ∂L/∂y rolled back by −s.
    """

    @staticmethod
    def forward(ctx, x, shifts=(), axes=()):
        ctx.shifts, ctx.axes = shifts, axes
        return array_module(x).roll(x, shifts, axis=axes)

    @staticmethod
    def backward(ctx, grad):
        return array_module(grad).roll(grad, tuple(-s for s in ctx.shifts), axis=ctx.axes)


def roll(x, shifts, dims=None):
    """Roll x by ``shifts`` along ``dims`` (ints or tuples of one length); ``dims=None`` rolls the flattened tensor."""
    x = as_tensor(x)
    shifts_t = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
    if dims is None:
        if len(shifts_t) != 1:
            raise ValueError(f"roll: without dims, shifts must be one int, got {shifts!r}")
        return reshape(Roll.apply(reshape(x, -1), shifts=(int(shifts_t[0]),), axes=(0,)), x.shape)
    axes = tuple(_axis_list(dims, x.ndim, "roll"))
    if len(axes) != len(shifts_t):
        raise ValueError(f"roll: shifts {shifts!r} and dims {dims!r} must have the same length")
    return Roll.apply(x, shifts=tuple(int(s) for s in shifts_t), axes=axes)


class Triangle(Function):
    """y = the lower (``tril``) or upper (``triu``) triangle of the last two axes, the rest set to 0.

    ``diagonal`` shifts the border: 0 is the main diagonal, k > 0 above it, k < 0 below.
    y = M ⊙ x for a fixed 0/1 mask M, so ∂L/∂x = M ⊙ ∂L/∂y: the same triangle of the gradient.
    """

    @staticmethod
    def forward(ctx, x, upper=False, diagonal=0):
        if x.ndim < 2:
            raise ValueError(f"{'triu' if upper else 'tril'}: needs at least 2 dimensions, got shape {x.shape}")
        ctx.upper, ctx.diagonal = upper, diagonal
        xp = array_module(x)
        return xp.triu(x, diagonal) if upper else xp.tril(x, diagonal)

    @staticmethod
    def backward(ctx, grad):
        xp = array_module(grad)
        return xp.triu(grad, ctx.diagonal) if ctx.upper else xp.tril(grad, ctx.diagonal)


def tril(x, diagonal=0):
    """Keep the lower triangle (on and below diagonal ``diagonal``) of the last two axes."""
    return Triangle.apply(as_tensor(x), upper=False, diagonal=int(diagonal))


def triu(x, diagonal=0):
    """Keep the upper triangle (on and above diagonal ``diagonal``) of the last two axes."""
    return Triangle.apply(as_tensor(x), upper=True, diagonal=int(diagonal))
