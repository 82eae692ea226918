"""Activation functions: ReLU, sigmoid, tanh, softmax, log-softmax.

Each is written to be numerically stable: no overflow for inputs of ±1e4.
"""

from ..backend import array_module
from ..function import Function
from ..kernels.reference import relu_backward
from ..tensor import as_tensor


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


class Sigmoid(Function):
    """y = σ(x) = 1 / (1 + e⁻ˣ).   dy/dx = σ(x)(1 − σ(x)) = y(1 − y).

    Stable form: with e = e^(−|x|) ≤ 1, σ(x) = 1/(1+e) for x ≥ 0 and e/(1+e)
    for x < 0, so exp never overflows.
    """

    @staticmethod
    def forward(ctx, x):
        xp = array_module(x)
        e = xp.exp(-xp.abs(x))
        y = xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
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
    return Sigmoid.apply(as_tensor(x))


def tanh(x):
    return Tanh.apply(as_tensor(x))


def softmax(x, axis=-1):
    return Softmax.apply(as_tensor(x), axis=axis)


def log_softmax(x, axis=-1):
    return LogSoftmax.apply(as_tensor(x), axis=axis)
