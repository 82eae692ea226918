"""Batch normalisation in training mode, in Numba: two passes over each channel instead of six.

The NumPy version (``numpy_norm.py``, the formulas) makes a full-size
temporary for every line — x − μ, its square, x̂, γ·x̂, + β — and each is fresh
memory (a page fault per 4 KiB, see docs/performance.md). Here one thread takes one
channel at a time and walks its N × (H·W) numbers:

forward:  pass 1: μ = mean(x);  pass 2: σ² = mean((x − μ)²);  pass 3: x̂ = (x − μ)/σ, y = γ·x̂ + β
backward: pass 1: ∂L/∂β = Σ g, ∂L/∂γ = Σ g·x̂;  pass 2: ∂L/∂x = (γ/σ)·(g − mean(g) − x̂·mean(g·x̂))

(see :class:`tinydl.ops.normalization.BatchNorm` for where they come from). The
sums are accumulated in float64 and may be added in any order (vectorised):
the results match NumPy's to rounding. Channels are independent, so threads
never write the same place.
"""

import numpy as np

from ._numba import njit, prange

_SUMS = {"reassoc", "contract"}  # let LLVM vectorise the sums (reorder them); keep NaN and inf semantics


@njit(parallel=True, fastmath=_SUMS, cache=True, error_model="numpy")
def _forward(x, weight, bias, eps, y, x_hat, mean, var, inv_std):
    n_images, channels, size = x.shape
    count = n_images * size
    for c in prange(channels):
        total = 0.0
        for n in range(n_images):
            for s in range(size):
                total += x[n, c, s]
        mu = total / count
        squares = 0.0
        for n in range(n_images):
            for s in range(size):
                d = x[n, c, s] - mu
                squares += d * d
        sigma2 = squares / count  # biased, as the formula (the running variance uses the unbiased one)
        r = 1.0 / np.sqrt(sigma2 + eps)
        for n in range(n_images):
            for s in range(size):
                normalised = (x[n, c, s] - mu) * r
                x_hat[n, c, s] = normalised
                y[n, c, s] = normalised * weight[c] + bias[c]
        mean[c], var[c], inv_std[c] = mu, sigma2, r


@njit(parallel=True, fastmath=_SUMS, cache=True, error_model="numpy")
def _backward(grad, x_hat, weight, inv_std, need_x, dx, dweight, dbias):
    n_images, channels, size = grad.shape
    count = n_images * size
    for c in prange(channels):
        g_sum = 0.0
        gx_sum = 0.0
        for n in range(n_images):
            for s in range(size):
                g = grad[n, c, s]
                g_sum += g
                gx_sum += g * x_hat[n, c, s]
        dbias[c], dweight[c] = g_sum, gx_sum
        if need_x:
            scale = weight[c] * inv_std[c]
            g_mean, gx_mean = g_sum / count, gx_sum / count
            for n in range(n_images):
                for s in range(size):
                    dx[n, c, s] = scale * (grad[n, c, s] - g_mean - x_hat[n, c, s] * gx_mean)


def _as_ncs(a, dtype):
    """(N, C, everything else) view, C-contiguous, in ``dtype``."""
    a = np.ascontiguousarray(a, dtype=dtype)
    return a.reshape(a.shape[0], a.shape[1], -1)


def batchnorm_train_forward(x, weight, bias, eps):
    """(y, x̂, μ, σ², 1/σ) of training-mode batch norm; μ, σ², 1/σ per channel, shape (C,)."""
    dtype = np.result_type(x, weight, bias)
    x3 = _as_ncs(x, dtype)
    channels = x3.shape[1]
    y, x_hat = np.empty_like(x3), np.empty_like(x3)
    mean, var, inv_std = (np.empty(channels, dtype) for _ in range(3))
    _forward(x3, np.asarray(weight, dtype), np.asarray(bias, dtype), float(eps), y, x_hat, mean, var, inv_std)
    return y.reshape(x.shape), x_hat.reshape(x.shape), mean, var, inv_std


def batchnorm_train_backward(grad, x_hat, inv_std, weight, need_x):
    """(∂L/∂x or None, ∂L/∂γ, ∂L/∂β) of training-mode batch norm (see batchnorm_train_forward)."""
    dtype = np.result_type(grad, x_hat)
    g3, xh3 = _as_ncs(grad, dtype), _as_ncs(x_hat, dtype)
    channels = g3.shape[1]
    dx = np.empty_like(g3) if need_x else g3  # (not written when need_x is False)
    dweight, dbias = np.empty(channels, dtype), np.empty(channels, dtype)
    _backward(g3, xh3, np.asarray(weight, dtype), np.asarray(inv_std, dtype), bool(need_x), dx, dweight, dbias)
    return (dx.reshape(grad.shape) if need_x else None), dweight, dbias
