"""Elementwise maths: exp, log, sqrt, abs, clip, where, maximum/minimum, dtype casts."""

import numpy as np

from ..backend import array_module
from ..device import device_of, move
from ..function import Function
from ..tensor import Tensor, as_tensor
from ._util import pair, unbroadcast


class Exp(Function):
    """y = eˣ.   dy/dx = eˣ = y  (so we keep the output, not the input)."""

    @staticmethod
    def forward(ctx, x):
        y = array_module(x).exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        # BEGIN SOLUTION assignment=1 task=exp_backward hint="d(e^x)/dx = e^x, which is the saved output y"
        (y,) = ctx.saved
        return grad * y
        # END SOLUTION


class Log(Function):
    """y = ln x.   dy/dx = 1/x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).log(x)

    @staticmethod
    def backward(ctx, grad):
        # BEGIN SOLUTION assignment=1 task=log_backward hint="d(ln x)/dx = 1/x"
        (x,) = ctx.saved
        return grad / x
        # END SOLUTION


class Sqrt(Function):
    """y = √x.   dy/dx = 1 / (2√x) = 1 / (2y)."""

    @staticmethod
    def forward(ctx, x):
        y = array_module(x).sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved
        return grad / (2 * y)


class Abs(Function):
    """y = |x|.   dy/dx = sign(x)  (0 at x = 0, as in PyTorch)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).abs(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return grad * array_module(x).sign(x)


class Clip(Function):
    """y = min(max(x, low), high).   dy/dx = 1 where low ≤ x ≤ high, else 0."""

    @staticmethod
    def forward(ctx, x, low=None, high=None):
        if low is None and high is None:
            raise ValueError("clip needs at least one of min and max")
        xp = array_module(x)
        inside = xp.ones(x.shape, dtype=bool)
        if low is not None:
            inside &= x >= low
        if high is not None:
            inside &= x <= high
        ctx.save_for_backward(inside)
        return xp.clip(x, low, high).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (inside,) = ctx.saved
        return grad * inside


class Where(Function):
    """z = a where cond else b.   ∂z/∂a = cond,  ∂z/∂b = not cond.

    ``cond`` is a boolean array, not differentiable (it is an option, not an input).
    """

    @staticmethod
    def forward(ctx, a, b, condition=None):
        xp = array_module(a)
        condition = xp.asarray(condition, dtype=bool)
        ctx.condition = condition
        ctx.shapes = a.shape, b.shape
        return xp.where(condition, a, b)

    @staticmethod
    def backward(ctx, grad):
        xp = array_module(grad)
        a_shape, b_shape = ctx.shapes
        zero = xp.zeros((), dtype=grad.dtype)
        return (
            unbroadcast(xp.where(ctx.condition, grad, zero), a_shape),
            unbroadcast(xp.where(ctx.condition, zero, grad), b_shape),
        )


class Maximum(Function):
    """z = max(a, b) elementwise.   ∂z/∂a = [a > b] + ½[a = b],  ∂z/∂b = [b > a] + ½[a = b].

    At a tie the gradient is shared half and half, as PyTorch does.
    """

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return array_module(a).maximum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        share_a = (a > b) + 0.5 * (a == b)
        return unbroadcast(grad * share_a, a.shape), unbroadcast(grad * (1 - share_a), b.shape)


class Minimum(Function):
    """z = min(a, b) elementwise.   ∂z/∂a = [a < b] + ½[a = b],  ∂z/∂b = [b < a] + ½[a = b]."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return array_module(a).minimum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        share_a = (a < b) + 0.5 * (a == b)
        return unbroadcast(grad * share_a, a.shape), unbroadcast(grad * (1 - share_a), b.shape)


class AsType(Function):
    """y = x converted to another floating dtype.   dy/dx = 1 (the gradient is cast back)."""

    @staticmethod
    def forward(ctx, x, dtype=None):
        ctx.dtype = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad.astype(ctx.dtype)


class ToDevice(Function):
    """y = x, copied to another device.   ∂L/∂x = ∂L/∂y, copied back to x's device."""

    @staticmethod
    def forward(ctx, x, target=None):
        ctx.source = device_of(x)
        return move(x, target)

    @staticmethod
    def backward(ctx, grad):
        return move(grad, ctx.source)


def to_device(x, target):
    """``x`` on device ``target`` ('cpu', 'cuda', 'cuda:N'); differentiable, ``x`` itself if already there."""
    x = as_tensor(x)
    if x.device == target:
        return x
    return ToDevice.apply(x, target=target)


def exp(x):
    return Exp.apply(as_tensor(x))


def log(x):
    return Log.apply(as_tensor(x))


def sqrt(x):
    return Sqrt.apply(as_tensor(x))


def abs(x):
    return Abs.apply(as_tensor(x))


def clip(x, min=None, max=None):
    """Limit values to [min, max] (either bound may be None). Also called ``clamp``."""
    return Clip.apply(as_tensor(x), low=min, high=max)


clamp = clip


def where(condition, a, b):
    """Pick from ``a`` where ``condition`` is true, else from ``b`` (all three broadcast)."""
    if isinstance(condition, Tensor):
        condition = condition.data
    a, b = pair(a, b)
    return Where.apply(a, b, condition=condition)


def maximum(a, b):
    return Maximum.apply(*pair(a, b))


def minimum(a, b):
    return Minimum.apply(*pair(a, b))


def astype(x, dtype):
    """Convert to ``dtype``; a cast to an integer or boolean dtype is not differentiable (no graph)."""
    x = as_tensor(x)
    if x.dtype == dtype:
        return x
    if np.dtype(dtype).kind != "f":
        return Tensor._from_array(x.data.astype(dtype))
    return AsType.apply(x, dtype=dtype)
