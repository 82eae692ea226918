"""Activation functions: ReLU, sigmoid, tanh, softmax, log-softmax; leaky ReLU, ELU, GELU, SiLU, softplus, hardtanh.

Each is written to be numerically stable: no overflow for inputs of ±1e4. At the kinks
(x = 0 for leaky ReLU and ELU, the bounds of hardtanh) the gradient follows PyTorch's
convention, which each docstring states.
"""

import math

import numpy as np

from ..backend import array_module
from ..function import Function
from ..kernels.reference import relu_backward
from ..tensor import as_tensor
from ._util import float_input


class ReLU(Function):
    """y = max(0, x).   dy/dx = 1 if x > 0 else 0  (0 at x = 0, by convention).

    NaN as in PyTorch: relu(NaN) = NaN (``maximum`` keeps NaN), and the gradient is 0
    only where y ≤ 0, so a NaN passes ∂L/∂y on, and ∂L/∂y = NaN stops where y ≤ 0.
    """

    @staticmethod
    def forward(ctx, x):
        # BEGIN SOLUTION assignment=2 task=relu_forward hint="y = max(x, 0); save what backward needs"
        y = array_module(x).maximum(x, 0)
        ctx.save_for_backward(y)
        return y
        # END SOLUTION

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved
        return relu_backward(grad, y, array_module(grad))


