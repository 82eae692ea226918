"""Batch normalisation in training mode, as array code: the formulas line by line (registered as
batchnorm "numpy" on the CPU and "cupy" on CUDA; the readable version the fast ones are tested against).

Per channel c (axis 1), over the n = N·H·W values of all other axes:

    forward:   μ = mean(x),  σ² = mean((x − μ)²)  (biased),  1/σ = 1/√(σ² + ε)
               x̂ = (x − μ)/σ,   y = γ·x̂ + β
    backward:  ∂L/∂β = Σ g,   ∂L/∂γ = Σ g·x̂,   ∂L/∂x = (γ/σ)·(g − mean(g) − x̂·mean(g·x̂))

(g = ∂L/∂y; see :class:`tinydl.ops.normalization.BatchNorm` for where the
backward comes from). Written against ``xp = array_module(x)``, so the same
lines run on NumPy and CuPy arrays. Every line makes a full-size temporary;
numba_norm.py (CPU) and cuda/batchnorm.cu (GPU) compute the same in two passes.
"""

from ..backend import array_module


def channel_axes(x):
    """(the axes reduced over: all but 1, the shape that broadcasts a per-channel (C,) array against x)."""
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    return axes, shape


def batchnorm_train_forward(x, weight, bias, eps):
    """(y, x̂, μ, σ², 1/σ) of batch norm with this batch's statistics; μ, σ², 1/σ per channel, shape (C,)."""
    xp = array_module(x)
    axes, shape = channel_axes(x)
    mean = x.mean(axis=axes, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=axes, keepdims=True)  # biased: used to normalise
    inv_std = 1 / xp.sqrt(var + eps)
    x_hat = centred * inv_std
    y = x_hat * weight.reshape(shape) + bias.reshape(shape)
    return y, x_hat, mean.reshape(-1), var.reshape(-1), inv_std.reshape(-1)


def batchnorm_train_backward(grad, x_hat, inv_std, weight, need_x):
    """(∂L/∂x or None, ∂L/∂γ, ∂L/∂β) of batch norm with batch statistics (inv_std: (C,))."""
    axes, shape = channel_axes(grad)
    n = grad.size // grad.shape[1]
    dbias = grad.sum(axis=axes)
    dweight = (grad * x_hat).sum(axis=axes)
    dx = None
    if need_x:
        scale = weight.reshape(shape) * inv_std.reshape(shape)
        dx = scale * (grad - dbias.reshape(shape) / n - x_hat * (dweight.reshape(shape) / n))
    return dx, dweight, dbias
