# BEGIN SOLUTION assignment=3 remove
"""conv3d and max-pool3d on strided views, written with ``xp`` (registered as "numpy" on the CPU, "cupy" on CUDA).

A KD×KH×KW kernel has KD·KH·KW taps; tap (i, j, k) of every window at once is
one strided view of the (padded) input, x[:, :, i::sd, j::sh, k::sw] cut to the
output size. So a 3-D convolution is a sum over the taps of one matrix product
each (BLAS / cuBLAS via ``tensordot``), with no im2col copy of the windows:

    y[n, o]        += Σ_c w[o, c, i, j, k] · view_ijk[n, c]
    ∂L/∂w[o, c, i, j, k] = Σ_{n, spatial} ∂L/∂y[n, o] · view_ijk[n, c]
    ∂L/∂view_ijk[n, c]  += Σ_o ∂L/∂y[n, o] · w[o, c, i, j, k]      (added back into the padded gradient)

and max pooling is a running maximum over the tap views. Plain slicing and
``tensordot``, so NumPy and CuPy arrays alike. Checked against
:mod:`tinydl.kernels.reference_3d`.
"""

from ..backend import array_module


def _out(shape, kernel, stride, padding):
    return tuple((n + 2 * p - k) // s + 1 for n, k, s, p in zip(shape, kernel, stride, padding))


def tap_views(x, kernel, stride, out):
    """Yield (t, view) for each tap t = i·KH·KW + j·KW + k: view[n, c, a, p, q] = x[n, c, a·sd + i, p·sh + j, q·sw + k]."""
    (kd, kh, kw), (sd, sh, sw), (od, oh, ow) = kernel, stride, out
    for i in range(kd):
        for j in range(kh):
            for k in range(kw):
                view = x[
                    :, :, i : i + sd * (od - 1) + 1 : sd, j : j + sh * (oh - 1) + 1 : sh, k : k + sw * (ow - 1) + 1 : sw
                ]
                yield (i * kh + j) * kw + k, view


def _pad(x, padding):
    if not any(padding):
        return x
    return array_module(x).pad(x, ((0, 0), (0, 0)) + tuple((p, p) for p in padding))


def _taps(w):
    """The kernel's taps in tap_views' order: w[:, :, i, j, k] as (t, (O, C) matrix)."""
    kd, kh, kw = w.shape[2:]
    for i in range(kd):
        for j in range(kh):
            for k in range(kw):
                yield w[:, :, i, j, k]


def conv3d_forward(x, w, bias, stride, padding):
    xp = array_module(x)
    out = _out(x.shape[2:], w.shape[2:], stride, padding)
    y = xp.zeros((x.shape[0],) + out + (w.shape[0],), dtype=xp.result_type(x, w))  # channels last while summing
    for (_, view), tap in zip(tap_views(_pad(x, padding), w.shape[2:], stride, out), _taps(w)):
        y += xp.tensordot(view, tap, axes=((1,), (1,)))  # (N, OD, OH, OW, O)
    if bias is not None:
        y += bias
    return xp.ascontiguousarray(xp.moveaxis(y, -1, 1))


def conv3d_backward_weight(grad_y, x, w_shape, stride, padding):
    xp = array_module(grad_y)
    grad_w = xp.zeros(w_shape, dtype=grad_y.dtype)
    kd, kh, kw = w_shape[2:]
    for t, view in tap_views(_pad(x, padding), w_shape[2:], stride, grad_y.shape[2:]):
        i, j, k = t // (kh * kw), (t // kw) % kh, t % kw
        grad_w[:, :, i, j, k] = xp.tensordot(grad_y, view, axes=((0, 2, 3, 4), (0, 2, 3, 4)))
    return grad_w


def conv3d_backward_input(grad_y, w, x_shape, stride, padding):
    xp = array_module(grad_y)
    padded = tuple(n + 2 * p for n, p in zip(x_shape[2:], padding))
    grad_xp = xp.zeros(tuple(x_shape[:2]) + padded, dtype=grad_y.dtype)
    for (_, view), tap in zip(tap_views(grad_xp, w.shape[2:], stride, grad_y.shape[2:]), _taps(w)):
        view += xp.moveaxis(xp.tensordot(grad_y, tap, axes=((1,), (0,))), -1, 1)  # (N, C, OD, OH, OW)
    (pd, ph, pw), (d, h, wd) = padding, x_shape[2:]
    return grad_xp[:, :, pd : pd + d, ph : ph + h, pw : pw + wd]


def maxpool3d_forward(x, kernel, stride):
    """Running maximum over the tap views; the first maximum wins ties, every NaN takes over (as PyTorch)."""
    xp = array_module(x)
    views = tap_views(x, kernel, stride, _out(x.shape[2:], kernel, stride, (0, 0, 0)))
    _, first = next(views)
    y = first.copy()
    argmax = xp.zeros(y.shape, dtype=xp.int64)
    for t, view in views:
        better = (view > y) | xp.isnan(view)
        y = xp.where(better, view, y)
        argmax = xp.where(better, t, argmax)
    return y, argmax


def maxpool3d_backward(grad_y, argmax, x_shape, kernel, stride):
    xp = array_module(grad_y)
    grad_x = xp.zeros(x_shape, dtype=grad_y.dtype)
    for t, view in tap_views(grad_x, kernel, stride, grad_y.shape[2:]):
        view += xp.where(argmax == t, grad_y, 0)
    return grad_x


# END SOLUTION
