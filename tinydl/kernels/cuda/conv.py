# BEGIN SOLUTION assignment=3 remove
"""Launchers of conv.cu: convolution on the GPU, as im2col + cuBLAS or as one implicit-GEMM kernel.

Two implementations of the ``conv2d`` roles of :mod:`tinydl.kernels`, with the
CPU kernels' signatures (NCHW, ``stride`` and ``padding`` pairs):

* :data:`im2col` (registered as ``cupy_im2col``): im2col / col2im kernels and
  matrix products through ``xp.matmul`` (cuBLAS on the GPU);
* :data:`direct` (``cupy_direct``): the three products as one tiled kernel each
  that reads x and ∂L/∂y through im2col's index map (no cols matrix); the
  weight gradient split along its long depth (split-K), partial sums added here.

The fused conv → ReLU → max-pool roles are composed from these and pool.cu's
max-pool (ReLU after the pool, as on the CPU), so they need no kernel of their own.
NaN and ±Inf as in PyTorch: pool.cu lets NaN win, ``maximum`` keeps NaN, and
ReLU's derivative (reference.relu_backward) passes the gradient of a NaN.
"""

from types import SimpleNamespace

import numpy as np

from ...backend import array_module
from ..reference import relu_backward
from . import launch as _launch
from .launch import ceil_div, check_index_range, empty, launch, suffix

# Blocks the split-K weight gradient aims for: a few per SM of a large GPU (an H100/H200 has 132
# SMs), so that every SM has work while one block waits on memory.
SPLIT_K_TARGET_BLOCKS = 528


def tiles():
    """Tile edges of conv.cu (IM2COL_THREADS, GEMM_BM, GEMM_BN, GEMM_BK, GEMM_TM, GEMM_TN, GEMM_THREADS)."""
    return _launch.tiles("conv")


