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
from .numba_matmul import TILE_ROWS, TILE_VECTORS, outer_product_tile
from .simd import VECTOR_BYTES, lanes

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
        return _implicit_gemm(x, np.ascontiguousarray(w, dtype=dtype), bias, padding, (oh, ow))
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
    (64, 64→64, 32², pad 1), forward + both gradients (before the SIMD kernels; now ~48 ms implicit): 93 ms all implicit, 107 ms all BLAS,
    141 ms mixed (implicit forward and input gradient, BLAS weight gradient). The input gradient is an implicit GEMM only with stride 1 (see
    conv2d_backward_input), and each pass needs long enough dot products (taps) to pay.
    """
    (kh, kw), (ph, pw) = kernel, padding
    return (tuple(stride) == (1, 1) and ph < kh and pw < kw
            and min(channels, n_filters) * kh * kw >= IMPLICIT_GEMM_MIN_TAPS)


def _implicit_gemm(x, w, bias, padding, out_hw):
    """conv2d of x (zero-padded by ``padding``, stride 1) with w (+ bias): by whichever of the two
    implicit-GEMM forward kernels wastes less work on this shape (see _filters_in_vectors)."""
    n_filters, channels, kh, kw = w.shape
    (ph, pw), dtype = padding, w.dtype
    hp, wp = x.shape[2] + 2 * ph, x.shape[3] + 2 * pw
    taps = channels * kh * kw
    offsets = _tap_offsets(channels, kh, kw, hp, wp)
    y = np.empty((x.shape[0], n_filters, *out_hw), dtype=dtype)
    w2d = w.reshape(n_filters, taps)
    if _filters_in_vectors(n_filters, out_hw, wp, dtype):
        span = TILE_VECTORS * lanes(dtype)
        columns = -(-n_filters // span) * span
        w_t = np.zeros((taps, columns), dtype=dtype)  # wᵀ, zero columns up to whole spans
        w_t[:, :n_filters] = w2d.T
        b = _zero_padded(bias, columns, dtype)
        rows = -(-(out_hw[0] * out_hw[1]) // TILE_ROWS) * TILE_ROWS
        # Taps in (i, c, j) order, kernel row first: then the taps of kernel rows i_lo..i_hi are one
        # run, and the kernel can leave out the rows that only meet the zero padding of a tile.
        by_kernel_row = np.arange(taps).reshape(channels, kh, kw).transpose(1, 0, 2).ravel()
        _implicit_gemm_forward_t(x, np.ascontiguousarray(w_t[by_kernel_row]), b, offsets[by_kernel_row],
                                 _positions(*out_hw, wp, rows), kh, ph, pw, _parts(x.shape[0]), y)
        return y
    # The filters as panels of TILE_ROWS filters, tap by tap: panels[g, t, m] = w[g·TILE_ROWS + m, t]
    # (zero filters past O), so that the micro-kernel reads its 8 weights of tap t as one run.
    groups = -(-n_filters // TILE_ROWS)
    w_rows = np.zeros((groups * TILE_ROWS, taps), dtype=dtype)
    w_rows[:n_filters] = w2d
    panels = np.ascontiguousarray(w_rows.reshape(groups, TILE_ROWS, taps).transpose(0, 2, 1))
    b = _zero_padded(bias, groups * TILE_ROWS, dtype)
    _implicit_gemm_forward(x, panels, b, offsets, ph, pw, _parts(x.shape[0]), y)
    return y


# Which implicit-GEMM forward kernel: "auto" (by shape), or force one (tests, benchmarks):
# "positions_in_vectors" (_implicit_gemm_forward) or "filters_in_vectors" (_implicit_gemm_forward_t).
FORWARD_KERNEL = "auto"
FORWARD_KERNELS = ("auto", "positions_in_vectors", "filters_in_vectors")


def _filters_in_vectors(n_filters, out_hw, wp, dtype):
    """Whether _implicit_gemm_forward_t (filters in the vectors) does less work than
    _implicit_gemm_forward (positions in the vectors) for this layer.

    The first computes whole tiles of 8 real positions × whole spans of 2L filters; the second
    whole tiles of 8 filters × spans of 2L *extended* positions (OH·Wp, the padding columns
    included). E.g. 64 filters at 11² out of 13² (float32): 128·64 against 160·64 multiply-adds per tap.
    The first also reads 8 scattered pixels per step and transposes its output, so it must
    save at least 10 % (measured: equal speed at 32² with padding 1, 64 filters: 1024·64 against 1088·64).
    """
    if FORWARD_KERNEL not in FORWARD_KERNELS:
        raise ValueError(f"numba_conv.FORWARD_KERNEL must be one of {FORWARD_KERNELS}, got {FORWARD_KERNEL!r}")
    if FORWARD_KERNEL != "auto":
        return FORWARD_KERNEL == "filters_in_vectors"
    span, (oh, ow) = TILE_VECTORS * lanes(dtype), out_hw
    filters_in_vectors = -(-(oh * ow) // TILE_ROWS) * TILE_ROWS * -(-n_filters // span) * span
    positions_in_vectors = -(-(oh * wp) // span) * span * -(-n_filters // TILE_ROWS) * TILE_ROWS
    return filters_in_vectors < 0.9 * positions_in_vectors


def _zero_padded(bias, length, dtype):
    """The bias (or zeros, without one) followed by zeros up to ``length`` entries: one per row of whole tiles."""
    b = np.zeros(length, dtype=dtype)
    if bias is not None:
        b[: len(bias)] = bias
    return b


def _tap_offsets(channels, kh, kw, hp, wp, length=None):
    """offsets[(c·KH + i)·KW + j] = c·Hp·Wp + i·Wp + j: where tap (c, i, j) of the window at (0, 0) is
    in a padded image (Hp, Wp) stored flat; zeros past C·KH·KW up to ``length``."""
    taps = channels * kh * kw
    offsets = np.zeros(taps if length is None else length, dtype=np.intp)
    c, i, j = np.unravel_index(np.arange(taps), (channels, kh, kw))
    offsets[:taps] = c * hp * wp + i * wp + j
    return offsets


def _positions(oh, ow, wp, length=None):
    """positions[p·OW + q] = p·Wp + q: where output (p, q)'s window starts in a padded image stored flat; zeros up to ``length``."""
    positions = np.zeros(oh * ow if length is None else length, dtype=np.intp)
    positions[: oh * ow] = (np.arange(oh)[:, None] * wp + np.arange(ow)).ravel()
    return positions


