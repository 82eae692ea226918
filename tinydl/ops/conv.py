"""Convolution and pooling (NCHW): conv2d, conv_transpose2d, max_pool2d, avg_pool2d, max_unpool2d,
and the fused conv2d_relu_maxpool2d.

The loops themselves live in :mod:`tinydl.kernels`, where several
interchangeable implementations are registered per device (CPU: readable
reference loops, NumPy im2col + BLAS, Numba; CUDA: CUDA C kernels through
CuPy); these Functions hold the maths and the bookkeeping, and call whichever
kernel is selected for the device their input lives on
(``td.kernels.use("conv2d", "numpy")``).

Output size along each spatial axis, for input n, kernel k, stride s, padding p:
    out = ⌊(n + 2p − k) / s⌋ + 1

PyTorch's options are built here, around the kernels' plain roles, so every
registered implementation runs them: dilation as a kernel with zeros between
its taps (DilateKernel), groups as one kernel call per group joined with
``cat``, asymmetric and "same" padding as a ``pad`` op first, pooling's padding
and ceil_mode as −∞ (max) or zero (average) padding, and conv_transpose2d as
conv2d's input-gradient role run forward. Max pooling with dilation has no
kernel: DilatedMaxPool2d is the formula in ``xp``.
"""

import functools

import numpy as np

from .. import kernels
from ..backend import array_module
from ..function import Function
from ..kernels.numpy_pool import window_views
from ..tensor import Tensor, as_tensor
from .padding import pad as pad_op
from .shape import cat


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


class DilateKernel(Function):
    """w_d[..., i·dh, j·dw] = w[..., i, j], and 0 between: the kernel of a dilated ("à trous") convolution.

    A convolution with dilation d reads the input at i·d instead of i; that is
    the same as an ordinary convolution whose kernel has d − 1 zeros between
    its taps, of size d·(k − 1) + 1. So dilation needs no new kernel: every
    registered conv implementation (CPU and CUDA) runs it. Backward: the zeros
    are constants, so ∂L/∂w[..., i, j] = ∂L/∂w_d[..., i·dh, j·dw] (a strided slice).
    """

    @staticmethod
    def forward(ctx, w, dilation=(1, 1)):  # one dilation per spatial axis, the last len(dilation) axes (2-D or 3-D)
        spatial = len(dilation)
        ctx.taps = (Ellipsis,) + tuple(slice(None, None, d) for d in dilation)  # w_d[..., ::dh, ::dw]
        size = tuple(d * (k - 1) + 1 for d, k in zip(dilation, w.shape[-spatial:]))
        w_d = array_module(w).zeros(w.shape[:-spatial] + size, dtype=w.dtype)
        w_d[ctx.taps] = w
        return w_d

    @staticmethod
    def backward(ctx, grad):
        return grad[ctx.taps].copy()


def dilate_kernel(weight, dilation):
    """``weight`` (..., KH, KW) with dilation − 1 zeros between its taps (see :class:`DilateKernel`)."""
    dilation = two_ints(dilation, "dilation")
    if min(dilation) < 1:
        raise ValueError(f"dilation must be ≥ 1, got {dilation}")
    weight = as_tensor(weight)
    return weight if dilation == (1, 1) else DilateKernel.apply(weight, dilation=dilation)


