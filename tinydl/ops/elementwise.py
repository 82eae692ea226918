"""Elementwise maths: exp, log, sqrt, abs, clip, where, maximum/minimum, dtype casts;
log2, log10, rsqrt, sin, cos; floor, ceil, round, sign (zero gradient); isnan, isinf, isfinite (no gradient)."""

import numpy as np

from ..backend import array_module
from ..device import device_of, move
from ..function import Function
from ..tensor import Tensor, as_tensor
from ._util import AsType, cast, float_input, pair, result_type, unbroadcast  # noqa: F401  (AsType: its home is _util)


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
    """eˣ; an integer tensor gives the default float dtype, as in PyTorch."""
    return Exp.apply(float_input(x))


def log(x):
    """ln x; an integer tensor gives the default float dtype, as in PyTorch."""
    return Log.apply(float_input(x))


def sqrt(x):
    """√x; an integer tensor gives the default float dtype, as in PyTorch."""
    return Sqrt.apply(float_input(x))


def abs(x):
    return Abs.apply(as_tensor(x))


def clip(x, min=None, max=None):
    """Limit values to [min, max] (either bound may be None). Also called ``clamp``.

    The result's dtype follows PyTorch's promotion with the bounds: an integer tensor
    clipped at 0.5 gives float32 (see :func:`tinydl.ops._util.result_type`).
    """
    x = as_tensor(x)
    bounds = [b for b in (min, max) if b is not None]
    if bounds:
        x = cast(x, result_type(x, *bounds))
    return Clip.apply(x, low=min, high=max)


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
    return cast(as_tensor(x), dtype)


# ------------------------------------------------------------ more elementwise maths
class Log2(Function):
    """y = log₂ x = ln x / ln 2.   dy/dx = 1 / (x ln 2)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).log2(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return grad / (x * np.log(2.0))


class Log10(Function):
    """y = log₁₀ x = ln x / ln 10.   dy/dx = 1 / (x ln 10)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).log10(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return grad / (x * np.log(10.0))


class Rsqrt(Function):
    """y = 1/√x = x^(−½).   dy/dx = −½ x^(−3/2) = −½ y³  (so we keep the output)."""

    @staticmethod
    def forward(ctx, x):
        xp = array_module(x)
        with np.errstate(divide="ignore"):  # rsqrt(0) = inf, as in PyTorch
            y = (1 / xp.sqrt(x)).astype(x.dtype, copy=False)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved
        return -0.5 * grad * y * y * y


class Sin(Function):
    """y = sin x.   dy/dx = cos x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).sin(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return grad * array_module(x).cos(x)


class Cos(Function):
    """y = cos x.   dy/dx = −sin x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return array_module(x).cos(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return -grad * array_module(x).sin(x)


class Piecewise(Function):
    """y = floor(x), ceil(x), round(x) or sign(x): piecewise constant.   dy/dx = 0.

    The derivative is 0 wherever it exists (and undefined at the steps), so the
    backward passes a zero gradient. That is PyTorch's choice: the result stays in
    the graph (``requires_grad`` follows the input) but no gradient gets through.
    """

    @staticmethod
    def forward(ctx, x, fn=None):
        return fn(x)

    @staticmethod
    def backward(ctx, grad):
        return array_module(grad).zeros_like(grad)


def _piecewise(x, fn, name):
    x = as_tensor(x)
    if x.dtype.kind == "b" and name != "sign":
        raise TypeError(f"{name}: not defined for a boolean tensor")
    if x.dtype.kind != "f":  # integers are already whole: a copy, outside the graph
        return Tensor._from_array(fn(x.data).astype(x.dtype, copy=False))  # older NumPy gives float64
    return Piecewise.apply(x, fn=fn)


def log2(x):
    """Base-2 logarithm; integers give float32 (as PyTorch)."""
    return Log2.apply(float_input(x))


def log10(x):
    """Base-10 logarithm; integers give float32 (as PyTorch)."""
    return Log10.apply(float_input(x))


def rsqrt(x):
    """1/√x (the reciprocal square root, as in layer norm); integers give float32 (as PyTorch)."""
    return Rsqrt.apply(float_input(x))


def sin(x):
    """Sine, in radians; integers give float32 (as PyTorch)."""
    return Sin.apply(float_input(x))


def cos(x):
    """Cosine, in radians; integers give float32 (as PyTorch)."""
    return Cos.apply(float_input(x))


def floor(x):
    """The largest integer ≤ x, in x's dtype. Passes a zero gradient (as PyTorch): see :class:`Piecewise`."""
    return _piecewise(x, lambda a: array_module(a).floor(a), "floor")


def ceil(x):
    """The smallest integer ≥ x, in x's dtype. Passes a zero gradient (as PyTorch): see :class:`Piecewise`."""
    return _piecewise(x, lambda a: array_module(a).ceil(a), "ceil")


def round(x, decimals=0):  # noqa: A001  (torch.round)
    """Round to ``decimals`` places, halves to the even neighbour (0.5 → 0, 1.5 → 2, −2.5 → −2), as PyTorch.

    Passes a zero gradient (as PyTorch): see :class:`Piecewise`.
    """
    if not isinstance(decimals, (int, np.integer)) or isinstance(decimals, bool):
        raise TypeError(f"round: decimals must be an int, got {decimals!r}")
    return _piecewise(x, lambda a: array_module(a).round(a, int(decimals)), "round")


def sign(x):
    """−1, 0 or +1 (NaN stays NaN), in x's dtype. Passes a zero gradient (as PyTorch): see :class:`Piecewise`."""
    x = as_tensor(x)
    if x.dtype.kind == "b":  # torch.sign(bool) is the bool itself
        return Tensor._from_array(x.data.copy())
    return _piecewise(x, lambda a: array_module(a).sign(a), "sign")


def _test(x, fn):
    x = as_tensor(x)
    return Tensor._from_array(fn(array_module(x.data))(x.data))


def isnan(x):
    """True where x is NaN. A boolean tensor outside the graph: it passes no gradient."""
    return _test(x, lambda xp: xp.isnan)


def isinf(x):
    """True where x is +∞ or −∞. A boolean tensor outside the graph: it passes no gradient."""
    return _test(x, lambda xp: xp.isinf)


def isfinite(x):
    """True where x is neither NaN nor ±∞. A boolean tensor outside the graph: it passes no gradient."""
    return _test(x, lambda xp: xp.isfinite)
