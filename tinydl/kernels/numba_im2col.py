# BEGIN SOLUTION assignment=3 remove
"""Convolution as im2col + BLAS, with the copies in Numba (registered as "numba_im2col").

The way most frameworks convolve on a CPU, in three steps:

1. **im2col** (Numba): copy the window under each output position of image n
   into column p of a matrix ``cols[n]`` of shape (C·KH·KW, OH·OW);
2. **GEMM** (BLAS, through NumPy's batched ``matmul``): with the filters as a
   matrix W of shape (O, C·KH·KW), the output image is one matrix product,
   ``y[n] = W · cols[n]`` — already in NCHW order, so no transpose is needed;
3. for the input gradient, **col2im** (Numba): the adjoint of im2col, adding
   each column of ``Wᵀ · ∂L/∂y[n]`` back onto the window it came from.

Images are processed in chunks whose ``cols`` take about ``chunk_bytes``
(default CHUNK_BYTES), so that the buffer stays in cache and is reused from
call to call instead of being allocated afresh (fresh memory costs a page
fault per 4 KiB on first touch, see docs/performance.md). Every parallel loop
is race-free: each thread writes only its own images.

When it wins: it handles every stride and padding, and BLAS runs the product
near the machine's peak, so it is the automatic choice (``numba``, see
numba_conv.fastest_strategy) for strided layers and for layers with few taps
(C·KH·KW), where the implicit GEMM's register tiles do not pay. It also has
the fused conv → ReLU → max-pool op for large filters: conv output chunk by
chunk into a reused buffer, pooled at once (numba_pool), never stored whole.

Shapes (NCHW, as PyTorch):  x (N, C, H, W),  w (O, C, KH, KW),  y (N, O, OH, OW).
"""

import numpy as np

from ._numba import njit, prange
from .numba_pool import maxpool_backward_into, maxpool_forward_into, pooled_outputs
from .reference import output_size, pad_images_contiguous, relu_backward
from .workspace import SHARED_WORKSPACE

CHUNK_BYTES = 8 << 20  # default target size of one chunk's ``cols``
# default target size of one chunk's conv output in the fused op (measured: smaller chunks
# cost more in calls than they save in cache misses)
FUSED_CHUNK_BYTES = 4 << 20


