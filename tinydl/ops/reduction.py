"""Reductions: sum, mean, max, min, var/std, logsumexp, prod, cumsum, any/all over chosen axes.

``axis`` (an int, a tuple, or None for every axis) and ``keepdims`` as in NumPy.
"""

import math

import numpy as np

from ..backend import array_module
from ..function import Function
from ..tensor import as_tensor
from ._util import normalize_axis
from .elementwise import sqrt


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


class Var(Function):
    """y = Σ_{i ∈ axes} (x_i − x̄)² / (n − c), x̄ the mean over the axes, c the ``correction``.

    c = 1 (Bessel's correction, PyTorch's default ``unbiased=True``) gives the
    unbiased estimate of the variance, c = 0 the population variance.
    ∂y/∂x_i = 2 (x_i − x̄) / (n − c): x̄ depends on x_i too, but its term is
    (∂y/∂x̄)(1/n) with ∂y/∂x̄ = −2 Σ (x_j − x̄)/(n − c) = 0, because deviations sum to zero.
    """

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False, correction=1):
        ctx.axes = normalize_axis(axis, x.ndim)
        ctx.in_shape, ctx.keepdims = x.shape, keepdims
        n = math.prod(x.shape[a] for a in ctx.axes)
        ctx.denominator = float(n - correction) if n > correction else 0.0  # ≤ 0: inf or NaN, as PyTorch
        deviation = x - x.mean(axis=ctx.axes, keepdims=True)
        ctx.save_for_backward(deviation)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (deviation * deviation).sum(axis=ctx.axes, keepdims=keepdims) / x.dtype.type(ctx.denominator)

    @staticmethod
    def backward(ctx, grad):
        (deviation,) = ctx.saved
        grad = _restore_reduced_axes(grad, ctx.in_shape, ctx.axes, ctx.keepdims)
        with np.errstate(divide="ignore", invalid="ignore"):
            return grad * deviation * deviation.dtype.type(2.0 / ctx.denominator if ctx.denominator else np.inf)


def _correction(op, unbiased, correction):
    """PyTorch's two spellings: ``unbiased=True/False`` (old) or ``correction=c`` (new); default c = 1."""
    if unbiased is not None and correction is not None:
        raise ValueError(
            f"{op}: give unbiased or correction, not both (got unbiased={unbiased}, correction={correction})"
        )
    if unbiased is not None:
        if not isinstance(unbiased, (bool, np.bool_)):
            raise TypeError(f"{op}: unbiased must be True or False, got {unbiased!r}")
        return 1 if unbiased else 0
    return 1 if correction is None else correction


def var(x, axis=None, unbiased=None, keepdims=False, correction=None):
    """Variance over ``axis``: ``correction`` (or ``unbiased``) as in PyTorch, default the unbiased n − 1."""
    c = _correction("var", unbiased, correction)
    return Var.apply(as_tensor(x), axis=axis, keepdims=keepdims, correction=c)


def std(x, axis=None, unbiased=None, keepdims=False, correction=None):
    """Standard deviation: built as ``sqrt(var(...))`` from existing ops (no new backward)."""
    c = _correction("std", unbiased, correction)
    return sqrt(Var.apply(as_tensor(x), axis=axis, keepdims=keepdims, correction=c))


class LogSumExp(Function):
    """y = log Σ_{i ∈ axes} exp(x_i), computed stably as m + log Σ exp(x_i − m), m = max x_i.

    Subtracting the maximum keeps every exp ≤ 1 (no overflow) and one term = 1
    (no log 0). ∂y/∂x_i = exp(x_i − y): the softmax of x over the axes.
    """

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        xp = array_module(x)
        ctx.axes = normalize_axis(axis, x.ndim)
        ctx.in_shape, ctx.keepdims = x.shape, keepdims
        if x.size == 0:
            raise ValueError(f"logsumexp of an empty tensor of shape {x.shape}")
        m = x.max(axis=ctx.axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)  # all −inf (or an inf): shift by 0, the result is ±inf as it should be
        with np.errstate(divide="ignore"):
            y = xp.log(xp.exp(x - m).sum(axis=ctx.axes, keepdims=True)) + m
        ctx.save_for_backward(x, y)
        return y if keepdims else y.reshape([n for i, n in enumerate(x.shape) if i not in ctx.axes])

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved
        grad = _restore_reduced_axes(grad, ctx.in_shape, ctx.axes, ctx.keepdims)
        return grad * array_module(x).exp(x - y)