def sigmoid_array(x):
    """σ(x) on an array, in x's dtype, without overflow (see :class:`Sigmoid`)."""
    xp = array_module(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


class Sigmoid(Function):
    """y = σ(x) = 1 / (1 + e⁻ˣ).   dy/dx = σ(x)(1 − σ(x)) = y(1 − y).

    Stable form: with e = e^(−|x|) ≤ 1, σ(x) = 1/(1+e) for x ≥ 0 and e/(1+e)
    for x < 0, so exp never overflows.
    """

    @staticmethod
    def forward(ctx, x):
        y = sigmoid_array(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        # BEGIN SOLUTION assignment=2 task=sigmoid_backward hint="dsigma/dx = y (1 - y) with the saved output y"
        (y,) = ctx.saved
        return grad * y * (1 - y)
        # END SOLUTION


class Tanh(Function):
    """y = tanh(x) = (eˣ − e⁻ˣ)/(eˣ + e⁻ˣ).   dy/dx = 1 − y²."""

    @staticmethod
    def forward(ctx, x):
        y = array_module(x).tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        # BEGIN SOLUTION assignment=2 task=tanh_backward hint="dtanh/dx = 1 - y^2"
        (y,) = ctx.saved
        return grad * (1 - y * y)
        # END SOLUTION


class Softmax(Function):
    """y_i = e^{x_i} / Σ_j e^{x_j} along ``axis``.

    Stable: subtracting m = max_j x_j from every x_i leaves y unchanged and
    keeps every exponent ≤ 0.
    Backward (the softmax Jacobian ∂y_i/∂x_j = y_i(δ_ij − y_j), applied to g):
        ∂L/∂x_i = y_i (g_i − Σ_j g_j y_j).
    """

    @staticmethod
    def forward(ctx, x, axis=-1):
        xp = array_module(x)
        e = xp.exp(x - x.max(axis=axis, keepdims=True))
        y = e / e.sum(axis=axis, keepdims=True)
        ctx.axis = axis
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved
        return y * (grad - (grad * y).sum(axis=ctx.axis, keepdims=True))


class LogSoftmax(Function):
    """y_i = log softmax(x)_i = x_i − m − log Σ_j e^{x_j − m},  m = max_j x_j.

    Backward: ∂L/∂x_i = g_i − softmax(x)_i Σ_j g_j.
    """

    @staticmethod
    def forward(ctx, x, axis=-1):
        xp = array_module(x)
        shifted = x - x.max(axis=axis, keepdims=True)
        y = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.axis = axis
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved
        softmax = array_module(y).exp(y)
        return grad - softmax * grad.sum(axis=ctx.axis, keepdims=True)


def relu(x):
    return ReLU.apply(as_tensor(x))


def sigmoid(x):
    """σ(x); an integer tensor gives the default float dtype, as in PyTorch."""
    return Sigmoid.apply(float_input(x))


def tanh(x):
    """tanh(x); an integer tensor gives the default float dtype, as in PyTorch."""
    return Tanh.apply(float_input(x))


def softmax(x, axis=-1):
    return Softmax.apply(as_tensor(x), axis=axis)


def log_softmax(x, axis=-1):
    return LogSoftmax.apply(as_tensor(x), axis=axis)


# ------------------------------------------------------------------ modern activations
def erf_array(x):
    """The error function erf(x) = 2/√π ∫₀ˣ e^(−t²) dt on an array, in x's dtype.

    NumPy has no erf; ``math.erf`` (exact to double precision) is applied elementwise,
    in float64. On the GPU, CuPy's own ``cupyx.scipy.special.erf`` does it.
    """
    xp = array_module(x)
    if xp is not np:
        from cupyx.scipy.special import erf  # noqa: PLC0415  (only on the GPU)

        return erf(x)
    flat = np.frompyfunc(math.erf, 1, 1)(x.astype(np.float64))
    return np.asarray(flat, dtype=np.float64).astype(x.dtype, copy=False)


def _no_inplace(name, inplace):
    if inplace:
        raise ValueError(f"{name}: inplace=True is not supported; tinydl never overwrites an input")


class LeakyReLU(Function):
    """y = x if x > 0 else s·x  (s = ``negative_slope``).   dy/dx = 1 if x > 0 else s.

    At x = 0 the gradient is s, as in PyTorch (the test is x > 0).
    """

    @staticmethod
    def forward(ctx, x, negative_slope=0.01):
        positive = x > 0
        ctx.save_for_backward(positive)
        ctx.slope = negative_slope
        return array_module(x).where(positive, x, x * negative_slope).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (positive,) = ctx.saved
        return array_module(grad).where(positive, grad, grad * ctx.slope).astype(grad.dtype, copy=False)


class ELU(Function):
    """y = x if x > 0 else α(eˣ − 1).   dy/dx = 1 if x > 0 else α·eˣ.

    At x = 0 the gradient is α (the negative branch), as in PyTorch. ``expm1`` keeps
    eˣ − 1 accurate for small |x|.
    """

    @staticmethod
    def forward(ctx, x, alpha=1.0):
        xp = array_module(x)
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        # min(x, 0) inside expm1: the unused branch of where() must not overflow for large x.
        return xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0))).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        xp = array_module(x)
        return xp.where(x > 0, grad, grad * ctx.alpha * xp.exp(xp.minimum(x, 0))).astype(grad.dtype, copy=False)


_GELU_K = math.sqrt(2.0 / math.pi)  # √(2/π), the tanh approximation's scale
_GELU_C = 0.044715


class GELU(Function):
    """y = x·Φ(x), Φ the standard normal CDF:  Φ(x) = ½(1 + erf(x/√2)).

    dy/dx = Φ(x) + x·φ(x),  φ(x) = e^(−x²/2)/√(2π).

    ``approximate='tanh'``: y = ½x(1 + tanh u),  u = √(2/π)(x + 0.044715x³), so
    dy/dx = ½(1 + tanh u) + ½x(1 − tanh² u)·√(2/π)(1 + 3·0.044715x²).
    """

    @staticmethod
    def forward(ctx, x, approximate="none"):
        xp = array_module(x)
        ctx.save_for_backward(x)
        ctx.approximate = approximate
        if approximate == "tanh":
            return (0.5 * x * (1 + xp.tanh(_GELU_K * (x + _GELU_C * x**3)))).astype(x.dtype, copy=False)
        return (x * 0.5 * (1 + erf_array(x / math.sqrt(2.0)))).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        xp = array_module(x)
        if ctx.approximate == "tanh":
            t = xp.tanh(_GELU_K * (x + _GELU_C * x**3))
            slope = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _GELU_K * (1 + 3 * _GELU_C * x * x)
        else:
            cdf = 0.5 * (1 + erf_array(x / math.sqrt(2.0)))
            slope = cdf + x * xp.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
        return (grad * slope).astype(grad.dtype, copy=False)


