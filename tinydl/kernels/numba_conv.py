"""Numba kernels for convolution and max-pooling on the CPU.

Two ways to convolve, chosen by how much work each output does:

* **direct** — when a filter is small (C·KH·KW ≤ 32, e.g. the first layer of
  a CNN on grey images: 1·3·3 = 9), each output is a handful of multiply-adds.
  A matrix product would spend its time copying, so we loop over the output
  image directly, one image per thread.
* **im2col + GEMM** — when filters are large (e.g. 32·3·3 = 288), the
  arithmetic dominates and BLAS does it 10× faster than any loop we write.
  We copy the windows of a *chunk* of images into a matrix ``cols`` of shape
  (C·KH·KW, B·OH·OW) and do one matrix product per chunk. Chunks keep
  ``cols`` a few MiB, so it stays in cache and is reused across calls
  instead of being allocated afresh (fresh memory costs a page fault per
  4 KiB on first touch, see PERF-NOTES).

Every parallel loop is race-free: each thread writes only outputs that no
other thread writes (its own images, filters or channels).

Shapes (NCHW, as PyTorch):  x (N, C, H, W),  w (O, C, KH, KW),  y (N, O, OH, OW).
"""
import numpy as np

from ._numba import njit, prange
from .reference import output_size

DIRECT_MAX_FILTER_SIZE = 32  # C·KH·KW up to which the direct kernels beat im2col + BLAS
CHUNK_BYTES = 4 << 20  # target size of one chunk's ``cols`` matrix

# One reusable buffer per dtype for ``cols`` (see the module docstring). Not thread-safe:
# tinydl runs one training step at a time.
_workspace = {}


def _buffer(size, dtype):
    buf = _workspace.get(dtype)
    if buf is None or buf.size < size:
        buf = np.empty(size, dtype=dtype)
        _workspace[dtype] = buf
    return buf[:size]


def _padded(x, padding):
    """Zero-pad the spatial axes (a copy only when there is padding)."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return np.ascontiguousarray(x)
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def _chunk_size(n_images, filter_size, positions, itemsize):
    per_image = filter_size * positions * itemsize
    return max(1, min(n_images, CHUNK_BYTES // max(per_image, 1)))


# ------------------------------------------------------------------ direct kernels
@njit(parallel=True, cache=True)
def _direct_forward(xp, w, bias, y, sh, sw):
    """y[n, o, p, q] = b[o] + Σ_{c,i,j} w[o, c, i, j] · xp[n, c, p·sh + i, q·sw + j]   (one image per thread)."""
    n_images, n_filters, oh, ow = y.shape
    channels, kh, kw = w.shape[1], w.shape[2], w.shape[3]
    for n in prange(n_images):
        for o in range(n_filters):
            for p in range(oh):
                row = y[n, o, p]
                for q in range(ow):
                    row[q] = bias[o]
                for c in range(channels):
                    for i in range(kh):
                        x_row = xp[n, c, p * sh + i]
                        for j in range(kw):
                            weight = w[o, c, i, j]
                            for q in range(ow):  # contiguous in y: vectorised
                                row[q] += weight * x_row[q * sw + j]


@njit(parallel=True, cache=True)
def _direct_backward_weight(grad_y, xp, grad_w, sh, sw):
    """∂L/∂w[o, c, i, j] = Σ_{n,p,q} ∂L/∂y[n, o, p, q] · xp[n, c, p·sh + i, q·sw + j]   (one filter per thread)."""
    n_images, n_filters, oh, ow = grad_y.shape
    channels, kh, kw = grad_w.shape[1], grad_w.shape[2], grad_w.shape[3]
    for o in prange(n_filters):
        for c in range(channels):
            for i in range(kh):
                for j in range(kw):
                    total = 0.0
                    for n in range(n_images):
                        for p in range(oh):
                            g_row = grad_y[n, o, p]
                            x_row = xp[n, c, p * sh + i]
                            for q in range(ow):
                                total += g_row[q] * x_row[q * sw + j]
                    grad_w[o, c, i, j] = total


@njit(parallel=True, cache=True)
def _direct_backward_input(grad_y, w, grad_xp, sh, sw):
    """∂L/∂xp[n, c, p·sh + i, q·sw + j] += Σ_o ∂L/∂y[n, o, p, q] · w[o, c, i, j]   (one image per thread)."""
    n_images, n_filters, oh, ow = grad_y.shape
    channels, kh, kw = w.shape[1], w.shape[2], w.shape[3]
    for n in prange(n_images):
        grad_xp[n] = 0.0
        for o in range(n_filters):
            for p in range(oh):
                g_row = grad_y[n, o, p]
                for c in range(channels):
                    for i in range(kh):
                        gx_row = grad_xp[n, c, p * sh + i]
                        for j in range(kw):
                            weight = w[o, c, i, j]
                            for q in range(ow):
                                gx_row[q * sw + j] += weight * g_row[q]


# ------------------------------------------------------------------ im2col / col2im
@njit(parallel=True, cache=True)
def _im2col(xp, kh, kw, sh, sw, oh, ow, cols):
    """cols[(c·KH + i)·KW + j, b·OH·OW + p·OW + q] = xp[b, c, p·sh + i, q·sw + j].

    One row of ``cols`` per filter tap (c, i, j), so that Y = W · cols for W
    reshaped to (O, C·KH·KW). Parallel over rows: each thread fills its own.
    """
    n_images, channels = xp.shape[0], xp.shape[1]
    positions = oh * ow
    for row in prange(channels * kh * kw):
        c = row // (kh * kw)
        i = (row // kw) % kh
        j = row % kw
        for b in range(n_images):
            base = b * positions
            for p in range(oh):
                x_row = xp[b, c, p * sh + i]
                start = base + p * ow
                for q in range(ow):
                    cols[row, start + q] = x_row[q * sw + j]


@njit(parallel=True, cache=True)
def _col2im(cols, kh, kw, sh, sw, oh, ow, grad_xp):
    """The adjoint of im2col: grad_xp[b, c, p·sh + i, q·sw + j] += cols[(c·KH + i)·KW + j, b·OH·OW + p·OW + q].

    Parallel over channels c: the rows of one channel all land in that
    channel's planes, which no other thread touches.
    """
    n_images, channels = grad_xp.shape[0], grad_xp.shape[1]
    positions = oh * ow
    for c in prange(channels):
        for b in range(n_images):
            grad_xp[b, c] = 0.0
            base = b * positions
            for i in range(kh):
                for j in range(kw):
                    row = (c * kh + i) * kw + j
                    for p in range(oh):
                        gx_row = grad_xp[b, c, p * sh + i]
                        start = base + p * ow
                        for q in range(ow):
                            gx_row[q * sw + j] += cols[row, start + q]


@njit(parallel=True, cache=True)
def _images_to_rows(y_t, y, n0):
    """y[n0 + b, o, :] = y_t[o, b·P : (b+1)·P]  — the GEMM's (O, B·P) result back into NCHW."""
    n_filters, positions = y.shape[1], y.shape[2]
    n_chunk = y_t.shape[1] // positions
    for b in prange(n_chunk):
        for o in range(n_filters):
            for k in range(positions):
                y[n0 + b, o, k] = y_t[o, b * positions + k]