def logsumexp(x, axis=None, keepdims=False):
    """log Σ exp(x) over ``axis`` without overflow (``axis=None``: every axis)."""
    return LogSumExp.apply(as_tensor(x), axis=axis, keepdims=keepdims)


class Prod(Function):
    """y = Π_{i ∈ axes} x_i.   ∂y/∂x_i = Π_{j ≠ i} x_j, the product of the *others*.

    Not y / x_i: that divides by zero when x_i = 0. The product of the others
    is the exclusive product from the left times the one from the right
    (two cumulative products), which is right with one zero (only the zero's
    own gradient is non-zero) and with several (all gradients are 0).
    """

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        ctx.axes = normalize_axis(axis, x.ndim)
        ctx.keepdims = keepdims
        ctx.save_for_backward(x)
        return x.prod(axis=ctx.axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        xp = array_module(x)
        grad = _restore_reduced_axes(grad, x.shape, ctx.axes, ctx.keepdims)
        kept = [i for i in range(x.ndim) if i not in ctx.axes]
        n = math.prod(x.shape[a] for a in ctx.axes)
        if n == 0:
            return xp.zeros_like(x)
        # Move the reduced axes to the end and merge them: rows of n factors.
        order = kept + list(ctx.axes)
        rows = x.transpose(order).reshape([x.shape[i] for i in kept] + [n])
        ones = xp.ones(rows.shape[:-1] + (1,), dtype=x.dtype)
        left = xp.concatenate([ones, xp.cumprod(rows, axis=-1)[..., :-1]], axis=-1)  # Π_{j < i} x_j
        right = xp.flip(xp.cumprod(xp.flip(rows, axis=-1), axis=-1), axis=-1)
        right = xp.concatenate([right[..., 1:], ones], axis=-1)  # Π_{j > i} x_j
        others = (left * right).reshape([x.shape[i] for i in order])
        return grad * others.transpose(np.argsort(order))


def prod(x, axis=None, keepdims=False):
    """Product over ``axis`` (an int, a tuple, or None for every axis); the gradient is right with zeros."""
    return Prod.apply(as_tensor(x), axis=axis, keepdims=keepdims)


class Cumsum(Function):
    """y_i = Σ_{j ≤ i} x_j along ``axis``.   ∂L/∂x_j = Σ_{i ≥ j} ∂L/∂y_i: the cumulative sum taken from the end."""

    @staticmethod
    def forward(ctx, x, axis=0):
        ctx.axis = axis
        if x.ndim == 0:
            return x.copy()
        return array_module(x).cumsum(x, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        if grad.ndim == 0:
            return grad
        xp = array_module(grad)
        return xp.flip(xp.cumsum(xp.flip(grad, axis=ctx.axis), axis=ctx.axis), axis=ctx.axis)


def cumsum(x, axis):
    """Running sum along ``axis`` (required, like PyTorch's ``dim``)."""
    x = as_tensor(x)
    if not isinstance(axis, (int, np.integer)):
        raise TypeError(f"cumsum: axis must be one int, got {axis!r}")
    (a,) = normalize_axis(int(axis), x.ndim) or (0,)
    return Cumsum.apply(x, axis=a)


def _logical(op, x, axis, keepdims):
    x = as_tensor(x)
    xp = array_module(x.data)
    axes = normalize_axis(axis, x.ndim)
    return as_tensor(getattr(xp, op)(x.data, axis=axes, keepdims=keepdims))


def any(x, axis=None, keepdims=False):
    """Is any element non-zero over ``axis``? A bool tensor (PyTorch returns a tensor, not a Python bool).

    Not differentiable: the result is outside the graph and passes no gradient.
    ``if t.any():`` still works, through ``Tensor.__bool__`` of a one-element tensor.
    """
    return _logical("any", x, axis, keepdims)


def all(x, axis=None, keepdims=False):
    """Are all elements non-zero over ``axis``? A bool tensor; not differentiable (passes no gradient)."""
    return _logical("all", x, axis, keepdims)