def _chunks(n_images, per_image_bytes, target_bytes):
    """(start, stop) ranges of images whose buffers together take about ``target_bytes`` (at least one image each)."""
    step = max(1, min(n_images, target_bytes // max(per_image_bytes, 1)))
    return [(n0, min(n0 + step, n_images)) for n0 in range(0, n_images, step)]


# ------------------------------------------------------------------ im2col / col2im
@njit(cache=True)
def _im2col_image(image, kh, kw, sh, sw, oh, ow, cols):
    """cols[(c·KH + i)·KW + j, p·OW + q] = image[c, p·sh + i, q·sw + j]   (one image, one thread)."""
    channels = image.shape[0]
    for c in range(channels):
        for i in range(kh):
            for j in range(kw):
                row = cols[(c * kh + i) * kw + j]
                for p in range(oh):
                    x_row = image[c, p * sh + i]
                    start = p * ow
                    if sw == 1:  # the common case: a contiguous copy the compiler vectorises
                        for q in range(ow):
                            row[start + q] = x_row[q + j]
                    else:
                        for q in range(ow):
                            row[start + q] = x_row[q * sw + j]


@njit(parallel=True, cache=True)
def im2col(xp, kh, kw, sh, sw, oh, ow, cols):
    """cols[n, (c·KH + i)·KW + j, p·OW + q] = xp[n, c, p·sh + i, q·sw + j]   (one image per thread)."""
    for n in prange(xp.shape[0]):
        _im2col_image(xp[n], kh, kw, sh, sw, oh, ow, cols[n])


@njit(parallel=True, cache=True)
def col2im(cols, kh, kw, sh, sw, oh, ow, grad_xp):
    """grad_xp[n, c, p·sh + i, q·sw + j] = Σ cols[n, (c·KH + i)·KW + j, p·OW + q]   (the adjoint of im2col)."""
    n_images, channels = grad_xp.shape[0], grad_xp.shape[1]
    for n in prange(n_images):
        grad_xp[n] = 0.0
        for c in range(channels):
            for i in range(kh):
                for j in range(kw):
                    row = cols[n, (c * kh + i) * kw + j]
                    for p in range(oh):
                        g_row = grad_xp[n, c, p * sh + i]
                        start = p * ow
                        if sw == 1:
                            for q in range(ow):
                                g_row[q + j] += row[start + q]
                        else:
                            for q in range(ow):
                                g_row[q * sw + j] += row[start + q]


def _cols_for(xp, n0, n1, kernel, stride, out_hw, dtype, workspace):
    """im2col of images n0..n1 of the padded input into the workspace's reusable ``cols``."""
    (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out_hw
    cols = workspace.scratch("cols", (n1 - n0, xp.shape[1] * kh * kw, oh * ow), dtype)
    im2col(xp[n0:n1], kh, kw, sh, sw, oh, ow, cols)
    return cols


# ------------------------------------------------------------------ the registry's conv2d roles
def conv2d_forward(x, w, bias, stride, padding, chunk_bytes=CHUNK_BYTES, workspace=SHARED_WORKSPACE):
    """y[n] = W · im2col(x[n]) + b   (O, C·KH·KW) · (C·KH·KW, OH·OW), chunk by chunk via BLAS."""
    n_images, channels, height, width = x.shape
    n_filters, _, kh, kw = w.shape
    oh, ow = output_size(height, kh, stride[0], padding[0]), output_size(width, kw, stride[1], padding[1])
    dtype = np.result_type(x, w)
    xp = pad_images_contiguous(x, padding, dtype)
    w2d = np.ascontiguousarray(w, dtype=dtype).reshape(n_filters, channels * kh * kw)
    y = workspace.empty((n_images, n_filters, oh * ow), dtype)
    for n0, n1 in _chunks(n_images, w2d.shape[1] * oh * ow * y.itemsize, chunk_bytes):
        np.matmul(w2d, _cols_for(xp, n0, n1, (kh, kw), stride, (oh, ow), dtype, workspace), out=y[n0:n1])
    if bias is not None:
        y += bias.astype(dtype, copy=False).reshape(1, -1, 1)
    return y.reshape(n_images, n_filters, oh, ow)


def conv2d_backward_weight(grad_y, x, w_shape, stride, padding, chunk_bytes=CHUNK_BYTES, workspace=SHARED_WORKSPACE):
    """∂L/∂W = Σ_n ∂L/∂y[n] · im2col(x[n])ᵀ   (O, OH·OW) · (OH·OW, C·KH·KW), chunk by chunk via BLAS."""
    n_images, n_filters, oh, ow = grad_y.shape
    dtype = grad_y.dtype
    filter_size = w_shape[1] * w_shape[2] * w_shape[3]
    xp = pad_images_contiguous(x, padding, dtype)
    g3 = grad_y.reshape(n_images, n_filters, oh * ow)
    grad_w = np.zeros((n_filters, filter_size), dtype=dtype)
    for n0, n1 in _chunks(n_images, filter_size * oh * ow * grad_y.itemsize, chunk_bytes):
        cols = _cols_for(xp, n0, n1, w_shape[2:], stride, (oh, ow), dtype, workspace)
        grad_w += np.matmul(g3[n0:n1], cols.transpose(0, 2, 1)).sum(axis=0)
    return grad_w.reshape(w_shape)


def conv2d_backward_input(grad_y, w, x_shape, stride, padding, chunk_bytes=CHUNK_BYTES, workspace=SHARED_WORKSPACE):
    """∂L/∂x = col2im(Wᵀ · ∂L/∂y[n]) for each image, then the padding is cut off."""
    n_images, channels, height, width = x_shape
    n_filters, _, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, padding
    _, _, oh, ow = grad_y.shape
    dtype = grad_y.dtype
    w_t = np.ascontiguousarray(np.asarray(w, dtype=dtype).reshape(n_filters, channels * kh * kw).T)
    g3 = np.ascontiguousarray(grad_y).reshape(n_images, n_filters, oh * ow)
    grad_xp = workspace.empty((n_images, channels, height + 2 * ph, width + 2 * pw), dtype)
    for n0, n1 in _chunks(n_images, w_t.shape[0] * oh * ow * grad_y.itemsize, chunk_bytes):
        grad_cols = workspace.scratch("cols", (n1 - n0, w_t.shape[0], oh * ow), dtype)
        np.matmul(w_t, g3[n0:n1], out=grad_cols)
        col2im(grad_cols, kh, kw, sh, sw, oh, ow, grad_xp[n0:n1])
    if ph or pw:
        return grad_xp[:, :, ph : ph + height, pw : pw + width]
    return grad_xp


# ------------------------------------------------------------------ the registry's conv2d_relu_maxpool2d roles
def conv2d_relu_maxpool2d_forward(
    x, w, bias, stride, padding, pool_kernel, pool_stride, chunk_bytes=FUSED_CHUNK_BYTES, workspace=SHARED_WORKSPACE
):
    """y = relu(maxpool(conv2d(x, w) + b)), chunk by chunk: im2col + GEMM into a reused buffer, then pooled.

    The full-size conv output is never stored: each chunk of about ``chunk_bytes``
    is pooled as soon as it is computed. Bias and ReLU come last, on the pooled
    output (a quarter of the size): max(z + b) = max(z) + b, max(relu(z)) = relu(max(z)).

    NaN and ±Inf as in PyTorch: the pooling lets NaN win (numba_pool), np.maximum keeps
    NaN. max(z + b) = max(z) + b fails only for a bias that is NaN or infinite (z + b is
    NaN wherever z = −b = ±Inf, or everywhere when b is NaN, and the last NaN wins): with
    such a bias it is added before the pooling, so that the same tap wins as unfused.
    """
    n_images, channels, height, width = x.shape
    n_filters, _, kh, kw = w.shape
    oh, ow = output_size(height, kh, stride[0], padding[0]), output_size(width, kw, stride[1], padding[1])
    (pkh, pkw), (psh, psw) = pool_kernel, pool_stride
    dtype = np.result_type(x, w)
    xp = pad_images_contiguous(x, padding, dtype)
    taps = channels * kh * kw
    w2d = np.ascontiguousarray(w, dtype=dtype).reshape(n_filters, taps)
    y, argmax = pooled_outputs((n_images, n_filters, oh, ow), pool_kernel, pool_stride, dtype, workspace)
    b = np.zeros(n_filters, dtype) if bias is None else np.asarray(bias, dtype=dtype)
    bias_first = not np.isfinite(b).all()  # O numbers: no cost; see the docstring
    per_image = max(taps, n_filters) * oh * ow * y.itemsize
    for n0, n1 in _chunks(n_images, per_image, chunk_bytes):
        conv = workspace.scratch("conv", (n1 - n0, n_filters, oh * ow), dtype)
        np.matmul(w2d, _cols_for(xp, n0, n1, (kh, kw), stride, (oh, ow), dtype, workspace), out=conv)
        if bias_first:
            conv += b.reshape(1, -1, 1)
        maxpool_forward_into(conv.reshape(n1 - n0, n_filters, oh, ow), pkh, pkw, psh, psw, y[n0:n1], argmax[n0:n1])
    if not bias_first:
        y += b.reshape(1, -1, 1, 1)
    np.maximum(y, 0, out=y)
    return y, argmax


def conv2d_relu_maxpool2d_backward(
    grad_y,
    y,
    argmax,
    x,
    w,
    stride,
    padding,
    pool_kernel,
    pool_stride,
    need_input_grad,
    chunk_bytes=FUSED_CHUNK_BYTES,
    workspace=SHARED_WORKSPACE,
):
    """(∂L/∂x or None, ∂L/∂w, ∂L/∂b): ∂L/∂y except where y ≤ 0 (ReLU), routed to each window's winner, then the
    conv backward (∂L/∂W = Σ g·colsᵀ, ∂L/∂x = col2im(Wᵀ·g)), chunk by chunk."""
    n_images, channels, height, width = x.shape
    n_filters, _, kh, kw = w.shape
    (ph, pw) = padding
    oh, ow = output_size(height, kh, stride[0], ph), output_size(width, kw, stride[1], pw)
    (_, pkw), (psh, psw) = pool_kernel, pool_stride
    dtype = grad_y.dtype
    xp = pad_images_contiguous(x, padding, dtype)
    filter_size = channels * kh * kw
    w2d = np.ascontiguousarray(np.asarray(w, dtype=dtype).reshape(n_filters, filter_size))
    grad_xp = workspace.empty((n_images, channels, height + 2 * ph, width + 2 * pw), dtype) if need_input_grad else None
    grad_pooled = relu_backward(grad_y, y)  # ReLU's derivative (a NaN passes it), on the small pooled output
    grad_w, grad_b = np.zeros((n_filters, filter_size), dtype=dtype), grad_pooled.sum(axis=(0, 2, 3))
    w_t = np.ascontiguousarray(w2d.T)
    per_image = max(filter_size, n_filters) * oh * ow * grad_y.itemsize
    for n0, n1 in _chunks(n_images, per_image, chunk_bytes):
        grad_conv = workspace.scratch("conv", (n1 - n0, n_filters, oh, ow), dtype)
        maxpool_backward_into(grad_pooled[n0:n1], argmax[n0:n1], pkw, psh, psw, grad_conv)
        g3 = grad_conv.reshape(n1 - n0, n_filters, oh * ow)
        cols = _cols_for(xp, n0, n1, (kh, kw), stride, (oh, ow), dtype, workspace)
        grad_w += np.matmul(g3, cols.transpose(0, 2, 1)).sum(axis=0)
        if need_input_grad:
            np.matmul(w_t, g3, out=cols)  # cols is free again: reuse it for ∂L/∂cols
            col2im(cols, kh, kw, stride[0], stride[1], oh, ow, grad_xp[n0:n1])
    grad_x = None
    if need_input_grad:
        grad_x = grad_xp[:, :, ph : ph + height, pw : pw + width] if ph or pw else grad_xp
    return grad_x, np.ascontiguousarray(grad_w).reshape(w.shape), grad_b


# END SOLUTION