@njit(parallel=True, cache=True)
def _rows_to_images(g, n0, n_chunk, g_t):
    """g_t[o, b·P + k] = g[n0 + b, o, k]  — the inverse of :func:`_images_to_rows`."""
    n_filters, positions = g.shape[1], g.shape[2]
    for o in prange(n_filters):
        for b in range(n_chunk):
            for k in range(positions):
                g_t[o, b * positions + k] = g[n0 + b, o, k]


# ------------------------------------------------------------------ the registry's conv2d roles
def conv2d_forward(x, w, bias, stride, padding):
    """y = conv2d(x, w) + b: direct loops for small filters, else im2col + BLAS in cache-sized chunks."""
    n_images, channels, height, width = x.shape
    n_filters, _, kh, kw = w.shape
    (sh, sw) = stride
    oh, ow = output_size(height, kh, sh, padding[0]), output_size(width, kw, sw, padding[1])
    dtype = np.result_type(x, w)
    xp = _padded(x.astype(dtype, copy=False), padding)
    w = np.ascontiguousarray(w, dtype=dtype)
    b = np.zeros(n_filters, dtype) if bias is None else np.ascontiguousarray(bias, dtype=dtype)
    y = np.empty((n_images, n_filters, oh, ow), dtype=dtype)
    filter_size = channels * kh * kw
    if filter_size <= DIRECT_MAX_FILTER_SIZE:
        _direct_forward(xp, w, b, y, sh, sw)
        return y
    w2d = w.reshape(n_filters, filter_size)
    positions = oh * ow
    y3 = y.reshape(n_images, n_filters, positions)
    chunk = _chunk_size(n_images, filter_size, positions, y.itemsize)
    cols_buf = _buffer(filter_size * chunk * positions, dtype)
    for n0 in range(0, n_images, chunk):
        nb = min(chunk, n_images - n0)
        cols = cols_buf[: filter_size * nb * positions].reshape(filter_size, nb * positions)
        _im2col(xp[n0 : n0 + nb], kh, kw, sh, sw, oh, ow, cols)
        _images_to_rows(w2d @ cols, y3, n0)
    if bias is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def conv2d_backward_weight(grad_y, x, w_shape, stride, padding):
    """∂L/∂w = Σ_chunks ∂L/∂Y (O, B·P) · colsᵀ (B·P, C·KH·KW)."""
    n_images, channels = x.shape[:2]
    n_filters, _, kh, kw = w_shape
    (sh, sw) = stride
    dtype = grad_y.dtype
    xp = _padded(x.astype(dtype, copy=False), padding)
    grad_y = np.ascontiguousarray(grad_y)
    filter_size = channels * kh * kw
    if filter_size <= DIRECT_MAX_FILTER_SIZE:
        grad_w = np.empty(w_shape, dtype=dtype)
        _direct_backward_weight(grad_y, xp, grad_w, sh, sw)
        return grad_w
    _, _, oh, ow = grad_y.shape
    positions = oh * ow
    g3 = grad_y.reshape(n_images, n_filters, positions)
    grad_w = np.zeros((n_filters, filter_size), dtype=dtype)
    chunk = _chunk_size(n_images, filter_size, positions, grad_y.itemsize)
    cols_buf = _buffer(filter_size * chunk * positions, dtype)
    g_t_buf = np.empty(n_filters * chunk * positions, dtype=dtype)
    for n0 in range(0, n_images, chunk):
        nb = min(chunk, n_images - n0)
        cols = cols_buf[: filter_size * nb * positions].reshape(filter_size, nb * positions)
        _im2col(xp[n0 : n0 + nb], kh, kw, sh, sw, oh, ow, cols)
        g_t = g_t_buf[: n_filters * nb * positions].reshape(n_filters, nb * positions)
        _rows_to_images(g3, n0, nb, g_t)
        grad_w += g_t @ cols.T
    return grad_w.reshape(w_shape)


