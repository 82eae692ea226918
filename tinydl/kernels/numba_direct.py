# BEGIN SOLUTION assignment=3 remove
"""Direct convolution fused with ReLU and max pooling, in Numba (registered as "numba_direct").

    y[n, o, pp, qq] = relu(max_{di,dj} (b[o] + Σ_t w[o, t] · window_t(n, pp·psh + di, qq·psw + dj)))

For each pooling window: the conv (+ b) at each of its positions, window by window
(no im2col, no BLAS), the maximum, ReLU; the full-size conv output is
never stored, only the pooled y and which position won (argmax). The weights
are held tap by tap, so the innermost loop runs over the filters with
contiguous weights: each window of the image is read once and used by every
filter (SIMD over filters, not over pixels). Backward, with g = ∂L/∂y except
where y ≤ 0 (ReLU's derivative), routed to each pooling window's winner:

    ∂L/∂w[o, t] += g[o] · window[t],   ∂L/∂b[o] += g[o],   ∂L/∂x[window t] += Σ_o g[o] · w[o, t].

When it wins: small filters, such as the article's first layer (1·3·3 = 9 taps),
where a matrix product would be too thin to pay for its copies (``numba`` uses
it up to numba_conv.DIRECT_MAX_TAPS taps). Any stride and padding.

NaN and ±Inf propagate as in PyTorch's conv → ReLU → max-pool: NaN wins the
pooling (a NaN anywhere in the window makes the output NaN, and the gradient goes
to the last NaN of the window), relu(NaN) = NaN, and ReLU's derivative passes the
gradient of a NaN (it is 0 only where y ≤ 0). The bias is added before the maximum
(one addition per position and filter), so that a NaN or infinite bias picks the
same winner as the unfused ops do. No fastmath here: it would let LLVM assume
there is no NaN.

Shapes (NCHW): x (N, C, H, W), w (O, C, KH, KW), y and argmax (N, O, POH, POW),
POH = (OH − PKH) // psh + 1 for the conv output height OH; argmax holds di·PKW + dj.
"""

import numpy as np

from . import numba_im2col
from ._numba import njit, numba, prange
from .numba_pool import pooled_outputs
from .reference import output_size, pad_images_contiguous
from .workspace import SHARED_WORKSPACE


# ------------------------------------------------------------------ the registry's conv2d_relu_maxpool2d roles
def conv2d_relu_maxpool2d_forward(x, w, bias, stride, padding, pool_kernel, pool_stride, workspace=SHARED_WORKSPACE):
    """(y, argmax) = relu(maxpool(conv2d(x, w) + b)) and the winner of each pooling window, one image per thread."""
    n_images, channels, height, width = x.shape
    n_filters, _, kh, kw = w.shape
    oh, ow = output_size(height, kh, stride[0], padding[0]), output_size(width, kw, stride[1], padding[1])
    (pkh, pkw), (psh, psw) = pool_kernel, pool_stride
    dtype = np.result_type(x, w)
    xp = pad_images_contiguous(x, padding, dtype)
    w2d = np.ascontiguousarray(w, dtype=dtype).reshape(n_filters, channels * kh * kw)
    y, argmax = pooled_outputs((n_images, n_filters, oh, ow), pool_kernel, pool_stride, dtype, workspace)
    b = np.zeros(n_filters, dtype) if bias is None else np.asarray(bias, dtype=dtype)
    _direct_forward(xp, np.ascontiguousarray(w2d.T), b, kh, kw, stride[0], stride[1], pkh, pkw, psh, psw, y, argmax)
    return y, argmax


