"""Reference kernels: the definitions, written as loops a student can check by hand.

These are the ground truth every faster implementation is tested against.
They are slow (Python loops over output positions) and meant for small inputs.

Shapes (NCHW, as PyTorch):
    x  (N, C, H, W)       input images
    w  (O, C, KH, KW)     O filters, each C×KH×KW
    y  (N, O, OH, OW)     OH = (H + 2·ph − KH) // sh + 1, likewise OW
"""

import numpy as np


def output_size(size, kernel, stride, padding):
    """Output length of a convolution or pooling along one axis: ⌊(n + 2p − k)/s⌋ + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def pad_images(x, padding):
    """Zero-pad the two spatial axes of an NCHW array by (ph, pw)."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def pad_images_contiguous(x, padding, dtype):
    """pad_images of x in ``dtype``, always C-contiguous: what the compiled (Numba) kernels take."""
    return np.ascontiguousarray(pad_images(x.astype(dtype, copy=False), padding))


def conv2d_forward(x, w, bias, stride, padding):
    """y[n, o, p, q] = b[o] + Σ_c Σ_i Σ_j w[o, c, i, j] · x_pad[n, c, p·sh + i, q·sw + j]."""
    n_images, _, height, width = x.shape
    n_filters, _, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, padding
    oh, ow = output_size(height, kh, sh, ph), output_size(width, kw, sw, pw)
    xp = pad_images(x, padding)
    y = np.zeros((n_images, n_filters, oh, ow), dtype=np.result_type(x, w))
    # BEGIN SOLUTION assignment=3 task=conv_forward hint="y[n, o, p, q] = sum of the window xp[n, :, p*sh : p*sh+kh, q*sw : q*sw+kw] times the filter w[o]"
    for n in range(n_images):
        for o in range(n_filters):
            for p in range(oh):
                for q in range(ow):
                    window = xp[n, :, p * sh : p * sh + kh, q * sw : q * sw + kw]
                    y[n, o, p, q] = np.sum(window * w[o])
    # END SOLUTION
    if bias is not None:
        y += bias.reshape(1, -1, 1, 1)
    return y


def conv2d_backward_input(grad_y, w, x_shape, stride, padding):
    """∂L/∂x: every output position spreads its gradient back over the window it read.

    ∂L/∂x_pad[n, c, p·sh + i, q·sw + j] += Σ_o ∂L/∂y[n, o, p, q] · w[o, c, i, j], then the padding is cut off.
    """
    n_images, channels, height, width = x_shape
    _, _, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, padding
    _, n_filters, oh, ow = grad_y.shape
    grad_xp = np.zeros((n_images, channels, height + 2 * ph, width + 2 * pw), dtype=grad_y.dtype)
    # BEGIN SOLUTION assignment=3 task=conv_backward_input hint="each output spreads grad_y[n, o, p, q] * w[o] back over the window it read (+=, windows overlap)"
    for n in range(n_images):
        for o in range(n_filters):
            for p in range(oh):
                for q in range(ow):
                    grad_xp[n, :, p * sh : p * sh + kh, q * sw : q * sw + kw] += grad_y[n, o, p, q] * w[o]
    # END SOLUTION
    return grad_xp[:, :, ph : ph + height, pw : pw + width]


def conv2d_backward_weight(grad_y, x, w_shape, stride, padding):
    """∂L/∂w[o, c, i, j] = Σ_n Σ_p Σ_q ∂L/∂y[n, o, p, q] · x_pad[n, c, p·sh + i, q·sw + j]."""
    _, _, kh, kw = w_shape
    (sh, sw) = stride
    n_images, n_filters, oh, ow = grad_y.shape
    xp = pad_images(x, padding)
    grad_w = np.zeros(w_shape, dtype=grad_y.dtype)
    # BEGIN SOLUTION assignment=3 task=conv_backward_weight hint="grad_w[o] += grad_y[n, o, p, q] * the window under that output, over all n, p, q"
    for n in range(n_images):
        for o in range(n_filters):
            for p in range(oh):
                for q in range(ow):
                    grad_w[o] += grad_y[n, o, p, q] * xp[n, :, p * sh : p * sh + kh, q * sw : q * sw + kw]
    # END SOLUTION
    return grad_w


def maxpool2d_forward(x, kernel, stride):
    """y[n, c, p, q] = max over the kernel window at (p·sh, q·sw); also returns where the max was.

    ``argmax`` holds, for each output, the flat position i·KW + j of the winner
    inside its window (the first one on ties), which the backward pass needs.

    NaN wins, as in PyTorch: a NaN anywhere in the window makes the output NaN,
    and the winner (where the gradient goes) is the *last* NaN in the window,
    row by row (PyTorch's loop takes a value that is larger *or NaN*, so each
    later NaN takes over). ±Inf are ordinary numbers here: +Inf wins, and a
    window of -Inf only gives -Inf at its first position.
    """
    n_images, channels, height, width = x.shape
    (kh, kw), (sh, sw) = kernel, stride
    oh, ow = output_size(height, kh, sh, 0), output_size(width, kw, sw, 0)
    y = np.empty((n_images, channels, oh, ow), dtype=x.dtype)
    argmax = np.empty((n_images, channels, oh, ow), dtype=np.int32)
    for n in range(n_images):
        for c in range(channels):
            for p in range(oh):
                for q in range(ow):
                    # BEGIN SOLUTION assignment=3 task=maxpool_forward hint="the window's maximum, and its flat position i*KW + j in argmax (np.argmax gives the first on ties; a NaN wins: the last one)"
                    window = x[n, c, p * sh : p * sh + kh, q * sw : q * sw + kw]
                    nans = np.flatnonzero(np.isnan(window))
                    # np.argmax would pick the first NaN; PyTorch's gradient goes to the last one.
                    k = int(nans[-1]) if nans.size else int(np.argmax(window))
                    argmax[n, c, p, q] = k
                    y[n, c, p, q] = window.flat[k]
                    # END SOLUTION
    return y, argmax