class SiLU(Function):
    """y = x·σ(x) (also called swish).   dy/dx = σ(x)(1 + x(1 − σ(x)))."""

    @staticmethod
    def forward(ctx, x):
        s = sigmoid_array(x)
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx, grad):
        x, s = ctx.saved
        return grad * s * (1 + x * (1 - s))


class Softplus(Function):
    """y = (1/β)·ln(1 + e^(βx)), and y = x where βx > ``threshold`` (there the two differ by < e^(−threshold)/β).

    dy/dx = σ(βx), and 1 on the linear part, as in PyTorch.
    Stable form: ln(1 + e^z) = max(z, 0) + ln(1 + e^(−|z|)), z = βx.
    """

    @staticmethod
    def forward(ctx, x, beta=1.0, threshold=20.0):
        xp = array_module(x)
        z = x * beta
        linear = z > threshold
        ctx.save_for_backward(z, linear)
        smooth = (xp.maximum(z, 0) + xp.log1p(xp.exp(-xp.abs(z)))) / beta
        return xp.where(linear, x, smooth).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        z, linear = ctx.saved
        return array_module(grad).where(linear, grad, grad * sigmoid_array(z)).astype(grad.dtype, copy=False)


class Hardtanh(Function):
    """y = min(max(x, lo), hi).   dy/dx = 1 where lo < x < hi, else 0.

    At the bounds themselves the gradient is 0, as in PyTorch's hardtanh (``clamp`` passes 1 there).
    """

    @staticmethod
    def forward(ctx, x, min_val=-1.0, max_val=1.0):
        inside = (x > min_val) & (x < max_val)
        ctx.save_for_backward(inside)
        return array_module(x).clip(x, min_val, max_val).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (inside,) = ctx.saved
        return grad * inside


def _number(name, arg, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: {arg} must be a number, got {value!r}")
    return float(value)


def leaky_relu(x, negative_slope=0.01, inplace=False):
    """x where x > 0, else ``negative_slope``·x (PyTorch's ``F.leaky_relu``)."""
    _no_inplace("leaky_relu", inplace)
    return LeakyReLU.apply(float_input(x), negative_slope=_number("leaky_relu", "negative_slope", negative_slope))


def elu(x, alpha=1.0, inplace=False):
    """x where x > 0, else α(eˣ − 1) (PyTorch's ``F.elu``)."""
    _no_inplace("elu", inplace)
    return ELU.apply(float_input(x), alpha=_number("elu", "alpha", alpha))


def gelu(x, approximate="none"):
    """x·Φ(x), exact (``approximate='none'``) or with the tanh formula (``'tanh'``), as ``F.gelu``."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU.apply(float_input(x), approximate=approximate)


def silu(x, inplace=False):
    """x·σ(x) (PyTorch's ``F.silu``)."""
    _no_inplace("silu", inplace)
    return SiLU.apply(float_input(x))


def softplus(x, beta=1.0, threshold=20.0):
    """(1/β) ln(1 + e^(βx)), linear where βx > threshold (PyTorch's ``F.softplus``)."""
    beta = _number("softplus", "beta", beta)
    if beta == 0:
        raise ValueError("softplus: beta must be nonzero")
    return Softplus.apply(float_input(x), beta=beta, threshold=_number("softplus", "threshold", threshold))


def hardtanh(x, min_val=-1.0, max_val=1.0, inplace=False):
    """x clipped to [min_val, max_val], gradient 0 at and beyond the bounds (PyTorch's ``F.hardtanh``)."""
    _no_inplace("hardtanh", inplace)
    min_val, max_val = _number("hardtanh", "min_val", min_val), _number("hardtanh", "max_val", max_val)
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) must not exceed max_val ({max_val})")
    return Hardtanh.apply(float_input(x), min_val=min_val, max_val=max_val)