def conv2d_relu_maxpool2d_backward(
    grad_y, y, argmax, x, w, stride, padding, pool_kernel, pool_stride, need_input_grad, workspace=SHARED_WORKSPACE
):
    """(∂L/∂x or None, ∂L/∂w, ∂L/∂b), window by window (see the module docstring).

    Overlapping pooling windows (pool stride < pool kernel) go to numba_im2col's backward:
    a conv output that wins two windows must get the sum of their gradients before it
    is multiplied by x, as in plain arithmetic (PyTorch, the reference); window by window,
    g₁·x + g₂·x is NaN where (g₁ + g₂)·x is ±Inf (x = Inf, g₁ = −g₂ in sign).
    """
    if pool_stride[0] < pool_kernel[0] or pool_stride[1] < pool_kernel[1]:
        return numba_im2col.conv2d_relu_maxpool2d_backward(
            grad_y, y, argmax, x, w, stride, padding, pool_kernel, pool_stride, need_input_grad, workspace=workspace
        )
    n_images, channels, height, width = x.shape
    n_filters, _, kh, kw = w.shape
    (ph, pw) = padding
    (pkh, pkw), (psh, psw) = pool_kernel, pool_stride
    dtype = grad_y.dtype
    xp = pad_images_contiguous(x, padding, dtype)
    filter_size = channels * kh * kw
    w2d = np.ascontiguousarray(np.asarray(w, dtype=dtype).reshape(n_filters, filter_size))
    grad_xp = workspace.empty((n_images, channels, height + 2 * ph, width + 2 * pw), dtype) if need_input_grad else None
    n_parts = min(n_images, 2 * numba.get_num_threads())
    parts = workspace.empty((n_parts, filter_size + 1, n_filters), dtype)  # last row: ∂L/∂b; zeroed by the kernel
    _direct_backward(
        grad_y,
        y,
        argmax,
        xp,
        w2d,
        kh,
        kw,
        stride[0],
        stride[1],
        pkh,
        pkw,
        psh,
        psw,
        parts,
        grad_xp if need_input_grad else xp,
        need_input_grad,
    )
    total = parts.sum(axis=0)
    grad_w, grad_b = np.ascontiguousarray(total[:-1].T).reshape(w.shape), total[-1]
    _add_unpooled_zeros(xp, w, stride, pool_kernel, pool_stride, grad_w, grad_xp if need_input_grad else None)
    grad_x = None
    if need_input_grad:
        grad_x = grad_xp[:, :, ph : ph + height, pw : pw + width] if ph or pw else grad_xp
    return grad_x, grad_w, grad_b


def _add_unpooled_zeros(xp, w, stride, pool_kernel, pool_stride, grad_w, grad_xp):
    """Add the products 0 · x and 0 · w of the conv outputs no pooling window reads, as plain arithmetic does.

    Their ∂L/∂z is 0, so the kernel skips them; but the reference and PyTorch multiply
    every conv output's gradient, and 0 · Inf = NaN. Such outputs exist only where the
    pooling leaves gaps (stride > kernel) or cuts off the last rows/columns (an odd conv
    output with 2 × 2 pooling), and there this adds a few numbers: exact for finite
    inputs (+ 0), NaN where plain arithmetic gives NaN. ∂L/∂x needs it only for
    non-finite filters (a check of O·C·KH·KW numbers).
    """
    (_, _, kh, kw), (sh, sw) = w.shape, stride
    oh, ow = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    read = []
    for size, kernel, step in ((oh, pool_kernel[0], pool_stride[0]), (ow, pool_kernel[1], pool_stride[1])):
        covered = np.zeros(size, dtype=bool)
        for start in range(0, size - kernel + 1, step):
            covered[start : start + kernel] = True
        read.append(covered)
    ps, qs = np.nonzero(~(read[0][:, None] & read[1][None, :]))
    if ps.size == 0:  # the usual case: every conv output is in a pooling window
        return
    rows = (ps[:, None] * sh + np.arange(kh))[:, :, None]  # (U, KH, 1): the windows of the unread outputs
    cols = (qs[:, None] * sw + np.arange(kw))[:, None, :]  # (U, 1, KW)
    windows = xp[:, :, rows, cols]  # (N, C, U, KH, KW)
    grad_w += (windows * 0).sum(axis=(0, 2))  # (C, KH, KW), the same for every filter
    if grad_xp is not None and not np.isfinite(w).all():
        np.add.at(grad_xp, (slice(None), slice(None), rows, cols), (w * 0).sum(axis=0)[:, None])


# ------------------------------------------------------------------ the kernels
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
def _direct_forward(xp, w_taps, bias, kh, kw, sh, sw, pkh, pkw, psh, psw, y, argmax):
    """For each pooling window: conv + b at each of its positions, max (NaN wins), ReLU.  (One image per thread.)

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
                            z = conv[o] + bias[o]
                            # strict: the first maximum wins ties; a NaN always takes over (NaN > best is false)
                            if k == 0 or z > best[o] or z != z:
                                best[o] = z
                                where[o] = k
                for o in range(n_filters):
                    v = best[o]
                    y[n, o, pp, qq] = 0.0 if v <= 0 else v  # ReLU keeps NaN (NaN <= 0 is false)
                    argmax[n, o, pp, qq] = where[o]


@njit(parallel=True, cache=True)
def _direct_backward(grad_y, y, argmax, xp, w2d, kh, kw, sh, sw, pkh, pkw, psh, psw, parts, grad_xp, need_input_grad):
    """With g = ∂L/∂y except where y ≤ 0 (ReLU: 0 there; a NaN y passes it), routed to each window's winner:
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
                        g_image[pp, qq, o] = 0.0 if y[n, o, pp, qq] <= 0 else grad_y[n, o, pp, qq]
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


# END SOLUTION