def conv_padding(where, padding, kernel, stride, dilation):
    """A conv's ``padding`` as ((top, bottom), (left, right)).

    Accepted, as PyTorch: an int, a pair (height, width), "valid" (no padding),
    "same" (the output has the input's size; only with stride 1: the total
    d·(k − 1) is split as PyTorch does, the odd one out at the bottom/right);
    and, beyond PyTorch's conv, a 4-tuple (left, right, top, bottom) in
    ``F.pad``'s order for asymmetric padding.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding != "same":
            raise ValueError(f"{where}: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
        if stride != (1, 1):
            raise ValueError(f"{where}: padding='same' is not supported for strided convolutions (stride {stride})")
        totals = [d * (k - 1) for d, k in zip(dilation, kernel)]
        return tuple((t // 2, t - t // 2) for t in totals)
    if isinstance(padding, (tuple, list)) and len(padding) == 4:
        left, right, top, bottom = (two_ints(p, "padding")[0] for p in padding)
        pads = ((top, bottom), (left, right))
    else:
        ph, pw = two_ints(padding, "padding")
        pads = ((ph, ph), (pw, pw))
    if min(min(p) for p in pads) < 0:
        raise ValueError(f"{where}: padding must be ≥ 0, got {padding!r}")
    return pads


def split_padding(x, pads):
    """Symmetric part of ``pads`` for the kernel, the rest as a ``pad`` op first: (x, (ph, pw))."""
    (top, bottom), (left, right) = pads
    ph, pw = min(top, bottom), min(left, right)
    extra = (left - pw, right - pw, top - ph, bottom - ph)
    if any(extra):
        x = pad_op(x, extra)
    return x, (ph, pw)


def check_groups(where, groups, in_channels, out_channels):
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{where}: groups must be a positive integer, got {groups!r}")
    if in_channels % groups or out_channels % groups:
        raise ValueError(
            f"{where}: in_channels {in_channels} and out_channels {out_channels} must both be divisible by groups {groups}"
        )
    return int(groups)


def channel_group(t, axis, g, size):
    """Channels g·size … (g+1)·size − 1 of ``t`` along ``axis`` (a differentiable slice)."""
    index = (slice(None),) * axis + (slice(g * size, (g + 1) * size),)
    return t[index]


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, as in every DL framework) of ``x`` (N, C, H, W)
    with filters ``weight`` (O, C/groups, KH, KW) and optional ``bias`` (O,) → (N, O, OH, OW),
    as ``torch.nn.functional.conv2d``:

        OH = ⌊(H + pad_top + pad_bottom − dh·(KH − 1) − 1) / sh⌋ + 1     (likewise OW)

    ``padding``: int, pair, "same", "valid", or (left, right, top, bottom) (see
    :func:`conv_padding`); asymmetric padding runs as a :func:`pad` op, then the
    kernel with the symmetric part. ``dilation``: taps dh, dw apart (a dilated
    kernel, :class:`DilateKernel`). ``groups``: the channels split into groups
    convolved separately (groups = C: depthwise), one kernel call per group,
    joined with ``cat``. All three are built from existing differentiable ops
    around :class:`Conv2d`, so every registered kernel (CPU and CUDA) supports them.
    """
    x, weight = as_tensor(x), as_tensor(weight)
    if weight.ndim != 4:
        raise ValueError(
            f"conv2d: weight must have shape (out_channels, in_channels/groups, KH, KW), got {weight.shape}"
        )
    if x.ndim != 4:
        raise ValueError(f"conv2d expects an input of shape (N, C, H, W), got {x.shape}")
    stride, dilation = two_ints(stride, "stride"), two_ints(dilation, "dilation")
    groups = check_groups("conv2d", groups, x.shape[1], weight.shape[0])
    if x.shape[1] != weight.shape[1] * groups:
        raise ValueError(
            f"conv2d: input has {x.shape[1]} channels (shape {x.shape}) but the weight {weight.shape} "
            f"with groups={groups} expects {weight.shape[1] * groups}"
        )
    if min(stride) < 1:
        raise ValueError(f"conv2d: stride must be ≥ 1, got {stride}")
    pads = conv_padding("conv2d", padding, weight.shape[2:], stride, dilation)
    x, sym = split_padding(x, pads)
    weight = dilate_kernel(weight, dilation)
    if groups == 1:
        inputs, stride, sym = _conv_inputs(x, weight, bias, stride, sym)
        return Conv2d.apply(*inputs, stride=stride, padding=sym)
    c, o = x.shape[1] // groups, weight.shape[0] // groups
    if bias is not None:
        bias = as_tensor(bias)
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"conv2d: bias must have shape ({weight.shape[0]},), got {bias.shape}")
    outs = []
    for g in range(groups):
        b = None if bias is None else channel_group(bias, 0, g, o)
        inputs, s, p = _conv_inputs(channel_group(x, 1, g, c), channel_group(weight, 0, g, o), b, stride, sym)
        outs.append(Conv2d.apply(*inputs, stride=s, padding=p))
    return cat(outs, axis=1)


