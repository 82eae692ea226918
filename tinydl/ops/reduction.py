"""Reductions: sum, mean, max, min over chosen axes (``axis``, ``keepdims`` as in NumPy)."""

from ..backend import array_module
from ..function import Function
from ..tensor import as_tensor
from ._util import normalize_axis


def _restore_reduced_axes(grad, in_shape, axes, keepdims):
    """Reshape a reduced gradient so it broadcasts against the input again."""
    if keepdims:
        return grad
    shape = [1 if i in axes else n for i, n in enumerate(in_shape)]
    return grad.reshape(shape)


class Sum(Function):
    """y = Σ_{i ∈ axes} x_i.   ∂y/∂x_i = 1: the gradient is copied back to every summed element."""

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        ctx.axes = normalize_axis(axis, x.ndim)
        ctx.in_shape, ctx.keepdims = x.shape, keepdims
        return x.sum(axis=ctx.axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        # BEGIN SOLUTION assignment=1 task=sum_backward hint="every summed element gets the gradient: restore the reduced axes, then broadcast to ctx.in_shape"
        grad = _restore_reduced_axes(grad, ctx.in_shape, ctx.axes, ctx.keepdims)
        return array_module(grad).broadcast_to(grad, ctx.in_shape)
        # END SOLUTION


class Mean(Function):
    """y = (1/n) Σ_{i ∈ axes} x_i.   ∂y/∂x_i = 1/n, n = number of elements averaged."""

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        ctx.axes = normalize_axis(axis, x.ndim)
        ctx.in_shape, ctx.keepdims = x.shape, keepdims
        return x.mean(axis=ctx.axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        n = 1
        for a in ctx.axes:
            n *= ctx.in_shape[a]
        return Sum.backward(ctx, grad / n)  # the mean is the sum times 1/n: so is its gradient


class Max(Function):
    """y = max_{i ∈ axes} x_i.   ∂y/∂x_i = [x_i = y] / (number of ties).

    The gradient flows to the largest element; when several elements tie for
    the maximum it is shared equally between them (PyTorch's ``amax`` rule).
    """

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        if x.size == 0:
            raise ValueError("max of an empty tensor is undefined")
        ctx.axes = normalize_axis(axis, x.ndim)
        ctx.keepdims = keepdims
        y = x.max(axis=ctx.axes, keepdims=keepdims)
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved
        y = _restore_reduced_axes(y, x.shape, ctx.axes, ctx.keepdims)
        grad = _restore_reduced_axes(grad, x.shape, ctx.axes, ctx.keepdims)
        is_max = x == y
        ties = is_max.sum(axis=ctx.axes, keepdims=True)
        return grad * is_max / ties.astype(grad.dtype)


class Min(Function):
    """y = min_{i ∈ axes} x_i.   ∂y/∂x_i = [x_i = y] / (number of ties)."""

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        if x.size == 0:
            raise ValueError("min of an empty tensor is undefined")
        ctx.axes = normalize_axis(axis, x.ndim)
        ctx.keepdims = keepdims
        y = x.min(axis=ctx.axes, keepdims=keepdims)
        ctx.save_for_backward(x, y)
        return y

    backward = Max.backward


def sum(x, axis=None, keepdims=False):
    return Sum.apply(as_tensor(x), axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    return Mean.apply(as_tensor(x), axis=axis, keepdims=keepdims)


def max(x, axis=None, keepdims=False):
    """Largest value over ``axis`` (values only; use ``argmax`` for indices)."""
    return Max.apply(as_tensor(x), axis=axis, keepdims=keepdims)


def min(x, axis=None, keepdims=False):
    return Min.apply(as_tensor(x), axis=axis, keepdims=keepdims)
