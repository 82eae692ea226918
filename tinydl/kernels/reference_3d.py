# BEGIN SOLUTION assignment=3 remove
"""Reference kernels for volumes (NCDHW: CT and MRI scans): conv3d and max-pool3d as loops.

The 3-D versions of :mod:`tinydl.kernels.reference`'s definitions, one more
spatial axis (depth) everywhere; the ground truth the NumPy/CuPy kernels
(:mod:`tinydl.kernels.numpy_3d`) are tested against. Slow: for small inputs.

    x  (N, C, D, H, W)      w  (O, C, KD, KH, KW)      y  (N, O, OD, OH, OW)
    OD = (D + 2·pd − KD) // sd + 1, likewise OH, OW
"""

import numpy as np


def pad_volumes(x, padding):
    """Zero-pad the three spatial axes of an NCDHW array by (pd, ph, pw)."""
    if not any(padding):
        return x
    return np.pad(x, ((0, 0), (0, 0)) + tuple((p, p) for p in padding))


def _out(shape, kernel, stride, padding):
    return tuple((n + 2 * p - k) // s + 1 for n, k, s, p in zip(shape, kernel, stride, padding))


def conv3d_forward(x, w, bias, stride, padding):
    """y[n, o, a, p, q] = b[o] + Σ_{c,i,j,k} w[o, c, i, j, k] · x_pad[n, c, a·sd + i, p·sh + j, q·sw + k]."""
    kernel, (sd, sh, sw) = w.shape[2:], stride
    kd, kh, kw = kernel
    out = _out(x.shape[2:], kernel, stride, padding)
    xp = pad_volumes(x, padding)
    y = np.zeros((x.shape[0], w.shape[0]) + out, dtype=np.result_type(x, w))
    for n in range(x.shape[0]):
        for o in range(w.shape[0]):
            for a in range(out[0]):
                for p in range(out[1]):
                    for q in range(out[2]):
                        window = xp[n, :, a * sd : a * sd + kd, p * sh : p * sh + kh, q * sw : q * sw + kw]
                        y[n, o, a, p, q] = np.sum(window * w[o])
    if bias is not None:
        y += bias.reshape(1, -1, 1, 1, 1)
    return y


def conv3d_backward_input(grad_y, w, x_shape, stride, padding):
    """∂L/∂x_pad[window of (a, p, q)] += Σ_o ∂L/∂y[n, o, a, p, q] · w[o], then the padding is cut off."""
    (kd, kh, kw), (sd, sh, sw) = w.shape[2:], stride
    padded = tuple(n + 2 * p for n, p in zip(x_shape[2:], padding))
    grad_xp = np.zeros(tuple(x_shape[:2]) + padded, dtype=grad_y.dtype)
    for n in range(grad_y.shape[0]):
        for o in range(grad_y.shape[1]):
            for a in range(grad_y.shape[2]):
                for p in range(grad_y.shape[3]):
                    for q in range(grad_y.shape[4]):
                        window = grad_xp[n, :, a * sd : a * sd + kd, p * sh : p * sh + kh, q * sw : q * sw + kw]
                        window += grad_y[n, o, a, p, q] * w[o]
    (pd, ph, pw), (d, h, wd) = padding, x_shape[2:]
    return grad_xp[:, :, pd : pd + d, ph : ph + h, pw : pw + wd]


def conv3d_backward_weight(grad_y, x, w_shape, stride, padding):
    """∂L/∂w[o] = Σ_{n,a,p,q} ∂L/∂y[n, o, a, p, q] · (the window of x_pad under that output)."""
    (kd, kh, kw), (sd, sh, sw) = w_shape[2:], stride
    xp = pad_volumes(x, padding)
    grad_w = np.zeros(w_shape, dtype=grad_y.dtype)
    for n in range(grad_y.shape[0]):
        for o in range(grad_y.shape[1]):
            for a in range(grad_y.shape[2]):
                for p in range(grad_y.shape[3]):
                    for q in range(grad_y.shape[4]):
                        window = xp[n, :, a * sd : a * sd + kd, p * sh : p * sh + kh, q * sw : q * sw + kw]
                        grad_w[o] += grad_y[n, o, a, p, q] * window
    return grad_w


def maxpool3d_forward(x, kernel, stride):
    """y = the maximum of each KD×KH×KW window; argmax = its flat position i·KH·KW + j·KW + k in the window.

    The first maximum wins ties; a NaN wins (the last NaN of the window), as PyTorch and the 2-D kernels.
    """
    (kd, kh, kw), (sd, sh, sw) = kernel, stride
    out = _out(x.shape[2:], kernel, stride, (0, 0, 0))
    y = np.zeros(x.shape[:2] + out, dtype=x.dtype)
    argmax = np.zeros(y.shape, dtype=np.int64)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for a in range(out[0]):
                for p in range(out[1]):
                    for q in range(out[2]):
                        window = x[n, c, a * sd : a * sd + kd, p * sh : p * sh + kh, q * sw : q * sw + kw].ravel()
                        best = 0
                        for t in range(1, window.size):
                            if window[t] > window[best] or np.isnan(window[t]):
                                best = t
                        y[n, c, a, p, q], argmax[n, c, a, p, q] = window[best], best
    return y, argmax


def maxpool3d_backward(grad_y, argmax, x_shape, kernel, stride):
    """Each ∂L/∂y goes to the input its window's maximum came from."""
    (_, kh, kw), (sd, sh, sw) = kernel, stride
    grad_x = np.zeros(x_shape, dtype=grad_y.dtype)
    for n, c, a, p, q in np.ndindex(*grad_y.shape):
        t = int(argmax[n, c, a, p, q])
        i, j, k = t // (kh * kw), (t // kw) % kh, t % kw
        grad_x[n, c, a * sd + i, p * sh + j, q * sw + k] += grad_y[n, c, a, p, q]
    return grad_x


# END SOLUTION