class ConvTranspose2d(Function):
    """The transposed convolution: the input gradient of a conv2d, used as a forward op (learned upsampling).

    With w of shape (C_in, C_out, KH, KW) (PyTorch's layout), each input pixel
    spreads its value, weighted by the filter, over a KH×KW patch of the output,
    patches sh, sw apart, then the padding is cut off:
        y_pad[n, o, p·sh + i, q·sw + j] += Σ_c x[n, c, p, q] · w[c, o, i, j]
        OH = (H − 1)·sh − 2·ph + KH + output_padding_h          (likewise OW)
    This is exactly conv2d's ``backward_input`` with x as the upstream gradient,
    so the registered kernels run it, and its backward is conv2d's other two roles:
        ∂L/∂x = conv2d(∂L/∂y, w)                    (the adjoint of the adjoint)
        ∂L/∂w = conv2d's weight gradient, with x as ∂L/∂(conv output) and ∂L/∂y as the conv input
        ∂L/∂b[o] = Σ_{n,p,q} ∂L/∂y[n, o, p, q]
    ``output_padding`` (< stride) adds rows/columns at the bottom/right: a conv
    with stride s maps s different sizes to the same output size, and this picks one.
    """

    @staticmethod
    def forward(ctx, x, w, *bias, stride=(1, 1), padding=(0, 0), output_padding=(0, 0)):
        ctx.has_bias = bool(bias)
        ctx.stride, ctx.padding = stride, padding
        out_hw = tuple(
            (n - 1) * s - 2 * p + k + op
            for n, s, p, k, op in zip(x.shape[2:], stride, padding, w.shape[2:], output_padding)
        )
        ctx.save_for_backward(x, w)
        y = kernels.get_for("conv2d", x).conv2d_backward_input(x, w, (x.shape[0], w.shape[1]) + out_hw, stride, padding)
        if bias:
            y = y + bias[0].reshape(1, -1, 1, 1)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved
        conv = kernels.get_for("conv2d", grad)
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = conv.conv2d_forward(grad, w, None, ctx.stride, ctx.padding)
        if ctx.needs_input_grad[1]:
            grad_w = conv.conv2d_backward_weight(x, grad, w.shape, ctx.stride, ctx.padding)
        if not ctx.has_bias:
            return grad_x, grad_w
        grad_b = grad.sum(axis=(0, 2, 3)) if ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 2-D convolution of ``input`` (N, C_in, H, W) with ``weight`` (C_in, C_out/groups, KH, KW)
    and optional ``bias`` (C_out,), as ``torch.nn.functional.conv_transpose2d`` (same argument order):

        OH = (H − 1)·sh − 2·ph + dh·(KH − 1) + output_padding_h + 1          (likewise OW)

    ``output_padding`` must be smaller than the stride or the dilation (as
    PyTorch). ``dilation``: a dilated kernel (:class:`DilateKernel`); ``groups``:
    one :class:`ConvTranspose2d` per group, joined with ``cat``.
    """
    x, weight = as_tensor(input), as_tensor(weight)
    if weight.ndim != 4:
        raise ValueError(
            f"conv_transpose2d: weight must have shape (in_channels, out_channels/groups, KH, KW), got {weight.shape}"
        )
    if x.ndim != 4:
        raise ValueError(f"conv_transpose2d expects an input of shape (N, C, H, W), got {x.shape}")
    stride, padding = two_ints(stride, "stride"), two_ints(padding, "padding")
    output_padding, dilation = two_ints(output_padding, "output_padding"), two_ints(dilation, "dilation")
    groups = check_groups("conv_transpose2d", groups, weight.shape[0], weight.shape[1] * groups)
    if x.shape[1] != weight.shape[0]:
        raise ValueError(
            f"conv_transpose2d: input has {x.shape[1]} channels (shape {x.shape}) but the weight {weight.shape} "
            f"expects {weight.shape[0]}"
        )
    if x.dtype != weight.dtype:
        raise TypeError(f"conv_transpose2d: input is {x.dtype} but weight is {weight.dtype}; convert one of them")
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0 or min(output_padding) < 0:
        raise ValueError(
            f"conv_transpose2d: stride {stride} and dilation {dilation} must be ≥ 1, padding {padding} and "
            f"output_padding {output_padding} ≥ 0"
        )
    for op, s, d in zip(output_padding, stride, dilation):
        if op >= max(s, d):
            raise ValueError(
                f"conv_transpose2d: output_padding {output_padding} must be smaller than stride {stride} or dilation {dilation}"
            )
    weight = dilate_kernel(weight, dilation)
    out_hw = tuple((n - 1) * s - 2 * p + k for n, s, p, k in zip(x.shape[2:], stride, padding, weight.shape[2:]))
    if min(out_hw) < 1:
        raise ValueError(f"conv_transpose2d: the output would be {out_hw} for input {x.shape}, weight {weight.shape}")
    c_out = weight.shape[1] * groups
    if bias is not None:
        bias = as_tensor(bias)
        if bias.shape != (c_out,):
            raise ValueError(f"conv_transpose2d: bias must have shape ({c_out},), got {bias.shape}")
    if groups == 1:
        return _conv_transpose(x, weight, bias, stride, padding, output_padding)
    c, o = x.shape[1] // groups, weight.shape[1]
    outs = []
    for g in range(groups):
        b = None if bias is None else channel_group(bias, 0, g, o)
        outs.append(
            _conv_transpose(
                channel_group(x, 1, g, c), channel_group(weight, 0, g, c), b, stride, padding, output_padding
            )
        )
    return cat(outs, axis=1)


def _conv_transpose(x, weight, bias, stride, padding, output_padding):
    """One group of conv_transpose2d.

    With output_padding < stride the kernel's roles do it all (:class:`ConvTranspose2d`).
    With a larger output_padding (allowed, as PyTorch, when the dilation is larger
    than the stride) conv2d's backward roles cannot produce that size, so it is
    composed: the full transposed conv (no padding), the output_padding rows/columns
    of zeros at the bottom/right (:func:`pad`), then the padding cut off both sides (a slice).
    """
    bias = () if bias is None else (bias,)
    if all(op < s for op, s in zip(output_padding, stride)):
        return ConvTranspose2d.apply(x, weight, *bias, stride=stride, padding=padding, output_padding=output_padding)
    y = ConvTranspose2d.apply(x, weight, stride=stride, padding=(0, 0), output_padding=(0, 0))
    y = pad_op(y, (0, output_padding[1], 0, output_padding[0]))
    (ph, pw), (h, w) = padding, y.shape[2:]
    y = y[:, :, ph : h - ph, pw : w - pw]
    return y + bias[0].reshape(1, -1, 1, 1) if bias else y  # the bias on every pixel, the border's too


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


def pool_output_size(n, k, s, p, d, ceil_mode):
    """PyTorch's pooling output length: ⌊(n + 2p − d·(k − 1) − 1 + (s − 1 if ceil_mode)) / s⌋ + 1,
    less one when ceil_mode would start the last window beyond the input and its left padding."""
    out = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def _pool_options(where, x, kernel_size, stride, padding, dilation, ceil_mode):
    """Check a pooling's options; return them as pairs, with the output size and the right/bottom padding
    that makes the kernels' floor formula give it (ceil_mode's extra row/column)."""
    if x.ndim != 4:
        raise ValueError(f"{where} expects an input of shape (N, C, H, W), got {x.shape}")
    kernel = two_ints(kernel_size, "kernel_size")
    stride = kernel if stride is None else two_ints(stride, "stride")
    padding, dilation = two_ints(padding, "padding"), two_ints(dilation, "dilation")
    if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise ValueError(
            f"{where}: kernel_size {kernel}, stride {stride} and dilation {dilation} must be ≥ 1, padding {padding} ≥ 0"
        )
    if any(p > k // 2 for k, p in zip(kernel, padding)):  # PyTorch's rule (the undilated kernel)
        raise ValueError(f"{where}: padding {padding} must be at most half the kernel size {kernel}")
    out = tuple(
        pool_output_size(n, k, s, p, d, ceil_mode)
        for n, k, s, p, d in zip(x.shape[2:], kernel, stride, padding, dilation)
    )
    if min(out) < 1:
        raise ValueError(
            f"{where}: the kernel_size {kernel} (dilation {dilation}) is larger than the padded input of shape {x.shape}"
        )
    # the padded length the windows reach: (out − 1)·s + d·(k − 1) + 1; what is not input or left padding is on the right
    right = tuple(
        max(p, (o - 1) * s + d * (k - 1) + 1 - n - p)
        for o, n, k, s, p, d in zip(out, x.shape[2:], kernel, stride, padding, dilation)
    )
    return kernel, stride, padding, dilation, out, right


def dilated_window_views(x, kernel, stride, dilation, out):
    """Yield (k, view) for each tap k = i·KW + j: view[n, c, p, q] = x[n, c, p·sh + i·dh, q·sw + j·dw] (xp slicing)."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out
    for i in range(kh):
        for j in range(kw):
            yield (
                i * kw + j,
                x[:, :, i * dh : i * dh + sh * (oh - 1) + 1 : sh, j * dw : j * dw + sw * (ow - 1) + 1 : sw],
            )


