"""Max pooling in NumPy on strided views (registered as maxpool2d "numpy").

A pooling window has KH·KW taps; tap (i, j) of every window at once is one
strided view of the input, x[:, :, i::sh, j::sw] cut to the output size. So

    y = max over the KH·KW views          (a running maximum: KH·KW vectorised passes)
    argmax = the tap i·KW + j whose view won (the first one on ties, as the reference)

NaN wins, as in PyTorch: a NaN anywhere in the window makes the output NaN,
and the gradient goes to the last NaN of the window (a later tap takes over
when it is larger *or NaN*, as in PyTorch's loop; see reference.maxpool2d_forward).

and backward adds ∂L/∂y into the view of each window's winning tap. No copy
of the windows is made. Shapes (NCHW): x (N, C, H, W), y (N, C, OH, OW).
"""

import numpy as np

from .reference import output_size


def window_views(x, kernel, stride):
    """Yield (k, view) for each tap k = i·KW + j of a pooling window: view[n, c, p, q] = x[n, c, p·sh + i, q·sw + j].

    Plain slicing, so it serves NumPy and CuPy arrays alike (ops/conv.py's average pooling uses it too).
    """
    (kh, kw), (sh, sw) = kernel, stride
    oh, ow = output_size(x.shape[2], kh, sh, 0), output_size(x.shape[3], kw, sw, 0)
    for i in range(kh):
        for j in range(kw):
            yield i * kw + j, x[:, :, i : i + sh * (oh - 1) + 1 : sh, j : j + sw * (ow - 1) + 1 : sw]


# BEGIN SOLUTION assignment=3 remove
def maxpool2d_forward(x, kernel, stride):
    """Running maximum over the KH·KW strided views of x; ``argmax`` remembers which view won."""
    views = window_views(x, kernel, stride)
    _, first = next(views)
    y = first.copy()
    argmax = np.zeros(y.shape, dtype=np.int32)
    for k, view in views:
        better = view > y  # strict: the first maximum wins ties, as in the reference
        better |= np.isnan(view)  # ... and every NaN takes over (NaN > y is always false)
        np.copyto(y, view, where=better)
        argmax[better] = k
    return y, argmax


def maxpool2d_backward(grad_y, argmax, x_shape, kernel, stride):
    """Route each ∂L/∂y to the input position that won its window."""
    grad_x = np.zeros(x_shape, dtype=grad_y.dtype)
    for k, view in window_views(grad_x, kernel, stride):
        view += np.where(argmax == k, grad_y, 0)
    return grad_x


# END SOLUTION
