# BEGIN SOLUTION assignment=3 remove
"""Launchers of pool.cu: max-pooling (the ``maxpool2d`` roles of :mod:`tinydl.kernels`) and average pooling.

Same signatures and argmax convention as the CPU kernels: ``argmax`` is int32,
the flat position i·KW + j of each window's winner, the first one on ties.
"""

import numpy as np

from ...backend import array_module
from .launch import ceil_div, check_index_range, empty, launch, suffix, tiles


def plan(total):
    """(grid, block): one thread per element, POOL_THREADS (from pool.cu) per block."""
    threads = tiles("pool").POOL_THREADS
    return (max(1, ceil_div(total, threads)), 1, 1), (threads, 1, 1)


def _sizes(x_shape, kernel, stride):
    """The 10 sizes of PoolShape, as int32 scalars, and the output shape."""
    n, c, h, w = x_shape
    (kh, kw), (sh, sw) = kernel, stride
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    sizes = tuple(np.int32(v) for v in (n, c, h, w, kh, kw, sh, sw, oh, ow))
    return sizes, (n, c, oh, ow)


def _contiguous(where, *arrays):
    xp = array_module(*arrays)
    arrays = tuple(xp.ascontiguousarray(a) for a in arrays)
    check_index_range(where, *(a.size for a in arrays))
    return (xp,) + arrays


def maxpool2d_forward(x, kernel, stride):
    """(y, argmax) of max-pooling: one thread per output."""
    xp, x = _contiguous("max_pool2d", x)
    sizes, out_shape = _sizes(x.shape, kernel, stride)
    y, argmax = empty(xp, out_shape, x.dtype), empty(xp, out_shape, np.int32)
    grid, block = plan(y.size)
    launch("pool", f"maxpool_forward{suffix(x.dtype)}", grid, block, (x, y, argmax) + sizes)
    return y, argmax


def maxpool2d_backward(grad_y, argmax, x_shape, kernel, stride):
    """∂L/∂x: each input pixel gathers the gradients of the windows it won."""
    xp, grad_y, argmax = _contiguous("max_pool2d backward", grad_y, argmax)
    argmax = argmax.astype(np.int32, copy=False)
    sizes, _ = _sizes(x_shape, kernel, stride)
    grad_x = empty(xp, tuple(x_shape), grad_y.dtype)
    check_index_range("max_pool2d backward", grad_x.size)
    grid, block = plan(grad_x.size)
    launch("pool", f"maxpool_backward{suffix(grad_y.dtype)}", grid, block, (grad_y, argmax, grad_x) + sizes)
    return grad_x


def avgpool2d_forward(x, kernel, stride):
    """y: the mean of each window, one thread per output."""
    xp, x = _contiguous("avg_pool2d", x)
    sizes, out_shape = _sizes(x.shape, kernel, stride)
    y = empty(xp, out_shape, x.dtype)
    grid, block = plan(y.size)
    launch("pool", f"avgpool_forward{suffix(x.dtype)}", grid, block, (x, y) + sizes)
    return y


def avgpool2d_backward(grad_y, x_shape, kernel, stride):
    """∂L/∂x: each input pixel gathers 1/(KH·KW) of the gradient of every window that contains it."""
    xp, grad_y = _contiguous("avg_pool2d backward", grad_y)
    sizes, _ = _sizes(x_shape, kernel, stride)
    grad_x = empty(xp, tuple(x_shape), grad_y.dtype)
    check_index_range("avg_pool2d backward", grad_x.size)
    grid, block = plan(grad_x.size)
    launch("pool", f"avgpool_backward{suffix(grad_y.dtype)}", grid, block, (grad_y, grad_x) + sizes)
    return grad_x


# END SOLUTION