# BEGIN SOLUTION assignment=3 remove
# (a working max pool, forward and backward: assignment 3's hand-out has only the loops to write)
def window_argmax(x, kernel, stride, dilation, out):
    """(y, argmax) of max pooling with dilated windows, in xp: a running maximum over the KH·KW tap views.

    The first maximum wins ties; NaN wins, and the last NaN of a window takes the gradient (as the kernels).
    """
    xp = array_module(x)
    views = dilated_window_views(x, kernel, stride, dilation, out)
    _, first = next(views)
    y = first.copy()
    argmax = xp.zeros(y.shape, dtype=xp.int64)
    for k, view in views:
        better = (view > y) | xp.isnan(view)
        y = xp.where(better, view, y)
        argmax = xp.where(better, k, argmax)
    return y, argmax


class DilatedMaxPool2d(Function):
    """y[n, c, p, q] = max_{i<KH, j<KW} x[n, c, p·sh + i·dh, q·sw + j·dw]   (max pooling with dilation)

    The registered max-pool kernels have no dilation, so this is the formula in
    ``xp`` (NumPy or CuPy, hence also the GPU path): KH·KW strided views.
    Backward as for MaxPool2d: each ∂L/∂y goes to its window's winner,
        ∂L/∂x[n, c, p·sh + i*·dh, q·sw + j*·dw] += ∂L/∂y[n, c, p, q].
    """

    @staticmethod
    def forward(ctx, x, kernel=(2, 2), stride=(2, 2), dilation=(1, 1), out=(1, 1)):
        y, argmax = window_argmax(x, kernel, stride, dilation, out)
        ctx.options, ctx.x_shape = (kernel, stride, dilation, out), x.shape
        ctx.save_for_backward(argmax)
        return y

    @staticmethod
    def backward(ctx, grad):
        (argmax,) = ctx.saved
        xp = array_module(grad)
        grad_x = xp.zeros(ctx.x_shape, dtype=grad.dtype)
        for k, view in dilated_window_views(grad_x, *ctx.options):
            view += xp.where(argmax == k, grad, 0)
        return grad_x


