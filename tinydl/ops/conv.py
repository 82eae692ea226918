"""Convolution and pooling: conv2d, max_pool2d, avg_pool2d, and the fused conv2d_relu_maxpool2d (NCHW).

The loops themselves live in :mod:`tinydl.kernels`, where several
interchangeable implementations are registered per device (CPU: readable
reference loops, NumPy im2col + BLAS, Numba; CUDA: CUDA C kernels through
CuPy); these Functions hold the maths and the bookkeeping, and call whichever
kernel is selected for the device their input lives on
(``td.kernels.use("conv2d", "numpy")``).

Output size along each spatial axis, for input n, kernel k, stride s, padding p:
    out = ⌊(n + 2p − k) / s⌋ + 1
"""

import numpy as np

from .. import kernels
from ..backend import array_module
from ..function import Function
from ..kernels.numpy_pool import window_views
from ..tensor import as_tensor


def two_ints(value, name):
    """The option ``name`` (a kernel size, stride or padding), given as an int or a pair of ints,
    as a pair of ints (height, width); a TypeError names the option otherwise."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value), int(value)
    try:
        a, b = value
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}") from None
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (a, b)):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    return int(a), int(b)


def _check_window(where, name, x_shape, kernel, stride, padding):
    if len(x_shape) != 4:
        raise ValueError(f"{where} expects an input of shape (N, C, H, W), got {x_shape}")
    if min(kernel) < 1 or min(stride) < 1 or min(padding) < 0:
        raise ValueError(f"{where}: kernel {kernel} and stride {stride} must be ≥ 1 and padding {padding} ≥ 0")
    height, width = x_shape[2] + 2 * padding[0], x_shape[3] + 2 * padding[1]
    if kernel[0] > height or kernel[1] > width:
        raise ValueError(
            f"{where}: the {name} {kernel} is larger than the (padded) input {height}×{width} of shape {x_shape}"
        )


class Conv2d(Function):
    """y[n, o, p, q] = b[o] + Σ_{c,i,j} w[o, c, i, j] · x_pad[n, c, p·sh + i, q·sw + j]

    A filter w[o] slides over the (zero-padded) image; each output is the dot
    product of the filter with the window under it. Backward, by the chain rule
    on that sum:
        ∂L/∂w[o, c, i, j] = Σ_{n,p,q} ∂L/∂y[n, o, p, q] · x_pad[n, c, p·sh + i, q·sw + j]
        ∂L/∂x_pad[n, c, p·sh + i, q·sw + j] += Σ_o ∂L/∂y[n, o, p, q] · w[o, c, i, j]
        ∂L/∂b[o] = Σ_{n,p,q} ∂L/∂y[n, o, p, q]
    (the input gradient is a "transposed convolution" of ∂L/∂y with the filters).
    """

    @staticmethod
    def forward(ctx, x, w, *bias, stride=(1, 1), padding=(0, 0)):  # the bias is optional: apply(x, w[, b])
        ctx.has_bias = bool(bias)
        bias = bias[0] if bias else None
        ctx.stride, ctx.padding = stride, padding
        ctx.save_for_backward(x, w)
        return kernels.get_for("conv2d", x).conv2d_forward(x, w, bias, stride, padding)

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved
        conv = kernels.get_for("conv2d", grad)
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = conv.conv2d_backward_input(grad, w, x.shape, ctx.stride, ctx.padding)
        if ctx.needs_input_grad[1]:
            grad_w = conv.conv2d_backward_weight(grad, x, w.shape, ctx.stride, ctx.padding)
        if not ctx.has_bias:
            return grad_x, grad_w
        grad_b = grad.sum(axis=(0, 2, 3)) if ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b


class MaxPool2d(Function):
    """y[n, c, p, q] = max_{i<KH, j<KW} x[n, c, p·sh + i, q·sw + j]

    Backward: only the winner of each window affected the output, so
        ∂L/∂x[n, c, p·sh + i*, q·sw + j*] += ∂L/∂y[n, c, p, q]   at the argmax (i*, j*),
    and every other input gets 0. (At a tie the first maximum wins, as in PyTorch.)
    NaN wins, as in PyTorch: a NaN anywhere in the window makes the output NaN, and
    the gradient goes to the last NaN of the window.
    """

    @staticmethod
    def forward(ctx, x, kernel=(2, 2), stride=(2, 2)):
        y, argmax = kernels.get_for("maxpool2d", x).maxpool2d_forward(x, kernel, stride)
        ctx.kernel, ctx.stride, ctx.x_shape = kernel, stride, x.shape
        ctx.save_for_backward(argmax)
        return y

    @staticmethod
    def backward(ctx, grad):
        (argmax,) = ctx.saved
        return kernels.get_for("maxpool2d", grad).maxpool2d_backward(grad, argmax, ctx.x_shape, ctx.kernel, ctx.stride)


class Conv2dReLUMaxPool2d(Function):
    """y = maxpool(relu(conv2d(x, w) + b)) in one op: the first block of the article's CNN.

    Same values and gradients as the three ops one after another (tested), but
    the full-size conv and ReLU outputs are never kept: on a 2-core CPU those
    fresh (N, 32, 26, 26) arrays, written and read again, cost more than the
    arithmetic (docs/performance.md). Two facts make the fusion simple:
      * ReLU is monotone, so max(relu(z)) = relu(max(z)): the ReLU runs on the
        pooled output, a quarter of the size;
      * backward, ∂L/∂z is ∂L/∂y at each window's winner unless y ≤ 0, and 0
        elsewhere; from there the conv backward is the usual one.
    NaN and ±Inf give what the three ops give, as in PyTorch: a NaN wins its pooling
    window (the gradient goes to its last NaN), relu(NaN) = NaN passes the gradient on.
    """

    @staticmethod
    def forward(ctx, x, w, *bias, stride=(1, 1), padding=(0, 0), pool_kernel=(2, 2), pool_stride=(2, 2)):
        ctx.has_bias = bool(bias)
        ctx.options = dict(stride=stride, padding=padding, pool_kernel=pool_kernel, pool_stride=pool_stride)
        y, argmax = kernels.get_for("conv2d_relu_maxpool2d", x).conv2d_relu_maxpool2d_forward(
            x, w, bias[0] if bias else None, stride, padding, pool_kernel, pool_stride
        )
        ctx.save_for_backward(x, w, y, argmax)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, w, y, argmax = ctx.saved
        grad_x, grad_w, grad_b = kernels.get_for("conv2d_relu_maxpool2d", grad).conv2d_relu_maxpool2d_backward(
            grad, y, argmax, x, w, need_input_grad=ctx.needs_input_grad[0], **ctx.options
        )
        return (grad_x, grad_w, grad_b) if ctx.has_bias else (grad_x, grad_w)


class AvgPool2d(Function):
    """y[n, c, p, q] = (1 / (KH·KW)) Σ_{i,j} x[n, c, p·sh + i, q·sw + j]

    Backward: every input of a window contributed 1/(KH·KW) of its output, so
        ∂L/∂x[n, c, p·sh + i, q·sw + j] += ∂L/∂y[n, c, p, q] / (KH·KW).
    On the CPU: KH·KW vectorised additions of strided views, written once with
    ``xp``. On the GPU, pool.cu's kernels (one thread per output, and per input
    pixel backward) instead of KH·KW separate array operations.
    """

    @staticmethod
    def forward(ctx, x, kernel=(2, 2), stride=(2, 2)):
        ctx.kernel, ctx.stride, ctx.x_shape = kernel, stride, x.shape
        if kernels.device_of_array(x) == "cuda":
            from ..kernels.cuda import pool

            return pool.avgpool2d_forward(x, kernel, stride)
        (kh, kw), (sh, sw) = kernel, stride
        out_hw = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
        y = array_module(x).zeros(x.shape[:2] + out_hw, dtype=x.dtype)
        for _, view in window_views(x, kernel, stride):
            y += view
        return y / (kh * kw)

    @staticmethod
    def backward(ctx, grad):
        if kernels.device_of_array(grad) == "cuda":
            from ..kernels.cuda import pool

            return pool.avgpool2d_backward(grad, ctx.x_shape, ctx.kernel, ctx.stride)
        kh, kw = ctx.kernel
        grad_x = array_module(grad).zeros(ctx.x_shape, dtype=grad.dtype)
        share = grad / (kh * kw)
        for _, view in window_views(grad_x, ctx.kernel, ctx.stride):
            view += share
        return grad_x


def _conv_inputs(x, weight, bias, stride, padding):
    """Check the arguments of a convolution; return (tensors, stride, padding)."""
    x, weight = as_tensor(x), as_tensor(weight)
    stride, padding = two_ints(stride, "stride"), two_ints(padding, "padding")
    if weight.ndim != 4:
        raise ValueError(f"conv2d: weight must have shape (out_channels, in_channels, KH, KW), got {weight.shape}")
    _check_window("conv2d", "kernel", x.shape, weight.shape[2:], stride, padding)
    if x.shape[1] != weight.shape[1]:
        raise ValueError(
            f"conv2d: input has {x.shape[1]} channels (shape {x.shape}) but the weight expects "
            f"{weight.shape[1]} (shape {weight.shape})"
        )
    if x.dtype != weight.dtype:
        raise TypeError(f"conv2d: input is {x.dtype} but weight is {weight.dtype}; convert one of them")
    inputs = (x, weight)
    if bias is not None:
        bias = as_tensor(bias)
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"conv2d: bias must have shape ({weight.shape[0]},), got {bias.shape}")
        inputs += (bias,)
    return inputs, stride, padding


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """2-D convolution (cross-correlation, as in every DL framework) of ``x`` (N, C, H, W)
    with filters ``weight`` (O, C, KH, KW) and optional ``bias`` (O,) → (N, O, OH, OW)."""
    inputs, stride, padding = _conv_inputs(x, weight, bias, stride, padding)
    return Conv2d.apply(*inputs, stride=stride, padding=padding)


def conv2d_relu_maxpool2d(x, weight, bias=None, stride=1, padding=0, pool_size=2, pool_stride=None):
    """``max_pool2d(relu(conv2d(x, weight, bias, stride, padding)), pool_size, pool_stride)`` as one fused op."""
    inputs, stride, padding = _conv_inputs(x, weight, bias, stride, padding)
    conv_hw = tuple(
        (n + 2 * p - k) // s + 1 for n, p, k, s in zip(inputs[0].shape[2:], padding, weight.shape[2:], stride)
    )
    pool_kernel, pool_stride = _pool_args(
        "conv2d_relu_maxpool2d", inputs[0].shape[:2] + conv_hw, pool_size, pool_stride
    )
    return Conv2dReLUMaxPool2d.apply(
        *inputs, stride=stride, padding=padding, pool_kernel=pool_kernel, pool_stride=pool_stride
    )


def _pool_args(where, x_shape, kernel_size, stride):
    kernel = two_ints(kernel_size, "kernel_size")
    stride = kernel if stride is None else two_ints(stride, "stride")
    _check_window(where, "kernel_size", x_shape, kernel, stride, (0, 0))
    return kernel, stride


def max_pool2d(x, kernel_size, stride=None):
    """Max over each kernel_size window of ``x`` (N, C, H, W); ``stride`` defaults to ``kernel_size``."""
    x = as_tensor(x)
    kernel, stride = _pool_args("max_pool2d", x.shape, kernel_size, stride)
    return MaxPool2d.apply(x, kernel=kernel, stride=stride)


def avg_pool2d(x, kernel_size, stride=None):
    """Mean over each kernel_size window of ``x`` (N, C, H, W); ``stride`` defaults to ``kernel_size``."""
    x = as_tensor(x)
    kernel, stride = _pool_args("avg_pool2d", x.shape, kernel_size, stride)
    return AvgPool2d.apply(x, kernel=kernel, stride=stride)
