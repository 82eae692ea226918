"""Numba kernels for convolution and max-pooling on the CPU.

Convolution is done the way most frameworks do it on a CPU, in three steps:

1. **im2col** (Numba): copy the window under each output position of image n
   into column p of a matrix ``cols[n]`` of shape (C·KH·KW, OH·OW);
2. **GEMM** (BLAS, through NumPy's batched ``matmul``): with the filters as a
   matrix W of shape (O, C·KH·KW), the output image is one matrix product,
   ``y[n] = W · cols[n]`` — already in NCHW order, so no transpose is needed;
3. for the input gradient, **col2im** (Numba): the adjoint of im2col, adding
   each column of ``Wᵀ · ∂L/∂y[n]`` back onto the window it came from.

Images are processed in chunks whose ``cols`` fits in a few MiB, so the
buffer stays in cache and is reused from call to call instead of being
allocated afresh (fresh memory costs a page fault per 4 KiB on first touch,
see PERF-NOTES). Every parallel loop is race-free: each thread writes only
its own images.

Layers with many channels and stride 1 use instead an **implicit GEMM** (see
its section below): the same products, computed by Numba kernels that never
build the whole ``cols`` and never call BLAS.

Shapes (NCHW, as PyTorch):  x (N, C, H, W),  w (O, C, KH, KW),  y (N, O, OH, OW).
"""
import numpy as np

from ._numba import njit, numba, prange
from .reference import output_size

CHUNK_BYTES = 8 << 20  # target size of one chunk's ``cols``
FUSED_CHUNK_BYTES = 4 << 20  # target size of one chunk's conv output in the fused op (measured: smaller chunks cost more in calls than they save in cache misses)

# Reusable scratch buffers, one per (purpose, dtype) (see the module docstring).
# Not thread-safe: tinydl runs one training step at a time.
_workspace = {}


def _buffer(shape, dtype, purpose="cols"):
    size = int(np.prod(shape))
    buf = _workspace.get((purpose, dtype))
    if buf is None or buf.size < size:
        buf = np.empty(size, dtype=dtype)
        _workspace[(purpose, dtype)] = buf
    return buf[:size].reshape(shape)


