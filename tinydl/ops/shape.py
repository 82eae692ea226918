"""Shape ops: reshape, flatten, transpose/permute, indexing, concatenate, stack.

None of these change values, only where they sit, so every backward just
moves the gradient back to where each value came from.
"""

import numpy as np

from ..backend import array_module
from ..function import Function
from ..tensor import as_tensor


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


class GetItem(Function):
    """y = x[index] (NumPy indexing: ints, slices, None, ..., integer and boolean arrays).

    ∂L/∂x is zero except at the picked positions, which receive ∂L/∂y. With
    integer-array indices an element may be picked twice, so gradients are
    *added* there (``np.add.at``), not overwritten.
    """

    @staticmethod
    def forward(ctx, x, index=None):
        ctx.in_shape, ctx.index, ctx.dtype = x.shape, index, x.dtype
        try:
            return x[index]
        except IndexError as e:
            raise IndexError(f"index {index!r} does not fit a tensor of shape {x.shape}: {e}") from None

    @staticmethod
    def backward(ctx, grad):
        xp = array_module(grad)
        out = xp.zeros(ctx.in_shape, dtype=grad.dtype)
        if _is_basic_index(ctx.index):
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