# END SOLUTION


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max over each kernel_size window of ``x`` (N, C, H, W), as ``torch.nn.functional.max_pool2d``.

    ``stride`` defaults to ``kernel_size``. ``padding`` (≤ half the kernel) pads
    with −∞, so the border never wins (a :func:`pad` op, then the kernel).
    ``ceil_mode`` rounds the output size up (see :func:`pool_output_size`): the
    extra windows reach into more −∞ padding on the right/bottom. ``dilation``
    spaces the taps (:class:`DilatedMaxPool2d`, in xp: the kernels have none).
    ``return_indices``: also the flat index h·W + w of each window's maximum in
    its input plane, as PyTorch (an int64 tensor outside the graph, for
    :func:`max_unpool2d`).
    """
    x = as_tensor(x)
    kernel, stride, padding, dilation, out, right = _pool_options(
        "max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode
    )
    padded = x
    if any(padding) or right != padding:
        padded = pad_op(x, (padding[1], right[1], padding[0], right[0]), value=-np.inf)
    if dilation == (1, 1):
        y = MaxPool2d.apply(padded, kernel=kernel, stride=stride)
    else:
        y = DilatedMaxPool2d.apply(padded, kernel=kernel, stride=stride, dilation=dilation, out=out)
    if not return_indices:
        return y
    xp = array_module(x.data)
    _, argmax = window_argmax(padded.data, kernel, stride, dilation, out)
    i, j = argmax // kernel[1], argmax % kernel[1]
    rows = xp.arange(out[0]).reshape(-1, 1) * stride[0] - padding[0] + i * dilation[0]
    cols = xp.arange(out[1]).reshape(1, -1) * stride[1] - padding[1] + j * dilation[1]
    return y, Tensor._from_array((rows * x.shape[3] + cols).astype(xp.int64))


class MaxUnpool2d(Function):
    """y[n, c].flat[indices[n, c, p, q]] = x[n, c, p, q], zeros elsewhere: the partial inverse of max pooling.

    Backward: each input went to one place, so ∂L/∂x[n, c, p, q] = ∂L/∂y[n, c].flat[indices[n, c, p, q]]
    (the indices are a constant, not a tensor). When two indices coincide the last write wins, and
    both read the gradient back.
    """

    @staticmethod
    def forward(ctx, x, indices=None, out_hw=(1, 1)):
        xp = array_module(x)
        n, c = x.shape[:2]
        flat = indices.reshape(n * c, -1)
        rows = xp.arange(n * c).reshape(-1, 1)
        y = xp.zeros((n * c, out_hw[0] * out_hw[1]), dtype=x.dtype)
        y[rows, flat] = x.reshape(n * c, -1)
        ctx.flat, ctx.rows, ctx.x_shape = flat, rows, x.shape
        return y.reshape(n, c, *out_hw)

    @staticmethod
    def backward(ctx, grad):
        n, c = ctx.x_shape[:2]
        return grad.reshape(n * c, -1)[ctx.rows, ctx.flat].reshape(ctx.x_shape)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Put each value of ``input`` (N, C, H, W) back at the position ``indices`` (from
    ``max_pool2d(..., return_indices=True)``) names, zeros elsewhere, as ``torch.nn.functional.max_unpool2d``.

    Output size (H − 1)·sh − 2·ph + KH (likewise W), or ``output_size`` (the last two entries are used)
    when the pooling rounded down. Differentiable in ``input`` (see :class:`MaxUnpool2d`).
    """
    x, idx = as_tensor(input), as_tensor(indices)
    if x.ndim != 4:
        raise ValueError(f"max_unpool2d expects an input of shape (N, C, H, W), got {x.shape}")
    if idx.shape != x.shape or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(
            f"max_unpool2d: indices must be an integer tensor of the input's shape {x.shape}, "
            f"got {idx.dtype} {idx.shape}"
        )
    kernel = two_ints(kernel_size, "kernel_size")
    stride = kernel if stride is None else two_ints(stride, "stride")
    padding = two_ints(padding, "padding")
    if output_size is not None:
        out_hw = tuple(int(v) for v in tuple(output_size)[-2:])
    else:
        out_hw = tuple((n - 1) * s - 2 * p + k for n, s, p, k in zip(x.shape[2:], stride, padding, kernel))
    if min(out_hw) < 1:
        raise ValueError(f"max_unpool2d: output size {out_hw} must be positive")
    plane = out_hw[0] * out_hw[1]
    if idx.size and (int(idx.data.min()) < 0 or int(idx.data.max()) >= plane):
        raise ValueError(f"max_unpool2d: indices must lie in [0, {plane}) for the output size {out_hw}")
    return MaxUnpool2d.apply(x, indices=idx.data, out_hw=out_hw)