def _padded(x, padding):
    """Zero-pad the spatial axes (a copy only when there is padding)."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return np.ascontiguousarray(x)
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def _chunks(n_images, per_image_bytes, target_bytes=None):
    """(start, stop) ranges of images whose buffers together take about ``target_bytes`` (CHUNK_BYTES)."""
    target_bytes = CHUNK_BYTES if target_bytes is None else target_bytes
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


# ------------------------------------------------------------------ the registry's conv2d roles
def _cols_for(xp, n0, n1, kernel, stride, out_hw, dtype):
    """im2col of images n0..n1 into the reusable workspace."""
    (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out_hw
    cols = _buffer((n1 - n0, xp.shape[1] * kh * kw, oh * ow), dtype)
    im2col(xp[n0:n1], kh, kw, sh, sw, oh, ow, cols)
    return cols


def conv2d_forward(x, w, bias, stride, padding):
    """y[n] = W · im2col(x[n]) + b: directly (implicit GEMM, see _use_implicit_gemm), else chunk by chunk via BLAS."""
    n_images, channels, height, width = x.shape
    n_filters, _, kh, kw = w.shape
    oh, ow = output_size(height, kh, stride[0], padding[0]), output_size(width, kw, stride[1], padding[1])
    dtype = np.result_type(x, w)
    taps = channels * kh * kw
    if _use_implicit_gemm(channels, n_filters, (kh, kw), stride, padding):
        x = np.ascontiguousarray(x, dtype=dtype)
        return _implicit_gemm(x, np.asarray(w, dtype=dtype), bias, stride, padding, (oh, ow))
    xp = _padded(x.astype(dtype, copy=False), padding)
    w2d = np.ascontiguousarray(w, dtype=dtype).reshape(n_filters, taps)
    y = np.empty((n_images, n_filters, oh * ow), dtype=dtype)
    for n0, n1 in _chunks(n_images, w2d.shape[1] * oh * ow * y.itemsize):
        np.matmul(w2d, _cols_for(xp, n0, n1, (kh, kw), stride, (oh, ow), dtype), out=y[n0:n1])
    if bias is not None:
        y += bias.astype(dtype, copy=False).reshape(1, -1, 1)
    return y.reshape(n_images, n_filters, oh, ow)


def _use_implicit_gemm(channels, n_filters, kernel, stride, padding):
    """Whether all three roles of this layer go through the implicit-GEMM kernels (else im2col + BLAS).

    All three or none: a Numba kernel that runs right after a BLAS call is slowed down by
    OpenBLAS's threads, which keep spinning for a while (see PERF-NOTES). Measured on
    (64, 64→64, 32², pad 1), forward + both gradients: 93 ms all implicit, 107 ms all BLAS,
    141 ms mixed (implicit forward and input gradient, BLAS weight gradient). The input gradient is an implicit GEMM only with stride 1 (see
    conv2d_backward_input), and each pass needs long enough dot products (taps) to pay.
    """
    (kh, kw), (ph, pw) = kernel, padding
    return (tuple(stride) == (1, 1) and ph < kh and pw < kw
            and min(channels, n_filters) * kh * kw >= IMPLICIT_GEMM_MIN_TAPS)


def _implicit_gemm(x, w, bias, stride, padding, out_hw):
    """conv2d of x (zero-padded by ``padding``) with w (+ bias) by _implicit_gemm_forward."""
    n_filters, channels, kh, kw = w.shape
    taps = channels * kh * kw
    # The filters tap by tap in (i, j, c) order, to match the panel; zero rows and columns
    # up to whole tiles of TILE_FILTERS filters and a multiple of 16 taps (one cache line).
    w_rows = np.zeros((-(-n_filters // TILE_FILTERS) * TILE_FILTERS, -(-taps // 16) * 16), dtype=w.dtype)
    w_rows[:n_filters, :taps] = w.transpose(0, 2, 3, 1).reshape(n_filters, taps)
    b = np.zeros(n_filters, w.dtype) if bias is None else np.ascontiguousarray(bias, dtype=w.dtype)
    y = np.empty((x.shape[0], n_filters, *out_hw), dtype=w.dtype)
    _implicit_gemm_forward(x, w_rows, b, kh, kw, padding[0], padding[1], stride[0], stride[1], y)
    return y


def conv2d_backward_weight(grad_y, x, w_shape, stride, padding):
    """∂L/∂W = Σ_n ∂L/∂y[n] · im2col(x[n])ᵀ   (O, OH·OW) · (OH·OW, C·KH·KW), by Numba tiles or BLAS."""
    n_images, n_filters, oh, ow = grad_y.shape
    dtype = grad_y.dtype
    filter_size = w_shape[1] * w_shape[2] * w_shape[3]
    if _use_implicit_gemm(w_shape[1], n_filters, w_shape[2:], stride, padding):
        n_parts = min(n_images, numba.get_num_threads())
        rows = -(-n_filters // TILE_POSITIONS) * TILE_POSITIONS
        parts = np.empty((n_parts, rows, -(-filter_size // TILE_FILTERS) * TILE_FILTERS), dtype=dtype)
        # Images stacked per thread so that a dot product runs over about WEIGHT_ROW_BYTES.
        padded_image = (x.shape[2] + 2 * padding[0]) * (x.shape[3] + 2 * padding[1]) * grad_y.itemsize
        group = max(1, min(-(-n_images // n_parts), WEIGHT_ROW_BYTES // padded_image))
        _implicit_gemm_weight(np.ascontiguousarray(grad_y), np.ascontiguousarray(x, dtype=dtype),
                              w_shape[2], w_shape[3], padding[0], padding[1], group, parts)
        return np.ascontiguousarray(parts.sum(axis=0)[:n_filters, :filter_size]).reshape(w_shape)
    xp = _padded(x.astype(dtype, copy=False), padding)
    g3 = grad_y.reshape(n_images, n_filters, oh * ow)
    grad_w = np.zeros((n_filters, filter_size), dtype=dtype)
    for n0, n1 in _chunks(n_images, filter_size * oh * ow * grad_y.itemsize):
        cols = _cols_for(xp, n0, n1, w_shape[2:], stride, (oh, ow), dtype)
        grad_w += np.matmul(g3[n0:n1], cols.transpose(0, 2, 1)).sum(axis=0)
    return grad_w.reshape(w_shape)


def conv2d_backward_input(grad_y, w, x_shape, stride, padding):
    """∂L/∂x = col2im(Wᵀ · ∂L/∂y[n]) for each image, then the padding is cut off (or an implicit GEMM)."""
    n_images, channels, height, width = x_shape
    n_filters, _, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, padding
    _, _, oh, ow = grad_y.shape
    dtype = grad_y.dtype
    if _use_implicit_gemm(channels, n_filters, (kh, kw), stride, padding):
        # With stride 1, ∂L/∂x[n, c, h, v] = Σ_{o,i,j} ∂L/∂y[n, o, h + ph - i, v + pw - j] · w[o, c, i, j]
        # is itself a convolution: of ∂L/∂y zero-padded by (KH-1-ph, KW-1-pw) with the filters
        # flipped in space and with their channel axes swapped, (C, O, KH, KW). (It also multiplies
        # the zeros of that padding: 40 % more work at 13² without padding, none with "same" padding.)
        w_flipped = np.asarray(w, dtype=dtype)[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
        return _implicit_gemm(np.ascontiguousarray(grad_y), w_flipped, None, (1, 1),
                              (kh - 1 - ph, kw - 1 - pw), (height, width))
    w_t = np.ascontiguousarray(np.asarray(w, dtype=dtype).reshape(n_filters, channels * kh * kw).T)
    g3 = np.ascontiguousarray(grad_y).reshape(n_images, n_filters, oh * ow)
    grad_xp = np.empty((n_images, channels, height + 2 * ph, width + 2 * pw), dtype=dtype)
    for n0, n1 in _chunks(n_images, w_t.shape[0] * oh * ow * grad_y.itemsize):
        grad_cols = _buffer((n1 - n0, w_t.shape[0], oh * ow), dtype)
        np.matmul(w_t, g3[n0:n1], out=grad_cols)
        col2im(grad_cols, kh, kw, sh, sw, oh, ow, grad_xp[n0:n1])
    if ph or pw:
        return grad_xp[:, :, ph : ph + height, pw : pw + width]
    return grad_xp


# ------------------------------------------------------------------ implicit GEMM (direct) kernels
# For layers with many taps (see _use_implicit_gemm) the passes never build the whole ``cols``.
# Forward: each thread takes one image, copies it to (H, W, C) order, and packs the windows of
# PANEL_POSITIONS output positions at a time into a small ``panel`` (positions, C·KH·KW) that
# stays in the L2 cache: a panel row is the window under y[:, :, p, q], tap by tap in (i, j, c)
# order, so with the image in (H, W, C) order each kernel row of the window is one run of KW·C
# contiguous numbers. Then y[n, o, p, q] = panel row · w_rows[o] for 6 positions × 4 filters at
# once in registers, as in numba_matmul's micro-kernel. The input gradient is the same kernel
# (see conv2d_backward_input); the weight gradient uses the same tile on shifted rows of the
# padded image, with no im2col at all (see _implicit_gemm_weight).
# Measured against im2col + BLAS, forward pass alone (2 cores, float32):
# (128, 32→64, 13²) 3.3 vs 5.7 ms, (64, 64→64, 32², pad 1) 32 vs 37 ms.
IMPLICIT_GEMM_MIN_TAPS = 64  # below, a dot product is too short for the tiles to pay (e.g. 1·3·3 = 9 taps)
TILE_POSITIONS = 6  # the register tile: 6 output positions × 4 filters = 24 sums in 24 vector registers
TILE_FILTERS = 4
WEIGHT_ROW_BYTES = 12 << 10  # length of the weight gradient's dot products (measured best: 5–20 KiB, L1-sized strips)
PANEL_POSITIONS = 8 * TILE_POSITIONS  # output positions packed at a time: 48 · 576 taps · 4 B = 108 KiB, in L2


@njit(fastmath=True, cache=True, error_model="numpy", inline="always")  # inlined: a call would pass 10 arrays
def _dot_tile_6x4(a0, a1, a2, a3, a4, a5, b0, b1, b2, b3, depth, tile):
    """tile[a, b] += a_a[:depth] · b_b[:depth]   for a < 6, b < 4: 24 dot products, 24 sums in registers.

    Every step k loads 6 + 4 numbers and does 24 multiply-adds with them. The rows
    are 1-D arrays indexed from 0, so that LLVM sees contiguous loads and
    vectorises over k (fastmath lets it reorder the sums); see numba_matmul._micro_kernel.
    (That kernel is a near-copy on purpose: calling this one from the blocked matmul
    instead, with slices of its tiles, measured 17–23 GFLOP/s against 170–300.)
    """
    zero = tile.dtype.type(0)
    c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = zero
    c20 = c21 = c22 = c23 = c30 = c31 = c32 = c33 = zero
    c40 = c41 = c42 = c43 = c50 = c51 = c52 = c53 = zero
    for k in range(depth):
        y0 = b0[k]
        y1 = b1[k]
        y2 = b2[k]
        y3 = b3[k]
        x = a0[k]
        c00 += x * y0; c01 += x * y1; c02 += x * y2; c03 += x * y3  # noqa: E702
        x = a1[k]
        c10 += x * y0; c11 += x * y1; c12 += x * y2; c13 += x * y3  # noqa: E702
        x = a2[k]
        c20 += x * y0; c21 += x * y1; c22 += x * y2; c23 += x * y3  # noqa: E702
        x = a3[k]
        c30 += x * y0; c31 += x * y1; c32 += x * y2; c33 += x * y3  # noqa: E702
        x = a4[k]
        c40 += x * y0; c41 += x * y1; c42 += x * y2; c43 += x * y3  # noqa: E702
        x = a5[k]
        c50 += x * y0; c51 += x * y1; c52 += x * y2; c53 += x * y3  # noqa: E702
    tile[0, 0] += c00; tile[0, 1] += c01; tile[0, 2] += c02; tile[0, 3] += c03  # noqa: E702
    tile[1, 0] += c10; tile[1, 1] += c11; tile[1, 2] += c12; tile[1, 3] += c13  # noqa: E702
    tile[2, 0] += c20; tile[2, 1] += c21; tile[2, 2] += c22; tile[2, 3] += c23  # noqa: E702
    tile[3, 0] += c30; tile[3, 1] += c31; tile[3, 2] += c32; tile[3, 3] += c33  # noqa: E702
    tile[4, 0] += c40; tile[4, 1] += c41; tile[4, 2] += c42; tile[4, 3] += c43  # noqa: E702
    tile[5, 0] += c50; tile[5, 1] += c51; tile[5, 2] += c52; tile[5, 3] += c53  # noqa: E702


@njit(fastmath=True, cache=True, error_model="numpy", inline="always")
def _tile_6x4(panel, r, w_rows, o, tile):
    """tile[a, b] = panel[r + a] · w_rows[o + b]   for a < 6, b < 4."""
    depth = panel.shape[1]
    tile[:] = 0.0
    _dot_tile_6x4(panel[r], panel[r + 1], panel[r + 2], panel[r + 3], panel[r + 4], panel[r + 5],
                  w_rows[o], w_rows[o + 1], w_rows[o + 2], w_rows[o + 3], depth, tile)


@njit(parallel=True, fastmath=True, cache=True, error_model="numpy")
def _implicit_gemm_forward(x, w_rows, bias, kh, kw, ph, pw, sh, sw, y):
    """y[n, o, p, q] = b[o] + Σ_{i,j,c} xp[n, c, p·sh + i, q·sw + j] · w_rows[o, (i·KW + j)·C + c],
    xp = x zero-padded by (ph, pw) (in the thread's image buffer: no padded copy of the batch).

    One image per thread (race-free: each writes only its own y[n]); see the section comment.
    The output positions s = p·OW + q are taken PANEL_POSITIONS at a time, across rows, so
    that the tiles are full (a row of 13 would fill only 13 of 18 places in 3 tiles of 6).
    w_rows has whole tiles of filters (zero rows past O) and may have zero columns past C·KH·KW.
    """
    n_images, n_filters, oh, ow = y.shape
    channels, height, width = x.shape[1], x.shape[2], x.shape[3]
    run = kw * channels
    positions = oh * ow
    for n in prange(n_images):
        # xp[n] in (H, W, C) order, rows flattened; the padding stays 0
        image = np.zeros((height + 2 * ph, (width + 2 * pw) * channels), dtype=y.dtype)
        for h in range(height):
            for v in range(width):
                for c in range(channels):
                    image[h + ph, (v + pw) * channels + c] = x[n, c, h, v]
        panel = np.zeros((PANEL_POSITIONS, w_rows.shape[1]), dtype=y.dtype)  # unused rows and taps stay 0
        tile = np.empty((TILE_POSITIONS, TILE_FILTERS), dtype=y.dtype)
        out = y[n].reshape(n_filters, positions)
        for s0 in range(0, positions, PANEL_POSITIONS):
            count = min(PANEL_POSITIONS, positions - s0)
            for r in range(count):
                p, q = (s0 + r) // ow, (s0 + r) % ow
                for i in range(kh):  # the KW pixels of one kernel row are KW·C contiguous numbers
                    panel[r, i * run : (i + 1) * run] = image[p * sh + i, q * sw * channels : q * sw * channels + run]
            for o in range(0, n_filters, TILE_FILTERS):
                for r in range(0, count, TILE_POSITIONS):
                    _tile_6x4(panel, r, w_rows, o, tile)
                    for a in range(min(TILE_POSITIONS, count - r)):
                        for b in range(min(TILE_FILTERS, n_filters - o)):
                            out[o + b, s0 + r + a] = tile[a, b] + bias[o + b]


@njit(parallel=True, fastmath=True, cache=True, error_model="numpy")
def _implicit_gemm_weight(grad_y, x, kh, kw, ph, pw, group, parts):
    """parts[k] = part k of  ∂L/∂w[o, (c·KH + i)·KW + j] = Σ_{n,p,q} ∂L/∂y[n, o, p, q] · xp[n, c, p + i, q + j]
    (stride 1; xp = x zero-padded by (ph, pw)); the caller adds the parts.

    No im2col: in a padded image stored row after row (width Wp), the window
    offset (i, j) is a shift of the whole image by i·Wp + j. So with ∂L/∂y laid
    out at the same "extended" positions s = p·Wp + q (and 0 where q ≥ OW),
        ∂L/∂w[o, c, i, j] = Σ_s g[o, s] · image[c, s + i·Wp + j],
    a dot product of a row of g with a shifted row of the image: both contiguous,
    so _dot_tile_6x4 takes 6 filters × 4 taps at a time straight from them. A thread
    stacks ``group`` of its images one under the other (the zero rows of g between
    them keep them apart), so the dot products are long enough that their final
    horizontal sums are rare; each thread has its own images, buffers and
    accumulator (race-free). Extra work: the columns q ≥ OW (Wp/OW: 6 % at 32²
    with padding 1) and, between stacked images, the rows p ≥ OH.
    """
    n_images, n_filters, oh, ow = grad_y.shape
    n_parts, o_rows, t_rows = parts.shape
    channels, height, width = x.shape[1], x.shape[2], x.shape[3]
    hp, wp = height + 2 * ph, width + 2 * pw
    taps = channels * kh * kw
    length = ((group - 1) * hp + oh) * wp  # the extended positions that can hold an output
    for part in prange(n_parts):
        acc = parts[part]
        acc[:] = 0.0
        image = np.zeros((channels, group * hp * wp + kw), dtype=parts.dtype)  # padding and slack stay 0
        g = np.zeros((o_rows, group * hp * wp), dtype=parts.dtype)  # rows past O and columns q ≥ OW stay 0
        zero_row = np.zeros(length, dtype=parts.dtype)  # the taps past C·KH·KW of the last tile
        mine = (n_images - part + n_parts - 1) // n_parts  # this part's images: part, part + n_parts, …
        for first in range(0, mine, group):
            count = min(group, mine - first)
            for b in range(group):
                if b < count:
                    n = part + (first + b) * n_parts
                    for c in range(channels):
                        for h in range(height):
                            s = (b * hp + h + ph) * wp + pw
                            image[c, s : s + width] = x[n, c, h]
                    for o in range(n_filters):
                        for p in range(oh):
                            s = (b * hp + p) * wp
                            g[o, s : s + ow] = grad_y[n, o, p]
                else:  # the last group is short: no gradient where its missing images would be
                    g[:, b * hp * wp : (b + 1) * hp * wp] = 0.0
            for t in range(0, t_rows, TILE_FILTERS):
                # the 4 shifted image rows of this tile of taps stay in L1 while the rows of g pass by
                b0 = b1 = b2 = b3 = zero_row
                for u in range(TILE_FILTERS):
                    if t + u < taps:
                        c, i, j = (t + u) // (kh * kw), ((t + u) // kw) % kh, (t + u) % kw
                        row = image[c, i * wp + j : i * wp + j + length]
                        if u == 0:
                            b0 = row
                        elif u == 1:
                            b1 = row
                        elif u == 2:
                            b2 = row
                        else:
                            b3 = row
                for o in range(0, o_rows, TILE_POSITIONS):
                    _dot_tile_6x4(g[o], g[o + 1], g[o + 2], g[o + 3], g[o + 4], g[o + 5],
                                  b0, b1, b2, b3, length, acc[o : o + TILE_POSITIONS, t : t + TILE_FILTERS])


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


# ------------------------------------------------------------------ fused conv → ReLU → max-pool
DIRECT_MAX_TAPS = 64  # C·KH·KW up to which the fused op convolves directly instead of im2col + GEMM


def conv2d_relu_maxpool2d_forward(x, w, bias, stride, padding, pool_kernel, pool_stride):
    """y = relu(maxpool(conv2d(x, w) + b)) without ever storing the full-size conv output.

    Small filters (the article's first layer: 1·3·3 = 9 taps) are convolved
    directly, window by window, 32 filters at a time in SIMD registers; large
    ones go through im2col + GEMM chunk by chunk into a reused scratch buffer.
    """
    n_images, channels, height, width = x.shape
    n_filters, _, kh, kw = w.shape
    oh, ow = output_size(height, kh, stride[0], padding[0]), output_size(width, kw, stride[1], padding[1])
    (pkh, pkw), (psh, psw) = pool_kernel, pool_stride
    poh, pow_ = output_size(oh, pkh, psh, 0), output_size(ow, pkw, psw, 0)
    dtype = np.result_type(x, w)
    xp = _padded(x.astype(dtype, copy=False), padding)
    taps = channels * kh * kw
    w2d = np.ascontiguousarray(w, dtype=dtype).reshape(n_filters, taps)
    y = np.empty((n_images, n_filters, poh, pow_), dtype=dtype)
    # Which tap of its pooling window won: int8 is enough for windows of up to 127 taps (4× less memory).
    argmax = np.empty(y.shape, dtype=np.int8 if pkh * pkw <= 127 else np.int32)
    b = np.zeros(n_filters, dtype) if bias is None else np.asarray(bias, dtype=dtype)
    if taps <= DIRECT_MAX_TAPS:
        _fused_direct_forward(xp, np.ascontiguousarray(w2d.T), b, kh, kw, stride[0], stride[1],
                              pkh, pkw, psh, psw, y, argmax)
        return y, argmax
    per_image = max(taps, n_filters) * oh * ow * y.itemsize
    for n0, n1 in _chunks(n_images, per_image, min(FUSED_CHUNK_BYTES, CHUNK_BYTES)):
        conv = _buffer((n1 - n0, n_filters, oh * ow), dtype, "conv")
        np.matmul(w2d, _cols_for(xp, n0, n1, (kh, kw), stride, (oh, ow), dtype), out=conv)
        _maxpool_forward(conv.reshape(n1 - n0, n_filters, oh, ow), pkh, pkw, psh, psw, y[n0:n1], argmax[n0:n1])
    # Bias and ReLU on the pooled output, a quarter of the size: max(z + b) = max(z) + b, max(relu) = relu(max).
    y += b.reshape(1, -1, 1, 1)
    np.maximum(y, 0, out=y)
    return y, argmax


def conv2d_relu_maxpool2d_backward(grad_y, y, argmax, x, w, stride, padding, pool_kernel, pool_stride, need_input_grad):
    """(∂L/∂x or None, ∂L/∂w, ∂L/∂b): route ∂L/∂y to each window's winner where y > 0, then conv backward."""
    n_images, channels, height, width = x.shape
    n_filters, _, kh, kw = w.shape
    (ph, pw) = padding
    oh, ow = output_size(height, kh, stride[0], ph), output_size(width, kw, stride[1], pw)
    (pkh, pkw), (psh, psw) = pool_kernel, pool_stride
    dtype = grad_y.dtype
    xp = _padded(x.astype(dtype, copy=False), padding)
    filter_size = channels * kh * kw
    w2d = np.ascontiguousarray(np.asarray(w, dtype=dtype).reshape(n_filters, filter_size))
    grad_xp = np.empty((n_images, channels, height + 2 * ph, width + 2 * pw), dtype=dtype) if need_input_grad else None
    if filter_size <= DIRECT_MAX_TAPS:
        n_parts = min(n_images, 2 * numba.get_num_threads())
        parts = np.empty((n_parts, filter_size + 1, n_filters), dtype=dtype)  # last row: ∂L/∂b
        _fused_direct_backward(grad_y, y, argmax, xp, w2d, kh, kw, stride[0], stride[1], pkh, pkw, psh, psw,
                               parts, grad_xp if need_input_grad else xp, need_input_grad)
        total = parts.sum(axis=0)
        grad_w, grad_b = total[:-1].T, total[-1]
    else:
        grad_pooled = grad_y * (y > 0)  # ReLU's derivative, taken on the small pooled output
        grad_w, grad_b = np.zeros((n_filters, filter_size), dtype=dtype), grad_pooled.sum(axis=(0, 2, 3))
        w_t = np.ascontiguousarray(w2d.T)
        per_image = max(filter_size, n_filters) * oh * ow * grad_y.itemsize
        for n0, n1 in _chunks(n_images, per_image, min(FUSED_CHUNK_BYTES, CHUNK_BYTES)):
            grad_conv = _buffer((n1 - n0, n_filters, oh, ow), dtype, "conv")
            _maxpool_backward(grad_pooled[n0:n1], argmax[n0:n1], pkw, psh, psw, grad_conv)
            g3 = grad_conv.reshape(n1 - n0, n_filters, oh * ow)
            cols = _cols_for(xp, n0, n1, (kh, kw), stride, (oh, ow), dtype)
            grad_w += np.matmul(g3, cols.transpose(0, 2, 1)).sum(axis=0)
            if need_input_grad:
                np.matmul(w_t, g3, out=cols)  # cols is free again: reuse it for ∂L/∂cols
                col2im(cols, kh, kw, stride[0], stride[1], oh, ow, grad_xp[n0:n1])
    grad_x = None
    if need_input_grad:
        grad_x = grad_xp[:, :, ph : ph + height, pw : pw + width] if ph or pw else grad_xp
    return grad_x, np.ascontiguousarray(grad_w).reshape(w.shape), grad_b


@njit(parallel=True, cache=True)
def _fused_direct_forward(xp, w_taps, bias, kh, kw, sh, sw, pkh, pkw, psh, psw, y, argmax):
    """For each pooling window: conv at each of its positions, max, + b, ReLU.  (One image per thread.)

    w_taps (T, O) holds the filters tap by tap, so that the innermost loop runs
    over the O filters with contiguous weights: one window of the image is read
    once and used by every filter (SIMD over filters, not over pixels).
    """
    n_images, n_filters, poh, pow_ = y.shape
    channels = xp.shape[1]
    taps = w_taps.shape[0]
    for n in prange(n_images):
        window = np.empty(taps, dtype=y.dtype)
        conv = np.empty(n_filters, dtype=y.dtype)
        best = np.empty(n_filters, dtype=y.dtype)
        where = np.empty(n_filters, dtype=np.int32)
        for pp in range(poh):
            for qq in range(pow_):
                for di in range(pkh):
                    for dj in range(pkw):
                        p, q = pp * psh + di, qq * psw + dj  # a conv output position inside the window
                        t = 0
                        for c in range(channels):
                            for i in range(kh):
                                for j in range(kw):
                                    window[t] = xp[n, c, p * sh + i, q * sw + j]
                                    t += 1
                        for o in range(n_filters):
                            conv[o] = w_taps[0, o] * window[0]
                        for t in range(1, taps):
                            v = window[t]
                            for o in range(n_filters):
                                conv[o] += w_taps[t, o] * v
                        k = di * pkw + dj
                        for o in range(n_filters):
                            if k == 0 or conv[o] > best[o]:  # strict: the first maximum wins ties
                                best[o] = conv[o]
                                where[o] = k
                for o in range(n_filters):
                    v = best[o] + bias[o]
                    y[n, o, pp, qq] = v if v > 0 else 0.0
                    argmax[n, o, pp, qq] = where[o]


@njit(parallel=True, cache=True)
def _fused_direct_backward(grad_y, y, argmax, xp, w2d, kh, kw, sh, sw, pkh, pkw, psh, psw, parts, grad_xp, need_input_grad):
    """With g = ∂L/∂y where y > 0 (ReLU), else 0, routed to each window's winner:
        ∂L/∂w[o, t] += g[o] · window[t],   ∂L/∂b[o] += g[o],   ∂L/∂x[window t] += Σ_o g[o] · w[o, t].

    Images are split into ``parts``, one accumulator (T + 1, O) per part (its
    last row for ∂L/∂b), so that threads never add into the same place; the
    caller sums the parts.
    """
    n_images, n_filters, poh, pow_ = grad_y.shape
    channels = xp.shape[1]
    n_parts, taps = parts.shape[0], parts.shape[1] - 1
    for part in prange(n_parts):
        acc = parts[part]
        acc[:] = 0.0
        window = np.empty(taps, dtype=acc.dtype)
        g = np.empty(n_filters, dtype=acc.dtype)
        # One image's pooled gradient and winners, filters last: the loops below read them contiguously.
        g_image = np.empty((poh, pow_, n_filters), dtype=acc.dtype)
        won_image = np.empty((poh, pow_, n_filters), dtype=np.int32)
        for n in range(part, n_images, n_parts):
            if need_input_grad:
                grad_xp[n] = 0.0
            for o in range(n_filters):
                for pp in range(poh):
                    for qq in range(pow_):
                        g_image[pp, qq, o] = grad_y[n, o, pp, qq] if y[n, o, pp, qq] > 0 else 0.0
                        won_image[pp, qq, o] = argmax[n, o, pp, qq]
                        acc[taps, o] += g_image[pp, qq, o]
            for pp in range(poh):
                for qq in range(pow_):
                    for di in range(pkh):
                        for dj in range(pkw):
                            k = di * pkw + dj
                            for o in range(n_filters):  # the gradient of the filters whose window this position won
                                g[o] = g_image[pp, qq, o] if won_image[pp, qq, o] == k else 0.0
                            p, q = pp * psh + di, qq * psw + dj
                            t = 0
                            for c in range(channels):
                                for i in range(kh):
                                    for j in range(kw):
                                        window[t] = xp[n, c, p * sh + i, q * sw + j]
                                        t += 1
                            for t in range(taps):
                                v = window[t]
                                for o in range(n_filters):
                                    acc[t, o] += g[o] * v
                            if need_input_grad:
                                t = 0
                                for c in range(channels):
                                    for i in range(kh):
                                        for j in range(kw):
                                            total = 0.0
                                            for o in range(n_filters):
                                                total += g[o] * w2d[o, t]
                                            grad_xp[n, c, p * sh + i, q * sw + j] += total
                                            t += 1
