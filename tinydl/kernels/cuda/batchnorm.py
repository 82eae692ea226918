"""Launchers of batchnorm.cu: the ``batchnorm`` roles of :mod:`tinydl.kernels` on the GPU (one block per channel)."""

import numpy as np

from ...backend import array_module
from .launch import check_index_range, empty, launch, suffix, tiles


def plan(channels):
    """(grid, block): one block of BN_THREADS (from batchnorm.cu) per channel."""
    return (max(1, channels), 1, 1), (tiles("batchnorm").BN_THREADS, 1, 1)


def _as_ncs(xp, a, dtype):
    a = xp.ascontiguousarray(a, dtype=dtype)
    return a.reshape(a.shape[0], a.shape[1], -1)


def batchnorm_train_forward(x, weight, bias, eps):
    """(y, x̂, μ, σ², 1/σ) of training-mode batch norm; μ, σ², 1/σ per channel, shape (C,)."""
    xp = array_module(x, weight, bias)
    dtype = xp.result_type(x.dtype, weight.dtype, bias.dtype)
    x3 = _as_ncs(xp, x, dtype)
    n, channels, size = x3.shape
    check_index_range("batch_norm", x3.size)
    y, x_hat = empty(xp, x3.shape, dtype), empty(xp, x3.shape, dtype)
    mean, var, inv_std = (empty(xp, (channels,), dtype) for _ in range(3))
    grid, block = plan(channels)
    launch(
        "batchnorm",
        f"batchnorm_forward{suffix(dtype)}",
        grid,
        block,
        (
            x3,
            xp.ascontiguousarray(weight, dtype=dtype),
            xp.ascontiguousarray(bias, dtype=dtype),
            y,
            x_hat,
            mean,
            var,
            inv_std,
            np.int32(n),
            np.int32(channels),
            np.int32(size),
            np.float64(eps),
        ),
    )
    return y.reshape(x.shape), x_hat.reshape(x.shape), mean, var, inv_std


def batchnorm_train_backward(grad, x_hat, inv_std, weight, need_x):
    """(∂L/∂x or None, ∂L/∂γ, ∂L/∂β) of training-mode batch norm."""
    xp = array_module(grad, x_hat)
    dtype = xp.result_type(grad.dtype, x_hat.dtype)
    g3, xh3 = _as_ncs(xp, grad, dtype), _as_ncs(xp, x_hat, dtype)
    n, channels, size = g3.shape
    check_index_range("batch_norm backward", g3.size)
    grad_x = empty(xp, g3.shape, dtype) if need_x else g3  # not written when need_x is 0
    grad_weight, grad_bias = empty(xp, (channels,), dtype), empty(xp, (channels,), dtype)
    grid, block = plan(channels)
    launch(
        "batchnorm",
        f"batchnorm_backward{suffix(dtype)}",
        grid,
        block,
        (
            g3,
            xh3,
            xp.ascontiguousarray(inv_std, dtype=dtype),
            xp.ascontiguousarray(weight, dtype=dtype),
            grad_x,
            grad_weight,
            grad_bias,
            np.int32(n),
            np.int32(channels),
            np.int32(size),
            np.int32(bool(need_x)),
        ),
    )
    return (grad_x.reshape(grad.shape) if need_x else None), grad_weight, grad_bias