def maxpool2d_backward(grad_y, argmax, x_shape, kernel, stride):
    """∂L/∂x is zero except at each window's maximum, which receives that window's ∂L/∂y."""
    (_, kw), (sh, sw) = kernel, stride  # argmax = i·KW + j: only the width is needed to decode it
    grad_x = np.zeros(x_shape, dtype=grad_y.dtype)
    n_images, channels, oh, ow = grad_y.shape
    for n in range(n_images):
        for c in range(channels):
            for p in range(oh):
                for q in range(ow):
                    # BEGIN SOLUTION assignment=3 task=maxpool_backward hint="only the winner (i, j) = divmod(argmax, KW) of each window gets that window's gradient"
                    i, j = divmod(int(argmax[n, c, p, q]), kw)
                    grad_x[n, c, p * sh + i, q * sw + j] += grad_y[n, c, p, q]
                    # END SOLUTION
    return grad_x


def matmul(a, b):
    """C[i, j] = Σ_k A[i, k] · B[k, j], one dot product per output element."""
    m, k = a.shape
    _, n = b.shape
    c = np.zeros((m, n), dtype=np.result_type(a, b))
    for i in range(m):
        for j in range(n):
            c[i, j] = np.dot(a[i, :], b[:, j])
    return c


def relu_backward(grad, y, xp=np):
    """∂L/∂x of y = relu(x), from ReLU's output: 0 where y ≤ 0, else ∂L/∂y, as PyTorch's threshold_backward.

    So where y is NaN the gradient passes (NaN ≤ 0 is false), and where y ≤ 0 it is 0
    even if ∂L/∂y is NaN or ±Inf (a plain ``grad * (y > 0)`` would give NaN there,
    NaN·0 = NaN, and would drop the gradient of a NaN). The product with the mask is
    used because it is fast; ``np.where`` (6× slower, measured) only puts right the rare
    ∞·0. ``xp``: NumPy, or CuPy for CuPy arrays.
    """
    # BEGIN SOLUTION assignment=2 task=relu_backward hint="dy/dx = 1 where x > 0, else 0 (PyTorch: 0 where y <= 0, else grad, even when grad is NaN or inf)"
    passes = ~(y <= 0)  # not y > 0: a NaN (relu(NaN) = NaN) passes its gradient on, as in PyTorch
    with np.errstate(invalid="ignore"):  # ∞ · 0 = NaN is put right below
        grad_x = grad * passes
    if not xp.isfinite(grad_x).all():
        grad_x = xp.where(passes, grad, grad.dtype.type(0))
    # END SOLUTION
    return grad_x


def compose_conv_relu_maxpool(
    conv2d_forward, conv2d_backward_input, conv2d_backward_weight, maxpool2d_forward, maxpool2d_backward
):
    """Build the fused conv → ReLU → max-pool kernels out of separate conv and pool kernels.

    Uses max(relu(z)) = relu(max(z)) (ReLU is monotone), so the ReLU runs on the
    pooled output, a quarter of the size. That holds with NaN too: max-pooling
    takes the last NaN of a window either way, and relu(NaN) = NaN (np.maximum
    keeps NaN), whose derivative passes the gradient as PyTorch's does
    (:func:`relu_backward`). Returns (forward, backward) with the signatures of
    the ``conv2d_relu_maxpool2d`` roles in :mod:`tinydl.kernels`.
    """

    def forward(x, w, bias, stride, padding, pool_kernel, pool_stride):
        pooled, argmax = maxpool2d_forward(conv2d_forward(x, w, bias, stride, padding), pool_kernel, pool_stride)
        return np.maximum(pooled, 0), argmax

    def backward(grad_y, y, argmax, x, w, stride, padding, pool_kernel, pool_stride, need_input_grad):
        grad_pooled = relu_backward(grad_y, y)
        oh = output_size(x.shape[2], w.shape[2], stride[0], padding[0])
        ow = output_size(x.shape[3], w.shape[3], stride[1], padding[1])
        conv_shape = (x.shape[0], w.shape[0], oh, ow)
        grad_conv = maxpool2d_backward(grad_pooled, argmax, conv_shape, pool_kernel, pool_stride)
        grad_x = conv2d_backward_input(grad_conv, w, x.shape, stride, padding) if need_input_grad else None
        grad_w = conv2d_backward_weight(grad_conv, x, w.shape, stride, padding)
        return grad_x, grad_w, grad_pooled.sum(axis=(0, 2, 3))

    return forward, backward


conv2d_relu_maxpool2d_forward, conv2d_relu_maxpool2d_backward = compose_conv_relu_maxpool(
    conv2d_forward, conv2d_backward_input, conv2d_backward_weight, maxpool2d_forward, maxpool2d_backward
)
