"""Volumes (CT, MRI; NCDHW): conv3d, max_pool3d, avg_pool3d — the 2-D ops with a depth axis.

The maths is :mod:`tinydl.ops.conv`'s with three spatial axes; the loops are
the registry's ``conv3d`` and ``maxpool3d`` kernels (:mod:`tinydl.kernels`:
reference loops, and NumPy/CuPy strided views with one matrix product per
kernel tap). conv3d's dilation and groups are built around the kernel as in
2-D (a dilated kernel; one call per group), and so is pooling's padding
(−∞ for max, zeros for the average) and ceil_mode (more padding at the end).

Output size along each axis, for input n, kernel k, stride s, padding p, dilation d:
    out = ⌊(n + 2p − d·(k − 1) − 1) / s⌋ + 1
"""

import numpy as np

from .. import kernels
from ..backend import array_module
from ..function import Function
from ..tensor import as_tensor
from .conv import DilateKernel, channel_group, check_groups, pool_divisor, pool_output_size
from .padding import pad
from .shape import cat


def three_ints(value, name):
    """The option ``name`` as a triple (depth, height, width), from an int or a triple; a TypeError otherwise."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (int(value),) * 3
    try:
        values = tuple(value)
    except TypeError:
        raise TypeError(f"{name} must be an int or a triple of ints, got {value!r}") from None
    if len(values) != 3 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        raise TypeError(f"{name} must be an int or a triple of ints, got {value!r}")
    return tuple(int(v) for v in values)


class Conv3d(Function):
    """y[n, o, a, p, q] = b[o] + Σ_{c,i,j,k} w[o, c, i, j, k] · x_pad[n, c, a·sd + i, p·sh + j, q·sw + k]

    Backward, by the chain rule on that sum (as Conv2d, one more axis):
        ∂L/∂w[o, c, i, j, k] = Σ_{n,a,p,q} ∂L/∂y[n, o, a, p, q] · x_pad[n, c, a·sd + i, p·sh + j, q·sw + k]
        ∂L/∂x_pad[n, c, a·sd + i, p·sh + j, q·sw + k] += Σ_o ∂L/∂y[n, o, a, p, q] · w[o, c, i, j, k]
        ∂L/∂b[o] = Σ_{n,a,p,q} ∂L/∂y[n, o, a, p, q]
    """

    @staticmethod
    def forward(ctx, x, w, *bias, stride=(1, 1, 1), padding=(0, 0, 0)):
        ctx.has_bias = bool(bias)
        ctx.stride, ctx.padding = stride, padding
        ctx.save_for_backward(x, w)
        return kernels.get_for("conv3d", x).conv3d_forward(x, w, bias[0] if bias else None, stride, padding)

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved
        conv = kernels.get_for("conv3d", grad)
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = conv.conv3d_backward_input(grad, w, x.shape, ctx.stride, ctx.padding)
        if ctx.needs_input_grad[1]:
            grad_w = conv.conv3d_backward_weight(grad, x, w.shape, ctx.stride, ctx.padding)
        if not ctx.has_bias:
            return grad_x, grad_w
        grad_b = grad.sum(axis=(0, 2, 3, 4)) if ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b


def _conv3d_padding(padding, kernel, stride, dilation):
    """((before, after) per axis) from an int, a triple, "valid" or "same" (stride 1; the odd one out at the end)."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * 3
        if padding != "same":
            raise ValueError(f"conv3d: padding must be an int, a triple, 'same' or 'valid', got {padding!r}")
        if stride != (1, 1, 1):
            raise ValueError(f"conv3d: padding='same' is not supported for strided convolutions (stride {stride})")
        totals = [d * (k - 1) for d, k in zip(dilation, kernel)]
        return tuple((t // 2, t - t // 2) for t in totals)
    pads = three_ints(padding, "padding")
    if min(pads) < 0:
        raise ValueError(f"conv3d: padding must be ≥ 0, got {padding!r}")
    return tuple((p, p) for p in pads)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-D convolution of ``input`` (N, C, D, H, W) with ``weight`` (O, C/groups, KD, KH, KW) and optional
    ``bias`` (O,) → (N, O, OD, OH, OW), as ``torch.nn.functional.conv3d``.

    ``stride``, ``padding`` and ``dilation`` are ints or triples; ``padding`` may
    be "same" or "valid". Dilation runs as a dilated kernel, groups as one
    kernel call per group, "same"'s odd extra as a :func:`pad` op first.
    """
    x, weight = as_tensor(input), as_tensor(weight)
    if x.ndim != 5:
        raise ValueError(f"conv3d expects an input of shape (N, C, D, H, W), got {x.shape}")
    if weight.ndim != 5:
        raise ValueError(
            f"conv3d: weight must have shape (out_channels, in_channels/groups, KD, KH, KW), got {weight.shape}"
        )
    if x.dtype != weight.dtype:
        raise TypeError(f"conv3d: input is {x.dtype} but weight is {weight.dtype}; convert one of them")
    stride, dilation = three_ints(stride, "stride"), three_ints(dilation, "dilation")
    if min(stride) < 1 or min(dilation) < 1:
        raise ValueError(f"conv3d: stride {stride} and dilation {dilation} must be ≥ 1")
    groups = check_groups("conv3d", groups, x.shape[1], weight.shape[0])
    if x.shape[1] != weight.shape[1] * groups:
        raise ValueError(
            f"conv3d: input has {x.shape[1]} channels (shape {x.shape}) but the weight {weight.shape} "
            f"with groups={groups} expects {weight.shape[1] * groups}"
        )
    pads = _conv3d_padding(padding, weight.shape[2:], stride, dilation)
    symmetric = tuple(min(p) for p in pads)
    extra = [(b - s, a - s) for (b, a), s in zip(pads, symmetric)]
    if any(e for pair in extra for e in pair):
        x = pad(x, tuple(v for pair in reversed(extra) for v in pair))  # F.pad's order: last axis first
    if dilation != (1, 1, 1):
        weight = DilateKernel.apply(weight, dilation=dilation)
    for n, p, k in zip(x.shape[2:], symmetric, weight.shape[2:]):
        if n + 2 * p < k:
            raise ValueError(
                f"conv3d: the (dilated) kernel {weight.shape[2:]} is larger than the padded input {x.shape}"
            )
    if bias is not None:
        bias = as_tensor(bias)
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"conv3d: bias must have shape ({weight.shape[0]},), got {bias.shape}")
    if groups == 1:
        return Conv3d.apply(x, weight, *(() if bias is None else (bias,)), stride=stride, padding=symmetric)
    c, o = x.shape[1] // groups, weight.shape[0] // groups
    outs = []
    for g in range(groups):
        b = () if bias is None else (channel_group(bias, 0, g, o),)
        xg, wg = channel_group(x, 1, g, c), channel_group(weight, 0, g, o)
        outs.append(Conv3d.apply(xg, wg, *b, stride=stride, padding=symmetric))
    return cat(outs, axis=1)


class MaxPool3d(Function):
    """y[n, c, a, p, q] = max over the KD×KH×KW window at (a·sd, p·sh, q·sw).

    Backward: only each window's winner affected its output: ∂L/∂x at the argmax += ∂L/∂y, 0 elsewhere
    (the first maximum at a tie, the last NaN when there is one, as PyTorch).
    """

    @staticmethod
    def forward(ctx, x, kernel=(2, 2, 2), stride=(2, 2, 2)):
        y, argmax = kernels.get_for("maxpool3d", x).maxpool3d_forward(x, kernel, stride)
        ctx.kernel, ctx.stride, ctx.x_shape = kernel, stride, x.shape
        ctx.save_for_backward(argmax)
        return y

    @staticmethod
    def backward(ctx, grad):
        (argmax,) = ctx.saved
        return kernels.get_for("maxpool3d", grad).maxpool3d_backward(grad, argmax, ctx.x_shape, ctx.kernel, ctx.stride)


class SumPool3d(Function):
    """y[n, c, a, p, q] = Σ over the KD×KH×KW window at (a·sd, p·sh, q·sw)   (avg_pool3d divides it)

    Backward: every input of a window contributed once: ∂L/∂x[window] += ∂L/∂y. Both are KD·KH·KW
    vectorised additions of strided views (``xp``: NumPy or CuPy).
    """

    @staticmethod
    def forward(ctx, x, kernel=(2, 2, 2), stride=(2, 2, 2), out=(1, 1, 1)):
        ctx.options, ctx.x_shape = (kernel, stride, out), x.shape
        y = array_module(x).zeros(x.shape[:2] + out, dtype=x.dtype)
        for view in _tap_views(x, kernel, stride, out):
            y += view
        return y

    @staticmethod
    def backward(ctx, grad):
        grad_x = array_module(grad).zeros(ctx.x_shape, dtype=grad.dtype)
        for view in _tap_views(grad_x, *ctx.options):
            view += grad
        return grad_x


def _tap_views(x, kernel, stride, out):
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            for k in range(kernel[2]):
                index = tuple(slice(t, t + s * (o - 1) + 1, s) for t, s, o in zip((i, j, k), stride, out))
                yield x[(slice(None), slice(None)) + index]


def _pool3d_options(where, x, kernel_size, stride, padding, ceil_mode):
    if x.ndim != 5:
        raise ValueError(f"{where} expects an input of shape (N, C, D, H, W), got {x.shape}")
    kernel = three_ints(kernel_size, "kernel_size")
    stride = kernel if stride is None else three_ints(stride, "stride")
    padding = three_ints(padding, "padding")
    if min(kernel) < 1 or min(stride) < 1 or min(padding) < 0:
        raise ValueError(f"{where}: kernel_size {kernel} and stride {stride} must be ≥ 1, padding {padding} ≥ 0")
    if any(p > k // 2 for k, p in zip(kernel, padding)):
        raise ValueError(f"{where}: padding {padding} must be at most half the kernel size {kernel}")
    out = tuple(pool_output_size(n, k, s, p, 1, ceil_mode) for n, k, s, p in zip(x.shape[2:], kernel, stride, padding))
    if min(out) < 1:
        raise ValueError(f"{where}: the kernel_size {kernel} is larger than the padded input of shape {x.shape}")
    # the end padding that lets the kernels' floor formula give ceil_mode's size
    after = tuple(max(p, (o - 1) * s + k - n - p) for o, n, k, s, p in zip(out, x.shape[2:], kernel, stride, padding))
    return kernel, stride, padding, out, after


def _pad3d(x, padding, after, value=0.0):
    if not any(padding) and after == padding:
        return x
    return pad(x, (padding[2], after[2], padding[1], after[1], padding[0], after[0]), value=value)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max over each kernel_size window of ``input`` (N, C, D, H, W), as ``torch.nn.functional.max_pool3d``.

    ``stride`` defaults to ``kernel_size``; ``padding`` (≤ half the kernel) pads with −∞; ``ceil_mode``
    rounds the output size up. Not supported (a ValueError says so): dilation ≠ 1, return_indices.
    """
    x = as_tensor(input)
    if three_ints(dilation, "dilation") != (1, 1, 1) or return_indices:
        raise ValueError("max_pool3d: dilation and return_indices are not supported (only max_pool2d has them)")
    kernel, stride, padding, _, after = _pool3d_options("max_pool3d", x, kernel_size, stride, padding, ceil_mode)
    return MaxPool3d.apply(_pad3d(x, padding, after, value=-np.inf), kernel=kernel, stride=stride)


def avg_pool3d(
    input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None
):
    """Mean over each kernel_size window of ``input`` (N, C, D, H, W), as ``torch.nn.functional.avg_pool3d``.

    Window sums (:class:`SumPool3d`, on the zero-padded input) divided by PyTorch's divisor: the window's
    size cut at the end of the padding (``count_include_pad=True``), the number of input voxels under it
    (False), or ``divisor_override``.
    """
    x = as_tensor(input)
    kernel, stride, padding, out, after = _pool3d_options("avg_pool3d", x, kernel_size, stride, padding, ceil_mode)
    if divisor_override is not None and (
        isinstance(divisor_override, bool) or int(divisor_override) != divisor_override or divisor_override < 1
    ):
        raise ValueError(f"avg_pool3d: divisor_override must be a positive integer, got {divisor_override!r}")
    y = SumPool3d.apply(_pad3d(x, padding, after), kernel=kernel, stride=stride, out=out)
    divisor = pool_divisor(out, x.shape[2:], kernel, stride, padding, count_include_pad, divisor_override)
    return y * as_tensor(array_module(x.data).asarray(1.0 / divisor, dtype=x.dtype))