def pool_divisor(out, spatial, kernel, stride, padding, count_include_pad, divisor_override):
    """What average pooling divides each window's sum by, as PyTorch: ``divisor_override`` if given, else
    the window's size — counting the zero padding (``count_include_pad``) or only the real inputs — but
    never the part of a ``ceil_mode`` window beyond the padding. An array of shape ``out``, float64.

    Per axis the window at output o covers [o·s − p, min(o·s − p + k, n + p)); the size of a window is the
    product of its sizes along the axes (an outer product)."""
    if divisor_override is not None:
        return np.full(out, float(divisor_override))
    sizes = []
    for o, n, k, s, p in zip(out, spatial, kernel, stride, padding):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, n)
        sizes.append((end - start).astype(np.float64))
    return functools.reduce(np.multiply.outer, sizes)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    """Mean over each kernel_size window of ``x`` (N, C, H, W), as ``torch.nn.functional.avg_pool2d``.

    ``stride`` defaults to ``kernel_size``. With ``padding`` or ``ceil_mode``
    the input is zero-padded (:func:`pad`), the windows summed (AvgPool2d ·
    KH·KW) and each divided by PyTorch's divisor: the window's size cut at the
    end of the padding (``count_include_pad=True``), or the number of input
    pixels under it (False), or ``divisor_override``. Differentiable throughout.
    """
    x = as_tensor(x)
    kernel, stride, padding, _, out, right = _pool_options("avg_pool2d", x, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and (
        isinstance(divisor_override, bool) or int(divisor_override) != divisor_override or divisor_override < 1
    ):
        raise ValueError(f"avg_pool2d: divisor_override must be a positive integer, got {divisor_override!r}")
    if not any(padding) and right == padding and divisor_override is None:
        return AvgPool2d.apply(x, kernel=kernel, stride=stride)
    padded = pad_op(x, (padding[1], right[1], padding[0], right[0])) if any(padding) or right != padding else x
    y = AvgPool2d.apply(padded, kernel=kernel, stride=stride)
    divisor = pool_divisor(out, x.shape[2:], kernel, stride, padding, count_include_pad, divisor_override)
    scale = as_tensor(array_module(x.data).asarray(kernel[0] * kernel[1] / divisor, dtype=x.dtype))
    return y * scale
