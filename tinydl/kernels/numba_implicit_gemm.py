# BEGIN SOLUTION assignment=3 remove
"""Convolution as an implicit GEMM: the im2col matrix product, with the matrix never built (registered as "numba_implicit_gemm").

im2col + BLAS (numba_im2col.py) copies every window into a matrix and then
multiplies it. Here the three passes never build ``cols`` and never call BLAS.
The trick: store a zero-padded image flat, channel after channel, row after
row (Hp × Wp each). Then the tap (c, i, j) of the window at output position (p, q) sits at

    offsets[t] + p·Wp + q,    offsets[t] = c·Hp·Wp + i·Wp + j   (t = (c·KH + i)·KW + j),

so for the "extended" positions s = p·Wp + q (q running over the whole padded
width Wp; the columns q ≥ OW are computed and thrown away) every tap is the
*same* row of the image, shifted by offsets[t]:

    y[o, s] = b[o] + Σ_t w[o, t] · image[offsets[t] + s].

That is a matrix product whose right-hand matrix is never stored: row t of it
starts at image[offsets[t]]. The matmul micro-kernel
numba_matmul.outer_product_tile computes it (see simd.py), 16 sums in 16
vector registers, in one of two layouts (``layout``; by default the one that
wastes less work on the shape, see :func:`layout_for`):

- ``"positions_in_vectors"`` (_forward_positions_in_vectors): 8 filters × 2
  vectors of extended positions, each vector a run of the image read straight
  from it (B's row t = the image from offsets[t] + s on);
- ``"filters_in_vectors"`` (_forward_filters_in_vectors): 8 real positions × 2
  vectors of filters, 8 pixels broadcast per tap and the result transposed at
  the end; no padding columns computed, so it wins on small images.

The weight gradient uses the second with the roles of taps and positions
swapped: ∂L/∂w[o, t] = Σ_s ∂L/∂y[o, s] · image[offsets[t] + s]
(_weight_gradient). The input gradient is a forward pass of ∂L/∂y with the
flipped filters (see conv2d_backward_input).

Only stride 1, and padding smaller than the kernel (the input gradient pads
∂L/∂y by KH − 1 − ph); other layers raise a ValueError (``numba`` sends them
to im2col). When it wins: layers with many taps (C·KH·KW ≥ 64, see
numba_conv.fastest_strategy). Measured on 2 cores (float32, medians; this
machine's timings drift by up to 2× over seconds):
(128, 32→64, 13²): forward 3.35 ms and forward + both gradients 13.4 ms with
the dot-product tiles these replaced; now 2.7–2.9 ms forward, 2.0–2.2 weight
gradient, 2.8 input gradient; (64, 64→64, 32², pad 1): 25–27 / 21.5 / 25 ms
before, now 15.5 / 16 / 15.5 (≈ 310 GFLOP/s each).

NaN and ±Inf give what plain arithmetic (the reference, PyTorch) gives. Two
places would differ, and both only with a NaN or infinite *weight*: the input
gradient multiplies the zeros it pads ∂L/∂y with by the weights (0 · NaN = NaN
where the reference adds nothing), and the filters-in-vectors forward skips
kernel rows that meet only padding (where the reference gets 0 · NaN = NaN). So
filters that are not all finite (O·C·KH·KW numbers to check, no pass over the
data) go to numba_im2col for those two roles. The kernels keep fastmath's
reassociation and contraction, but not 'nnan'/'ninf', which would let LLVM
assume there is no NaN or Inf.

Shapes (NCHW, as PyTorch):  x (N, C, H, W),  w (O, C, KH, KW),  y (N, O, OH, OW).
"""

import numpy as np

from . import numba_im2col
from ._numba import njit, numba, prange
from .numba_matmul import TILE_ROWS, TILE_VECTORS, outer_product_tile
from .reference import output_size
from .simd import VECTOR_BYTES, lanes
from .workspace import SHARED_WORKSPACE

LAYOUTS = ("positions_in_vectors", "filters_in_vectors")
# fastmath=True without 'nnan' and 'ninf': reassociation and fused multiply-adds, but NaN and Inf kept.
FAST = {"contract", "arcp", "reassoc", "nsz", "afn"}


def check_supported(kernel, stride, padding):
    """Raise a ValueError unless this strategy can run the layer: stride 1 and padding < kernel."""
    (kh, kw), (ph, pw) = kernel, padding
    if tuple(stride) != (1, 1) or ph >= kh or pw >= kw:
        raise ValueError(
            f"numba_implicit_gemm runs stride 1 with padding smaller than the kernel only; got kernel {tuple(kernel)}, "
            f"stride {tuple(stride)}, padding {tuple(padding)} (use 'numba', which sends such layers to im2col)"
        )


