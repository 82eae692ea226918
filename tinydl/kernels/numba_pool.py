# BEGIN SOLUTION assignment=3 remove
"""Max pooling in Numba: one pass over each window, one image per thread (registered as "numba").

    forward:   y[n, c, p, q] = max_{i<KH, j<KW} x[n, c, p·sh + i, q·sw + j],
               argmax[n, c, p, q] = i·KW + j of the first maximum (as the reference, and PyTorch)
    backward:  ∂L/∂x[n, c, p·sh + i*, q·sw + j*] += ∂L/∂y[n, c, p, q] at each window's winner (i*, j*), 0 elsewhere

NaN wins, as in PyTorch: a NaN anywhere in the window makes the output NaN, and
the gradient goes to the last NaN of the window (a tap takes over when it is
larger or NaN: ``v > best or v != v``, one more compare per tap, no extra pass).
These kernels are compiled without fastmath, which would let LLVM assume there
is no NaN and drop that test.

Shapes (NCHW): x (N, C, H, W), y and argmax (N, C, OH, OW), OH = (H − KH) // sh + 1.
Compared with NumPy's strided views (kernels/numpy_pool.py), which make KH·KW
passes over the input and write a full-size comparison mask in each, here every
input number is read once per window that holds it and nothing is written but y.
The two ``*_into`` kernels write into arrays the caller gives; the im2col
strategy (numba_im2col.py) pools its conv output with them, chunk by chunk.
"""

import numpy as np

from ._numba import njit, prange
from .reference import output_size
from .workspace import SHARED_WORKSPACE


@njit(parallel=True, cache=True)
def maxpool_forward_into(x, kh, kw, sh, sw, y, argmax):
    """y[n, c, p, q] = max_{i,j} x[n, c, p·sh + i, q·sw + j];  argmax = i·KW + j of the first maximum
    (or of the last NaN: NaN wins, as in PyTorch)."""
    n_images, channels, oh, ow = y.shape
    for n in prange(n_images):
        for c in range(channels):
            for p in range(oh):
                for q in range(ow):
                    best = x[n, c, p * sh, q * sw]
                    where = 0
                    for i in range(kh):
                        for j in range(kw):
                            v = x[n, c, p * sh + i, q * sw + j]
                            # strict: the first maximum wins ties; a NaN always takes over (NaN > best is false)
                            if v > best or v != v:
                                best = v
                                where = i * kw + j
                    y[n, c, p, q] = best
                    argmax[n, c, p, q] = where


@njit(parallel=True, cache=True)
def maxpool_backward_into(grad_y, argmax, kw, sh, sw, grad_x):
    """grad_x = ∂L/∂y routed to each window's winner, 0 elsewhere (one image per thread; windows may overlap)."""
    n_images, channels, oh, ow = grad_y.shape
    for n in prange(n_images):
        grad_x[n] = 0.0
        for c in range(channels):
            for p in range(oh):
                for q in range(ow):
                    k = argmax[n, c, p, q]
                    grad_x[n, c, p * sh + k // kw, q * sw + k % kw] += grad_y[n, c, p, q]


def maxpool2d_forward(x, kernel, stride, workspace=SHARED_WORKSPACE):
    """(y, argmax) of max pooling x (N, C, H, W) with windows ``kernel`` = (KH, KW) every ``stride``."""
    (kh, kw), (sh, sw) = kernel, stride
    n_images, channels, height, width = x.shape
    oh, ow = output_size(height, kh, sh, 0), output_size(width, kw, sw, 0)
    y = workspace.empty((n_images, channels, oh, ow), x.dtype)
    argmax = workspace.empty((n_images, channels, oh, ow), np.int32)
    maxpool_forward_into(np.ascontiguousarray(x), kh, kw, sh, sw, y, argmax)
    return y, argmax


def maxpool2d_backward(grad_y, argmax, x_shape, kernel, stride, workspace=SHARED_WORKSPACE):
    """∂L/∂x (shape ``x_shape``) from ∂L/∂y and the forward's argmax."""
    (_, kw), (sh, sw) = kernel, stride
    grad_x = workspace.empty(x_shape, grad_y.dtype)
    maxpool_backward_into(np.ascontiguousarray(grad_y), argmax, kw, sh, sw, grad_x)
    return grad_x


def pooled_outputs(conv_shape, pool_kernel, pool_stride, dtype, workspace=SHARED_WORKSPACE):
    """New (y, argmax) arrays (contents undefined) for max pooling an array of shape ``conv_shape`` (N, C, OH, OW),
    as the fused conv → ReLU → max-pool op returns them."""
    (pkh, pkw), (psh, psw) = pool_kernel, pool_stride
    n_images, channels, oh, ow = conv_shape
    y = workspace.empty((n_images, channels, output_size(oh, pkh, psh, 0), output_size(ow, pkw, psw, 0)), dtype)
    # Which tap of its pooling window won: int8 is enough for windows of up to 127 taps (4× less memory).
    return y, workspace.empty(y.shape, np.int8 if pkh * pkw <= 127 else np.int32)


# END SOLUTION