def conv2d_backward_input(grad_y, w, x_shape, stride, padding):
    """∂L/∂x = col2im(Wᵀ (C·KH·KW, O) · ∂L/∂Y (O, B·P)), chunk by chunk, padding cut off at the end."""
    n_images, channels, height, width = x_shape
    n_filters, _, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, padding
    dtype = grad_y.dtype
    w = np.ascontiguousarray(w, dtype=dtype)
    grad_y = np.ascontiguousarray(grad_y)
    grad_xp = np.empty((n_images, channels, height + 2 * ph, width + 2 * pw), dtype=dtype)
    filter_size = channels * kh * kw
    if filter_size <= DIRECT_MAX_FILTER_SIZE:
        _direct_backward_input(grad_y, w, grad_xp, sh, sw)
    else:
        _, _, oh, ow = grad_y.shape
        positions = oh * ow
        g3 = grad_y.reshape(n_images, n_filters, positions)
        w_t = np.ascontiguousarray(w.reshape(n_filters, filter_size).T)
        chunk = _chunk_size(n_images, filter_size, positions, grad_y.itemsize)
        g_t_buf = np.empty(n_filters * chunk * positions, dtype=dtype)
        for n0 in range(0, n_images, chunk):
            nb = min(chunk, n_images - n0)
            g_t = g_t_buf[: n_filters * nb * positions].reshape(n_filters, nb * positions)
            _rows_to_images(g3, n0, nb, g_t)
            _col2im(w_t @ g_t, kh, kw, sh, sw, oh, ow, grad_xp[n0 : n0 + nb])
    if ph or pw:
        return grad_xp[:, :, ph : ph + height, pw : pw + width]
    return grad_xp


# ------------------------------------------------------------------ max-pooling
@njit(parallel=True, cache=True)
def _maxpool_forward(x, kh, kw, sh, sw, y, argmax):
    """y[n, c, p, q] = max_{i,j} x[n, c, p·sh + i, q·sw + j];  argmax = i·KW + j of the first maximum."""
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
                            if v > best:  # strict: the first maximum wins ties, as in the reference
                                best = v
                                where = i * kw + j
                    y[n, c, p, q] = best
                    argmax[n, c, p, q] = where


@njit(parallel=True, cache=True)
def _maxpool_backward(grad_y, argmax, kw, sh, sw, grad_x):
    """∂L/∂x is ∂L/∂y at each window's winner, 0 elsewhere (one image per thread; windows may overlap)."""
    n_images, channels, oh, ow = grad_y.shape
    for n in prange(n_images):
        grad_x[n] = 0.0
        for c in range(channels):
            for p in range(oh):
                for q in range(ow):
                    k = argmax[n, c, p, q]
                    grad_x[n, c, p * sh + k // kw, q * sw + k % kw] += grad_y[n, c, p, q]


def maxpool2d_forward(x, kernel, stride):
    (kh, kw), (sh, sw) = kernel, stride
    n_images, channels, height, width = x.shape
    oh, ow = output_size(height, kh, sh, 0), output_size(width, kw, sw, 0)
    y = np.empty((n_images, channels, oh, ow), dtype=x.dtype)
    argmax = np.empty((n_images, channels, oh, ow), dtype=np.int32)
    _maxpool_forward(np.ascontiguousarray(x), kh, kw, sh, sw, y, argmax)
    return y, argmax


def maxpool2d_backward(grad_y, argmax, x_shape, kernel, stride):
    (_, kw), (sh, sw) = kernel, stride
    grad_x = np.empty(x_shape, dtype=grad_y.dtype)
    _maxpool_backward(np.ascontiguousarray(grad_y), argmax, kw, sh, sw, grad_x)
    return grad_x