def output_hw(x_shape, w_shape, stride, padding):
    return tuple((n + 2 * p - k) // s + 1 for n, k, s, p in zip(x_shape[2:], w_shape[2:], stride, padding))


def shape_args(x_shape, w_shape, stride, padding):
    """The 13 sizes every conv.cu kernel takes (ConvShape's order), as int32 scalars."""
    n, c, h, w = x_shape
    o, _, kh, kw = w_shape
    oh, ow = output_hw(x_shape, w_shape, stride, padding)
    return tuple(np.int32(v) for v in (n, c, h, w, o, kh, kw, oh, ow, *stride, *padding))


def plan_elementwise(total):
    """(grid, block) of im2col / col2im: one thread per element, IM2COL_THREADS per block."""
    threads = tiles().IM2COL_THREADS
    return (max(1, ceil_div(total, threads)), 1, 1), (threads, 1, 1)


def plan_gemm(rows, columns, splits=1):
    """(grid, block) of an implicit GEMM: one block per GEMM_BM × GEMM_BN tile, ``splits`` slices of the depth."""
    t = tiles()
    return (ceil_div(columns, t.GEMM_BN), ceil_div(rows, t.GEMM_BM), splits), (t.GEMM_THREADS, 1, 1)


def plan_split_k(rows, columns, depth):
    """(splits, depth_per_split) for the weight gradient: enough slices to fill the GPU, each a whole
    number of GEMM_BK steps, and no empty slice."""
    t = tiles()
    blocks = ceil_div(rows, t.GEMM_BM) * ceil_div(columns, t.GEMM_BN)
    splits = max(1, min(ceil_div(SPLIT_K_TARGET_BLOCKS, blocks), ceil_div(depth, t.GEMM_BK)))
    per_split = ceil_div(ceil_div(depth, splits), t.GEMM_BK) * t.GEMM_BK
    return ceil_div(depth, per_split), per_split


def _prepare(where, *arrays):
    xp = array_module(*arrays)
    arrays = tuple(xp.ascontiguousarray(a) for a in arrays)
    check_index_range(where, *(a.size for a in arrays))
    suffix(arrays[0].dtype)  # float32 or float64, else a clear error
    return (xp,) + arrays


# ------------------------------------------------------------------ im2col + GEMM
def im2col_matrix(x, w_shape, stride, padding):
    """cols[(c, i, j)][(n, p, q)]: every window of x as a column (C·KH·KW × N·OH·OW)."""
    xp, x = _prepare("im2col", x)
    sizes = shape_args(x.shape, w_shape, stride, padding)
    oh, ow = output_hw(x.shape, w_shape, stride, padding)
    rows, columns = w_shape[1] * w_shape[2] * w_shape[3], x.shape[0] * oh * ow
    check_index_range("im2col", rows * columns)
    cols = empty(xp, (rows, columns), x.dtype)
    grid, block = plan_elementwise(rows * columns)
    launch("conv", f"im2col{suffix(x.dtype)}", grid, block, (x, cols) + sizes)
    return cols


def _as_matrix(grad_y):
    """(N, O, OH, OW) → (O, N·OH·OW), the layout of the GEMM's output."""
    n, o = grad_y.shape[:2]
    return grad_y.transpose(1, 0, 2, 3).reshape(o, -1)


def im2col_conv2d_forward(x, w, bias, stride, padding):
    """y = W · cols(x) (+ b), by cuBLAS."""
    xp, x, w = _prepare("conv2d", x, w)
    cols = im2col_matrix(x, w.shape, stride, padding)
    oh, ow = output_hw(x.shape, w.shape, stride, padding)
    y = w.reshape(w.shape[0], -1) @ cols  # (O, N·OH·OW)
    if bias is not None:
        y += bias.reshape(-1, 1)
    return xp.ascontiguousarray(y.reshape(w.shape[0], x.shape[0], oh, ow).transpose(1, 0, 2, 3))


def im2col_conv2d_backward_input(grad_y, w, x_shape, stride, padding):
    """∂L/∂cols = Wᵀ · ∂L/∂y, then col2im adds each column back onto its pixels."""
    xp, grad_y, w = _prepare("conv2d backward", grad_y, w)
    grad_cols = xp.ascontiguousarray(w.reshape(w.shape[0], -1).T @ _as_matrix(grad_y))
    grad_x = empty(xp, tuple(x_shape), grad_y.dtype)
    check_index_range("col2im", grad_cols.size, grad_x.size)
    grid, block = plan_elementwise(grad_x.size)
    launch(
        "conv",
        f"col2im{suffix(grad_y.dtype)}",
        grid,
        block,
        (grad_cols, grad_x) + shape_args(x_shape, w.shape, stride, padding),
    )
    return grad_x


def im2col_conv2d_backward_weight(grad_y, x, w_shape, stride, padding):
    """∂L/∂W = ∂L/∂y · colsᵀ."""
    xp, grad_y, x = _prepare("conv2d backward", grad_y, x)
    cols = im2col_matrix(x, w_shape, stride, padding)
    return (_as_matrix(grad_y) @ cols.T).reshape(w_shape)


# ------------------------------------------------------------------ implicit GEMM
def direct_conv2d_forward(x, w, bias, stride, padding):
    """y = W · cols(x) (+ b) in one kernel that gathers cols from x as it goes."""
    xp, x, w = _prepare("conv2d", x, w)
    oh, ow = output_hw(x.shape, w.shape, stride, padding)
    y = empty(xp, (x.shape[0], w.shape[0], oh, ow), x.dtype)
    check_index_range("conv2d", y.size)
    has_bias = bias is not None
    bias = xp.ascontiguousarray(bias, dtype=x.dtype) if has_bias else w  # not read when has_bias = 0
    grid, block = plan_gemm(w.shape[0], x.shape[0] * oh * ow)
    launch(
        "conv",
        f"conv_forward{suffix(x.dtype)}",
        grid,
        block,
        (x, w, bias, y, np.int32(has_bias)) + shape_args(x.shape, w.shape, stride, padding),
    )
    return y


def direct_conv2d_backward_input(grad_y, w, x_shape, stride, padding):
    """∂L/∂x[n, c, h, w] = Σ_{o,i,j} w[o, c, i, j] · ∂L/∂y at the output that read (h, w) through tap (i, j).

    The kernel multiplies w by 0 for the taps that read no output (padding, stride gaps);
    with a NaN or infinite weight that gives NaN where plain arithmetic (the reference,
    PyTorch) adds nothing. So non-finite filters go to im2col's col2im, which adds only
    real products. (The check reduces O·C·KH·KW numbers and waits for the answer.)
    """
    xp, grad_y, w = _prepare("conv2d backward", grad_y, w)
    if not bool(xp.isfinite(w).all()):
        return im2col_conv2d_backward_input(grad_y, w, x_shape, stride, padding)
    grad_x = empty(xp, tuple(x_shape), grad_y.dtype)
    check_index_range("conv2d backward", grad_x.size)
    n, c, h, wd = x_shape
    grid, block = plan_gemm(c, n * h * wd)
    launch(
        "conv",
        f"conv_backward_input{suffix(grad_y.dtype)}",
        grid,
        block,
        (grad_y, w, grad_x) + shape_args(x_shape, w.shape, stride, padding),
    )
    return grad_x


def direct_conv2d_backward_weight(grad_y, x, w_shape, stride, padding):
    """∂L/∂W = ∂L/∂y · cols(x)ᵀ, the depth N·OH·OW split into slices whose partial sums are added here."""
    xp, grad_y, x = _prepare("conv2d backward", grad_y, x)
    o = w_shape[0]
    columns = w_shape[1] * w_shape[2] * w_shape[3]
    depth = grad_y.shape[0] * grad_y.shape[2] * grad_y.shape[3]
    splits, per_split = plan_split_k(o, columns, depth)
    partial = empty(xp, (splits, o, columns), grad_y.dtype)
    check_index_range("conv2d backward", partial.size)
    grid, block = plan_gemm(o, columns, splits)
    launch(
        "conv",
        f"conv_backward_weight{suffix(grad_y.dtype)}",
        grid,
        block,
        (grad_y, x, partial, np.int32(per_split)) + shape_args(x.shape, w_shape, stride, padding),
    )
    return partial.sum(axis=0).reshape(w_shape)


# ------------------------------------------------------------------ the kernel sets the registry loads
def _fused(conv):
    """conv → ReLU → max-pool from a conv kernel set and pool.cu's max-pool (tinydl.kernels.reference's recipe)."""
    from . import pool

    def forward(x, w, bias, stride, padding, pool_kernel, pool_stride):
        pooled, argmax = pool.maxpool2d_forward(
            conv.conv2d_forward(x, w, bias, stride, padding), pool_kernel, pool_stride
        )
        return array_module(pooled).maximum(pooled, 0), argmax

    def backward(grad_y, y, argmax, x, w, stride, padding, pool_kernel, pool_stride, need_input_grad):
        grad_pooled = relu_backward(grad_y, y, array_module(grad_y))  # a NaN y passes the gradient, as in PyTorch
        conv_shape = (x.shape[0], w.shape[0]) + output_hw(x.shape, w.shape, stride, padding)
        grad_conv = pool.maxpool2d_backward(grad_pooled, argmax, conv_shape, pool_kernel, pool_stride)
        grad_x = conv.conv2d_backward_input(grad_conv, w, x.shape, stride, padding) if need_input_grad else None
        grad_w = conv.conv2d_backward_weight(grad_conv, x, w.shape, stride, padding)
        return grad_x, grad_w, grad_pooled.sum(axis=(0, 2, 3))

    conv.conv2d_relu_maxpool2d_forward, conv.conv2d_relu_maxpool2d_backward = forward, backward
    return conv


im2col = _fused(
    SimpleNamespace(
        conv2d_forward=im2col_conv2d_forward,
        conv2d_backward_input=im2col_conv2d_backward_input,
        conv2d_backward_weight=im2col_conv2d_backward_weight,
    )
)
direct = _fused(
    SimpleNamespace(
        conv2d_forward=direct_conv2d_forward,
        conv2d_backward_input=direct_conv2d_backward_input,
        conv2d_backward_weight=direct_conv2d_backward_weight,
    )
)
# END SOLUTION