def _parts(n_images):
    """How many parts a batch is split into: one per thread (each part's buffers are made once)."""
    return max(1, min(n_images, numba.get_num_threads()))


def conv2d_backward_weight(grad_y, x, w_shape, stride, padding):
    """∂L/∂W = Σ_n ∂L/∂y[n] · im2col(x[n])ᵀ   (O, OH·OW) · (OH·OW, C·KH·KW), by Numba tiles or BLAS."""
    n_images, n_filters, oh, ow = grad_y.shape
    dtype = grad_y.dtype
    filter_size = w_shape[1] * w_shape[2] * w_shape[3]
    if _use_implicit_gemm(w_shape[1], n_filters, w_shape[2:], stride, padding):
        _, channels, kh, kw = w_shape
        span = TILE_VECTORS * lanes(dtype)
        rows = -(-filter_size // TILE_ROWS) * TILE_ROWS  # whole tiles of taps and of filters
        n_parts = _parts(n_images)
        parts = np.empty((n_parts, rows, -(-n_filters // span) * span), dtype=dtype)
        offsets = _tap_offsets(channels, kh, kw, x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1], rows)
        positions = _positions(oh, ow, x.shape[3] + 2 * padding[1])
        _implicit_gemm_weight(np.ascontiguousarray(grad_y), np.ascontiguousarray(x, dtype=dtype),
                              offsets, positions, padding[0], padding[1], parts)
        grad_w_t = parts.sum(axis=0)[:filter_size, :n_filters]  # (taps, filters)
        return np.ascontiguousarray(grad_w_t.T).reshape(w_shape)
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
        # the zeros of that padding: 40 % more work at 13² without padding, none with "same" padding;
        # _implicit_gemm_forward_t leaves out the kernel rows that meet only those zeros, about 15 % of it.)
        w_flipped = np.ascontiguousarray(np.asarray(w, dtype=dtype)[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        return _implicit_gemm(np.ascontiguousarray(grad_y), w_flipped, None,
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
# For layers with many taps (see _use_implicit_gemm) the three passes never build ``cols`` and
# never call BLAS. The trick: store a zero-padded image flat, channel after channel, row after
# row (Hp × Wp each). Then the tap (c, i, j) of the window at output position (p, q) sits at
#     offsets[t] + p·Wp + q,    offsets[t] = c·Hp·Wp + i·Wp + j   (t = (c·KH + i)·KW + j),
# so for the "extended" positions s = p·Wp + q (q running over the whole padded width Wp,
# the columns q ≥ OW are computed and thrown away) every tap is the *same* row of the image,
# shifted by offsets[t]:
#     y[o, s] = b[o] + Σ_t w[o, t] · image[offsets[t] + s].
# That is a matrix product whose right-hand matrix is never stored: row t of it starts at
# image[offsets[t]]. The matmul micro-kernel numba_matmul.outer_product_tile computes it (see
# simd), 16 sums in 16 vector registers, in two ways:
# - _implicit_gemm_forward: 8 filters × 2 vectors of extended positions, each vector a run of the
#   image read straight from it (B's row t = the image from offsets[t] + s on);
# - _implicit_gemm_forward_t: 8 real positions × 2 vectors of filters, 8 pixels broadcast per tap
#   and the result transposed at the end; no padding columns computed, so it wins on small images
#   (see _filters_in_vectors). The weight gradient uses it with the roles of taps and positions
#   swapped: ∂L/∂w[o, t] = Σ_s ∂L/∂y[o, s] · image[offsets[t] + s] (see _implicit_gemm_weight).
# The input gradient is a forward pass of ∂L/∂y with the flipped filters (see conv2d_backward_input).
# Measured on 2 cores (float32, medians; this machine's timings drift by up to 2× over seconds):
# (128, 32→64, 13²): forward 3.35 ms and forward + both gradients 13.4 ms with the dot-product
#   tiles these replaced; now 2.7–2.9 ms forward, 2.0–2.2 weight gradient, 2.8 input gradient;
# (64, 64→64, 32², pad 1): 25–27 / 21.5 / 25 ms before, now 15.5 / 16 / 15.5 (≈ 310 GFLOP/s each).
# Below this many taps (C·KH·KW, and O·KH·KW for the input gradient) a tile's loop is too short to pay
# for loading and storing its 16 sums. Measured at (64, 1→32, 28², pad 1), 9 taps: im2col + BLAS
# 1.4 / 1.1 / 0.8 ms (forward / weight / input gradient) against 1.4–1.8 / 1.6–2.8 / 1.4–3.3 implicit.
IMPLICIT_GEMM_MIN_TAPS = 64


@njit(cache=True, error_model="numpy")
def _copy_padded(x, n, ph, pw, image):
    """image (flat, C × Hp × Wp) = x[n] zero-padded by (ph, pw); the padding must already be 0."""
    channels, height, width = x.shape[1], x.shape[2], x.shape[3]
    hp, wp = height + 2 * ph, width + 2 * pw
    for c in range(channels):
        for h in range(height):
            start = (c * hp + h + ph) * wp + pw
            image[start : start + width] = x[n, c, h]


@njit(parallel=True, fastmath=True, cache=True, error_model="numpy")
def _implicit_gemm_forward(x, panels, bias, offsets, ph, pw, n_parts, y):
    """y[n, o, p, q] = b[o] + Σ_t w[o, t] · image_n[offsets[t] + p·Wp + q],  image_n = x[n] zero-padded
    by (ph, pw), stored flat (stride 1; see the section comment).

    panels[g, t, m] = w[g·8 + m, t] (A of the tile: filter i = g·8 + m, tap t at
    panels.flat[g·T·8 + m + 8t]); the tile's B is the image, its row t starting at
    offsets[t] + s. bias has one entry per panel row. The batch is cut
    into ``n_parts`` parts, one per thread (race-free: each writes only its own y[n]),
    and each part makes its buffers once: the padded image (its padding and slack stay 0)
    and the extended output ``out`` (filters × extended positions, whole spans of 2L).
    """
    n_images, n_filters, oh, ow = y.shape
    channels, height, width = x.shape[1], x.shape[2], x.shape[3]
    hp, wp = height + 2 * ph, width + 2 * pw
    span = TILE_VECTORS * (VECTOR_BYTES // y.itemsize)
    n_spans = -(-(oh * wp) // span)
    n_groups, taps = panels.shape[0], panels.shape[1]
    weights = panels.reshape(-1)
    filter_rows = np.empty(n_groups * TILE_ROWS, dtype=np.intp)  # where A's row i starts in ``weights``
    for i in range(filter_rows.shape[0]):
        filter_rows[i] = (i // TILE_ROWS) * taps * TILE_ROWS + i % TILE_ROWS
    tap_columns = np.arange(taps) * TILE_ROWS
    for part in prange(n_parts):
        image = np.zeros(max(channels * hp * wp, offsets.max() + n_spans * span), dtype=y.dtype)  # + slack: the last span reads past C·Hp·Wp
        out = np.empty((n_groups * TILE_ROWS, n_spans * span), dtype=y.dtype)
        for n in range(part, n_images, n_parts):
            _copy_padded(x, n, ph, pw, image)
            for o in range(out.shape[0]):
                out[o] = bias[o]
            for g in range(n_groups):  # the panel (taps × 8 weights) stays in L1 while the spans go by
                for s in range(0, n_spans * span, span):
                    # A = the filters (rows: 8 of them), B's row t = the image from offsets[t] + s on
                    outer_product_tile(weights, filter_rows, g * TILE_ROWS, tap_columns, image, offsets, s, out)
            for o in range(n_filters):
                for p in range(oh):
                    y[n, o, p] = out[o, p * wp : p * wp + ow]


@njit(parallel=True, fastmath=True, cache=True, error_model="numpy")
def _implicit_gemm_forward_t(x, w_t, bias, offsets, positions, kh, ph, pw, n_parts, y):
    """The same as _implicit_gemm_forward, with the filters in the vectors: yᵀ[s, o] = b[o] + Σ_t image[positions[s] + offsets[t]] · wᵀ[t, o]
    for the real output positions only (positions[p·OW + q] = p·Wp + q; whole tiles of 8, the extra ones 0).

    w_t (taps, filters) has zero columns up to whole spans of 2L filters; taps in (i, c, j) order
    (kernel row first), so that a tile of positions whose rows p meet only zero padding rows
    p + i for some kernel rows i skips those taps: the input gradient of a conv without padding
    (a conv of ∂L/∂y padded by KH - 1) skips 15 % of its tile steps at (128, 32→64, 13²) (counted),
    3.1 → 2.8 ms (measured). Each part (thread)
    computes yᵀ of one image in its buffer, then copies it to y[n] (filters first).
    """
    n_images, n_filters, oh, ow = y.shape
    channels, height, width = x.shape[1], x.shape[2], x.shape[3]
    taps, columns = w_t.shape
    taps_per_row = taps // kh
    span = TILE_VECTORS * (VECTOR_BYTES // y.itemsize)
    w_flat, w_rows = w_t.reshape(-1), np.arange(taps) * columns  # row t of wᵀ starts at w_rows[t]
    for part in prange(n_parts):
        image = np.zeros(channels * (height + 2 * ph) * (width + 2 * pw), dtype=y.dtype)
        out_t = np.empty((positions.shape[0], columns), dtype=y.dtype)
        for n in range(part, n_images, n_parts):
            _copy_padded(x, n, ph, pw, image)
            for s in range(out_t.shape[0]):
                out_t[s] = bias
            for o in range(0, columns, span):  # a strip of wᵀ (taps × 2L) stays in L1 while the positions go by
                for s in range(0, out_t.shape[0], TILE_ROWS):
                    # the kernel rows i that meet a real image row p + i for some row p of this tile
                    p_first, p_last = s // ow, min(s + TILE_ROWS - 1, oh * ow - 1) // ow
                    i_lo, i_hi = max(0, ph - p_last), min(kh - 1, ph + height - 1 - p_first)
                    if i_lo <= i_hi:
                        t0, t1 = i_lo * taps_per_row, (i_hi + 1) * taps_per_row
                        # A[s + m, t] = image[positions[s + m] + offsets[t]] (im2col, never built), B = wᵀ
                        outer_product_tile(image, positions, s, offsets[t0:t1], w_flat, w_rows[t0:t1], o, out_t)
            for o in range(n_filters):
                for p in range(oh):
                    for q in range(ow):
                        y[n, o, p, q] = out_t[p * ow + q, o]


@njit(parallel=True, fastmath=True, cache=True, error_model="numpy")
def _implicit_gemm_weight(grad_y, x, offsets, positions, ph, pw, parts):
    """parts[k] = part k of  ∂L/∂w[o, t] (stored (taps, filters)) = Σ_{n,p,q} ∂L/∂y[n, o, p, q] · image_n[offsets[t] + p·Wp + q]
    (stride 1; image_n = x[n] zero-padded by (ph, pw), stored flat; positions[p·OW + q] = p·Wp + q);
    the caller adds the parts.

    Each part (thread) takes every n_parts-th image, and for each copies its padded image
    and its ∂L/∂y with filters last (``g_rows``, zero columns up to whole spans of 2 vectors), then
    adds 8 taps × 2L filters at a time with numba_matmul.outer_product_tile. Race-free: one accumulator per part.
    offsets has whole tiles of taps (its entries past C·KH·KW are 0: their sums are thrown away).
    """
    n_images, n_filters, oh, ow = grad_y.shape
    n_parts, rows, columns = parts.shape
    channels, height, width = x.shape[1], x.shape[2], x.shape[3]
    span = TILE_VECTORS * (VECTOR_BYTES // parts.itemsize)
    for part in prange(n_parts):
        acc = parts[part]
        acc[:] = 0.0
        image = np.zeros(channels * (height + 2 * ph) * (width + 2 * pw), dtype=parts.dtype)  # the padding stays 0
        g_rows = np.zeros(oh * ow * columns, dtype=parts.dtype)  # ∂L/∂yᵀ flat; the columns past O stay 0
        g_starts = np.arange(oh * ow) * columns
        for n in range(part, n_images, n_parts):
            _copy_padded(x, n, ph, pw, image)
            for o in range(n_filters):
                for p in range(oh):
                    for q in range(ow):
                        g_rows[(p * ow + q) * columns + o] = grad_y[n, o, p, q]
            for o in range(0, columns, span):
                for t in range(0, rows, TILE_ROWS):
                    # A[t + m, s] = image[offsets[t + m] + positions[s]] (im2colᵀ, never built), B = ∂L/∂yᵀ
                    outer_product_tile(image, offsets, t, positions, g_rows, g_starts, o, acc)


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


@njit(cache=True, inline="always")  # inlined into the hot loops: no call
def _gather_window(xp, n, top, left, channels, kh, kw, window):
    """window[(c·KH + i)·KW + j] = xp[n, c, top + i, left + j]: the window under one output position, tap by tap."""
    t = 0
    for c in range(channels):
        for i in range(kh):
            for j in range(kw):
                window[t] = xp[n, c, top + i, left + j]
                t += 1


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
                        _gather_window(xp, n, p * sh, q * sw, channels, kh, kw, window)
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
                            _gather_window(xp, n, p * sh, q * sw, channels, kh, kw, window)
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
