# BEGIN SOLUTION assignment=3 remove
"""Convolution in NumPy as im2col + one big matrix product (BLAS) (registered as conv2d "numpy").

im2col ("image to columns") lays every KH×KW window of the input out as one
row of a matrix; convolution is then a single matrix product with the
filters, which BLAS runs near the machine's peak. NumPy's
``sliding_window_view`` gives the windows without copying; ``tensordot`` does
the copy into a matrix and the product.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .numpy_pool import maxpool2d_backward, maxpool2d_forward
from .reference import compose_conv_relu_maxpool, pad_images


def im2col(x, kernel, stride, padding):
    """A view of shape (N, C, OH, OW, KH, KW): window (p, q) of image n, channel c."""
    (kh, kw), (sh, sw) = kernel, stride
    windows = sliding_window_view(pad_images(x, padding), (kh, kw), axis=(2, 3))
    return windows[:, :, ::sh, ::sw]


def conv2d_forward(x, w, bias, stride, padding):
    """y[n, o, p, q] = Σ_{c,i,j} cols[n, c, p, q, i, j] · w[o, c, i, j] (+ b[o])."""
    cols = im2col(x, w.shape[2:], stride, padding)
    y = np.tensordot(cols, w, axes=((1, 4, 5), (1, 2, 3)))  # (N, OH, OW, O)
    if bias is not None:
        y += bias
    return y.transpose(0, 3, 1, 2)


def conv2d_backward_weight(grad_y, x, w_shape, stride, padding):
    """∂L/∂w[o, c, i, j] = Σ_{n,p,q} ∂L/∂y[n, o, p, q] · cols[n, c, p, q, i, j]."""
    cols = im2col(x, w_shape[2:], stride, padding)
    return np.tensordot(grad_y, cols, axes=((0, 2, 3), (0, 2, 3)))


def conv2d_backward_input(grad_y, w, x_shape, stride, padding):
    """col2im: ∂L/∂cols = ∂L/∂y · w, then each window's gradient is added back where it came from."""
    _, _, height, width = x_shape
    _, _, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, padding
    _, _, oh, ow = grad_y.shape
    grad_cols = np.tensordot(grad_y, w, axes=((1,), (0,)))  # (N, OH, OW, C, KH, KW)
    grad_cols = grad_cols.transpose(0, 3, 1, 2, 4, 5)  # (N, C, OH, OW, KH, KW)
    grad_xp = np.zeros((x_shape[0], x_shape[1], height + 2 * ph, width + 2 * pw), dtype=grad_y.dtype)
    for i in range(kh):
        for j in range(kw):
            grad_xp[:, :, i : i + sh * (oh - 1) + 1 : sh, j : j + sw * (ow - 1) + 1 : sw] += grad_cols[..., i, j]
    return grad_xp[:, :, ph : ph + height, pw : pw + width]


# The fused op, composed of this module's conv and numpy_pool's max pooling.
conv2d_relu_maxpool2d_forward, conv2d_relu_maxpool2d_backward = compose_conv_relu_maxpool(
    conv2d_forward, conv2d_backward_input, conv2d_backward_weight, maxpool2d_forward, maxpool2d_backward
)
# END SOLUTION