def layout_for(n_filters, out_hw, wp, dtype):
    """``"filters_in_vectors"`` if _forward_filters_in_vectors does less work than
    _forward_positions_in_vectors on this layer, else ``"positions_in_vectors"``.

    The first computes whole tiles of 8 real positions × whole spans of 2L filters; the second
    whole tiles of 8 filters × spans of 2L *extended* positions (OH·Wp, the padding columns
    included). E.g. 64 filters at 11² out of 13² (float32): 128·64 against 160·64 multiply-adds per tap.
    The first also reads 8 scattered pixels per step and transposes its output, so it must
    save at least 10 % (measured: equal speed at 32² with padding 1, 64 filters: 1024·64 against 1088·64).
    """
    span, (oh, ow) = TILE_VECTORS * lanes(dtype), out_hw
    filters_in_vectors = -(-(oh * ow) // TILE_ROWS) * TILE_ROWS * -(-n_filters // span) * span
    positions_in_vectors = -(-(oh * wp) // span) * span * -(-n_filters // TILE_ROWS) * TILE_ROWS
    return "filters_in_vectors" if filters_in_vectors < 0.9 * positions_in_vectors else "positions_in_vectors"


def _stride_one_conv(x, w, bias, padding, out_hw, layout, workspace):
    """conv2d of x (zero-padded by ``padding``, stride 1) with w (+ bias), in ``layout`` (None: by layout_for)."""
    n_filters, channels, kh, kw = w.shape
    (ph, pw), dtype = padding, w.dtype
    hp, wp = x.shape[2] + 2 * ph, x.shape[3] + 2 * pw
    taps = channels * kh * kw
    layout = layout_for(n_filters, out_hw, wp, dtype) if layout is None else layout
    if layout not in LAYOUTS:
        raise ValueError(f"numba_implicit_gemm: layout must be one of {LAYOUTS} or None (by shape), got {layout!r}")
    offsets = _tap_offsets(channels, kh, kw, hp, wp)
    y = workspace.empty((x.shape[0], n_filters, *out_hw), dtype)
    w2d = w.reshape(n_filters, taps)
    if layout == "filters_in_vectors":
        span = TILE_VECTORS * lanes(dtype)
        columns = -(-n_filters // span) * span
        w_t = np.zeros((taps, columns), dtype=dtype)  # wᵀ, zero columns up to whole spans
        w_t[:, :n_filters] = w2d.T
        b = _zero_padded(bias, columns, dtype)
        rows = -(-(out_hw[0] * out_hw[1]) // TILE_ROWS) * TILE_ROWS
        # Taps in (i, c, j) order, kernel row first: then the taps of kernel rows i_lo..i_hi are one
        # run, and the kernel can leave out the rows that only meet the zero padding of a tile.
        by_kernel_row = np.arange(taps).reshape(channels, kh, kw).transpose(1, 0, 2).ravel()
        _forward_filters_in_vectors(
            x,
            np.ascontiguousarray(w_t[by_kernel_row]),
            b,
            offsets[by_kernel_row],
            _positions(*out_hw, wp, rows),
            kh,
            ph,
            pw,
            _parts(x.shape[0]),
            y,
        )
        return y
    # The filters as panels of TILE_ROWS filters, tap by tap: panels[g, t, m] = w[g·TILE_ROWS + m, t]
    # (zero filters past O), so that the micro-kernel reads its 8 weights of tap t as one run.
    groups = -(-n_filters // TILE_ROWS)
    w_rows = np.zeros((groups * TILE_ROWS, taps), dtype=dtype)
    w_rows[:n_filters] = w2d
    panels = np.ascontiguousarray(w_rows.reshape(groups, TILE_ROWS, taps).transpose(0, 2, 1))
    b = _zero_padded(bias, groups * TILE_ROWS, dtype)
    _forward_positions_in_vectors(x, panels, b, offsets, ph, pw, _parts(x.shape[0]), y)
    return y


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


# ------------------------------------------------------------------ the registry's conv2d roles
def conv2d_forward(x, w, bias, stride, padding, layout=None, workspace=SHARED_WORKSPACE):
    """y[n, o, p, q] = b[o] + Σ_t w[o, t] · image_n[offsets[t] + p·Wp + q]   (stride 1; see the module docstring)."""
    check_supported(w.shape[2:], stride, padding)
    if not np.isfinite(w).all():  # see the module docstring: plain arithmetic on the padding
        return numba_im2col.conv2d_forward(x, w, bias, stride, padding, workspace=workspace)
    n_filters, _, kh, kw = w.shape
    oh, ow = output_size(x.shape[2], kh, 1, padding[0]), output_size(x.shape[3], kw, 1, padding[1])
    dtype = np.result_type(x, w)
    x = np.ascontiguousarray(x, dtype=dtype)
    return _stride_one_conv(x, np.ascontiguousarray(w, dtype=dtype), bias, padding, (oh, ow), layout, workspace)


def conv2d_backward_weight(grad_y, x, w_shape, stride, padding, workspace=SHARED_WORKSPACE):
    """∂L/∂w[o, t] = Σ_{n,p,q} ∂L/∂y[n, o, p, q] · image_n[offsets[t] + p·Wp + q], by register tiles of 8 taps × 2L filters."""
    check_supported(w_shape[2:], stride, padding)
    n_images, n_filters, oh, ow = grad_y.shape
    dtype = grad_y.dtype
    _, channels, kh, kw = w_shape
    filter_size = channels * kh * kw
    span = TILE_VECTORS * lanes(dtype)
    rows = -(-filter_size // TILE_ROWS) * TILE_ROWS  # whole tiles of taps and of filters
    n_parts = _parts(n_images)
    parts = workspace.empty((n_parts, rows, -(-n_filters // span) * span), dtype)  # zeroed by the kernel
    offsets = _tap_offsets(channels, kh, kw, x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1], rows)
    positions = _positions(oh, ow, x.shape[3] + 2 * padding[1])
    _weight_gradient(
        np.ascontiguousarray(grad_y),
        np.ascontiguousarray(x, dtype=dtype),
        offsets,
        positions,
        padding[0],
        padding[1],
        parts,
    )
    grad_w_t = parts.sum(axis=0)[:filter_size, :n_filters]  # (taps, filters)
    return np.ascontiguousarray(grad_w_t.T).reshape(w_shape)


def conv2d_backward_input(grad_y, w, x_shape, stride, padding, layout=None, workspace=SHARED_WORKSPACE):
    """∂L/∂x: with stride 1, the forward conv of ∂L/∂y (padded by KH−1−ph, KW−1−pw) with the flipped filters.

    ∂L/∂x[n, c, h, v] = Σ_{o,i,j} ∂L/∂y[n, o, h + ph - i, v + pw - j] · w[o, c, i, j]
    is itself a convolution: of ∂L/∂y zero-padded by (KH-1-ph, KW-1-pw) with the filters
    flipped in space and with their channel axes swapped, (C, O, KH, KW). (It also multiplies
    the zeros of that padding: 40 % more work at 13² without padding, none with "same" padding;
    _forward_filters_in_vectors leaves out the kernel rows that meet only those zeros, about 15 % of it.)
    """
    check_supported(w.shape[2:], stride, padding)
    if not np.isfinite(w).all():  # see the module docstring: no 0 · NaN on the padding of ∂L/∂y
        return numba_im2col.conv2d_backward_input(grad_y, w, x_shape, stride, padding, workspace=workspace)
    _, _, height, width = x_shape
    _, _, kh, kw = w.shape
    (ph, pw) = padding
    w_flipped = np.ascontiguousarray(np.asarray(w, dtype=grad_y.dtype)[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    return _stride_one_conv(
        np.ascontiguousarray(grad_y), w_flipped, None, (kh - 1 - ph, kw - 1 - pw), (height, width), layout, workspace
    )


# ------------------------------------------------------------------ the kernels
@njit(cache=True, error_model="numpy")
def _copy_padded(x, n, ph, pw, image):
    """image (flat, C × Hp × Wp) = x[n] zero-padded by (ph, pw); the padding must already be 0."""
    channels, height, width = x.shape[1], x.shape[2], x.shape[3]
    hp, wp = height + 2 * ph, width + 2 * pw
    for c in range(channels):
        for h in range(height):
            start = (c * hp + h + ph) * wp + pw
            image[start : start + width] = x[n, c, h]


@njit(parallel=True, fastmath=FAST, cache=True, error_model="numpy")
def _forward_positions_in_vectors(x, panels, bias, offsets, ph, pw, n_parts, y):
    """y[n, o, p, q] = b[o] + Σ_t w[o, t] · image_n[offsets[t] + p·Wp + q],  image_n = x[n] zero-padded
    by (ph, pw), stored flat (stride 1; see the module docstring).

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
        image = np.zeros(
            max(channels * hp * wp, offsets.max() + n_spans * span), dtype=y.dtype
        )  # + slack: the last span reads past C·Hp·Wp
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


@njit(parallel=True, fastmath=FAST, cache=True, error_model="numpy")
def _forward_filters_in_vectors(x, w_t, bias, offsets, positions, kh, ph, pw, n_parts, y):
    """The same as _forward_positions_in_vectors, with the filters in the vectors: yᵀ[s, o] = b[o] + Σ_t image[positions[s] + offsets[t]] · wᵀ[t, o]
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


@njit(parallel=True, fastmath=FAST, cache=True, error_model="numpy")
def _weight_gradient(grad_y, x, offsets, positions, ph, pw, parts):
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


# END SOLUTION
