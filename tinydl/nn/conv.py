"""Convolution, pooling and resizing layers: Conv2d, ConvTranspose2d, MaxPool2d, AvgPool2d,
AdaptiveAvgPool2d, MaxUnpool2d, Upsample (NCHW, as PyTorch); Conv3d, MaxPool3d, AvgPool3d (NCDHW).

The maths (forward and backward side by side) is in :mod:`tinydl.ops.conv`;
the loops in :mod:`tinydl.kernels`. These Modules own the weights and the
settings.
"""

import numpy as np

from ..ops.conv import conv_padding, two_ints
from ..ops.volume import three_ints
from . import functional as F
from . import init
from .layers import add_weight_and_bias, checked_input
from .module import Module


def positive_int(where, name, value):
    """``value`` as an int, or a ValueError naming ``where`` and ``name`` unless it is an integer ≥ 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{where}: {name} must be a positive integer, got {value!r}")
    return int(value)


def _channels_first(ndim, channels):
    """The shape test of a layer's input: ``ndim`` axes, ``channels`` on axis 1."""
    return lambda shape: len(shape) == ndim and shape[1] == channels


_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class Conv2d(Module):
    """A 2-D convolution layer: ``out_channels`` filters of shape (in_channels/groups, KH, KW).

        y[n, o] = b[o] + Σ_c w[o, c] ⋆ x[n, c]        (⋆: slide the filter, dot product at each place)

    Input (N, in_channels, H, W) → output (N, out_channels, OH, OW) with
    OH = ⌊(H + 2·padding − dilation·(KH − 1) − 1) / stride⌋ + 1 (likewise OW).
    ``kernel_size``, ``stride``, ``padding`` and ``dilation`` are ints or
    (height, width) pairs; ``padding`` may also be "same" or "valid" (see
    :func:`tinydl.nn.functional.conv2d`). ``groups`` splits the channels
    (groups = in_channels: depthwise). ``padding_mode``: "zeros" (inside the
    conv), or "reflect", "replicate", "circular" (a :func:`~tinydl.nn.functional.pad`
    first, then a conv without padding, as PyTorch).

    Initialised as PyTorch does: w, b ~ U(−1/√fan_in, 1/√fan_in) with
    fan_in = in_channels/groups · KH · KW. Parameter names (``weight``, ``bias``)
    and shapes are PyTorch's, so a state_dict loads either way.
    """

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups=1,
        bias=True,
        padding_mode="zeros",
        dtype=None,
    ):
        super().__init__()
        self.in_channels = positive_int("Conv2d", "in_channels", in_channels)
        self.out_channels = positive_int("Conv2d", "out_channels", out_channels)
        self.groups = positive_int("Conv2d", "groups", groups)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(
                f"Conv2d: in_channels {in_channels} and out_channels {out_channels} must be divisible by groups {groups}"
            )
        self.kernel_size = two_ints(kernel_size, "kernel_size")
        self.stride = two_ints(stride, "stride")
        self.dilation = two_ints(dilation, "dilation")
        self.padding = padding if isinstance(padding, str) else two_ints(padding, "padding")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"Conv2d: padding_mode must be one of {_PADDING_MODES}, got {padding_mode!r}")
        self.padding_mode = padding_mode
        if self.padding not in ("same", "valid") and isinstance(self.padding, str):
            raise ValueError(f"Conv2d: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
        if self.padding == "same" and self.stride != (1, 1):
            raise ValueError(f"Conv2d: padding='same' is not supported for strided convolutions (stride {self.stride})")
        if (
            min(self.kernel_size) < 1
            or min(self.stride) < 1
            or min(self.dilation) < 1
            or (not isinstance(self.padding, str) and min(self.padding) < 0)
        ):
            raise ValueError(
                f"Conv2d: kernel_size {self.kernel_size}, stride {self.stride} and dilation {self.dilation} "
                f"must be ≥ 1, padding {self.padding} ≥ 0"
            )
        add_weight_and_bias(
            self,
            (self.out_channels, self.in_channels // self.groups, *self.kernel_size),
            self.out_channels,
            bias,
            dtype,
        )

    def reset_parameters(self):
        init.layer_default_(self.weight, self.bias)

    def forward(self, x):
        x = checked_input(self, x, _channels_first(4, self.in_channels), f"of shape (N, {self.in_channels}, H, W)")
        padding = self.padding
        if self.padding_mode != "zeros":
            # as PyTorch: the border by F.pad (left, right, top, bottom), then a conv without padding
            (top, bottom), (left, right) = conv_padding("Conv2d", padding, self.kernel_size, self.stride, self.dilation)
            x = F.pad(x, (left, right, top, bottom), mode=self.padding_mode)
            padding = 0
        return F.conv2d(
            x, self.weight, self.bias, stride=self.stride, padding=padding, dilation=self.dilation, groups=self.groups
        )

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) else f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode!r}"
        return s + ("" if self.bias is not None else ", bias=False")


class ConvTranspose2d(Module):
    """A transposed 2-D convolution ("deconvolution"): learned upsampling, as in a U-Net's decoder.

    Weight (in_channels, out_channels/groups, KH, KW) — PyTorch's layout, so a
    state_dict loads — and bias (out_channels,). Input (N, in_channels, H, W) →
    (N, out_channels, OH, OW) with
        OH = (H − 1)·stride − 2·padding + dilation·(KH − 1) + output_padding + 1.
    ConvTranspose2d(C, C', 2, stride=2) doubles height and width. The maths is
    :func:`tinydl.nn.functional.conv_transpose2d`. Initialised as PyTorch
    (fan_in = out_channels/groups · KH · KW, the weight's second axis).
    """

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        output_padding=0,
        groups=1,
        bias=True,
        dilation=1,
        padding_mode="zeros",
        dtype=None,
    ):
        super().__init__()
        self.in_channels = positive_int("ConvTranspose2d", "in_channels", in_channels)
        self.out_channels = positive_int("ConvTranspose2d", "out_channels", out_channels)
        self.groups = positive_int("ConvTranspose2d", "groups", groups)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(
                f"ConvTranspose2d: in_channels {in_channels} and out_channels {out_channels} "
                f"must be divisible by groups {groups}"
            )
        if padding_mode != "zeros":
            raise ValueError(
                f"ConvTranspose2d: only padding_mode='zeros' is supported (as PyTorch), got {padding_mode!r}"
            )
        self.padding_mode = padding_mode
        self.kernel_size = two_ints(kernel_size, "kernel_size")
        self.stride = two_ints(stride, "stride")
        self.padding = two_ints(padding, "padding")
        self.output_padding = two_ints(output_padding, "output_padding")
        self.dilation = two_ints(dilation, "dilation")
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.dilation) < 1 or min(self.padding) < 0:
            raise ValueError(
                f"ConvTranspose2d: kernel_size {self.kernel_size}, stride {self.stride} and dilation {self.dilation} "
                f"must be ≥ 1, padding {self.padding} ≥ 0"
            )
        add_weight_and_bias(
            self,
            (self.in_channels, self.out_channels // self.groups, *self.kernel_size),
            self.out_channels,
            bias,
            dtype,
        )

    def reset_parameters(self):
        init.layer_default_(self.weight, self.bias)

    def forward(self, x):
        x = checked_input(self, x, _channels_first(4, self.in_channels), f"of shape (N, {self.in_channels}, H, W)")
        return F.conv_transpose2d(
            x,
            self.weight,
            self.bias,
            stride=self.stride,
            padding=self.padding,
            output_padding=self.output_padding,
            groups=self.groups,
            dilation=self.dilation,
        )

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        for name, default in (("padding", (0, 0)), ("output_padding", (0, 0)), ("dilation", (1, 1))):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        return s + ("" if self.bias is not None else ", bias=False")


class Upsample(Module):
    """Resize the spatial axes: :func:`tinydl.nn.functional.interpolate` as a layer (no parameters).

    Upsample(scale_factor=2, mode="bilinear") doubles height and width, as PyTorch's.
    """

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None):
        super().__init__()
        self.size, self.scale_factor, self.mode = size, scale_factor, mode
        self.align_corners, self.recompute_scale_factor = align_corners, recompute_scale_factor

    def forward(self, x):
        return F.interpolate(
            x,
            size=self.size,
            scale_factor=self.scale_factor,
            mode=self.mode,
            align_corners=self.align_corners,
            recompute_scale_factor=self.recompute_scale_factor,
        )

    def extra_repr(self):
        what = f"size={self.size}" if self.size is not None else f"scale_factor={self.scale_factor}"
        return f"{what}, mode={self.mode!r}"


class AdaptiveAvgPool2d(Module):
    """Average-pool to a fixed output size whatever the input size (``output_size=1``: global average pooling)."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class _Pool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False):
        super().__init__()
        self.kernel_size = two_ints(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else two_ints(stride, "stride")
        self.padding = two_ints(padding, "padding")
        self.ceil_mode = bool(ceil_mode)

    def extra_repr(self):
        s = f"kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if getattr(self, "dilation", (1, 1)) != (1, 1):
            s += f", dilation={self.dilation}"
        return s + (", ceil_mode=True" if self.ceil_mode else "")


class MaxPool2d(_Pool2d):
    """Keep the largest value of each kernel_size window (stride defaults to kernel_size: no overlap).

    MaxPool2d(2) halves height and width: 26×26 → 13×13. ``padding`` (−∞),
    ``dilation``, ``ceil_mode`` and ``return_indices`` (then the layer returns
    (y, indices), for :class:`MaxUnpool2d`) as PyTorch: see :func:`tinydl.nn.functional.max_pool2d`.
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.dilation = two_ints(dilation, "dilation")
        self.return_indices = bool(return_indices)

    def forward(self, x):
        return F.max_pool2d(
            x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode, self.return_indices
        )


class AvgPool2d(_Pool2d):
    """Average each kernel_size window (stride defaults to kernel_size).

    ``padding`` (zeros), ``ceil_mode``, ``count_include_pad`` and ``divisor_override`` as PyTorch:
    see :func:`tinydl.nn.functional.avg_pool2d`.
    """

    def __init__(
        self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None
    ):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.count_include_pad, self.divisor_override = bool(count_include_pad), divisor_override

    def forward(self, x):
        return F.avg_pool2d(
            x,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            count_include_pad=self.count_include_pad,
            divisor_override=self.divisor_override,
        )


class MaxUnpool2d(Module):
    """The partial inverse of MaxPool2d(return_indices=True): ``layer(y, indices, output_size=None)``
    puts each value back where its maximum was, zeros elsewhere (:func:`tinydl.nn.functional.max_unpool2d`)."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = two_ints(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else two_ints(stride, "stride")
        self.padding = two_ints(padding, "padding")

    def forward(self, x, indices, output_size=None):
        return F.max_unpool2d(x, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class Conv3d(Module):
    """A 3-D convolution layer for volumes (CT, MRI): input (N, in_channels, D, H, W) → (N, out_channels, OD, OH, OW).

    Weight (out_channels, in_channels/groups, KD, KH, KW) and bias (out_channels,), as PyTorch (state_dicts load);
    ``stride``, ``padding`` ("same"/"valid" too), ``dilation``, ``groups``: :func:`tinydl.nn.functional.conv3d`.
    Initialised as PyTorch: U(−1/√fan_in, 1/√fan_in), fan_in = in_channels/groups · KD · KH · KW.
    """

    def __init__(
        self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True, dtype=None
    ):
        super().__init__()
        self.in_channels = positive_int("Conv3d", "in_channels", in_channels)
        self.out_channels = positive_int("Conv3d", "out_channels", out_channels)
        self.groups = positive_int("Conv3d", "groups", groups)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(
                f"Conv3d: in_channels {in_channels} and out_channels {out_channels} must be divisible by groups {groups}"
            )
        self.kernel_size = three_ints(kernel_size, "kernel_size")
        self.stride, self.dilation = three_ints(stride, "stride"), three_ints(dilation, "dilation")
        self.padding = padding if isinstance(padding, str) else three_ints(padding, "padding")
        if min(self.kernel_size) < 1:
            raise ValueError(f"Conv3d: kernel_size {self.kernel_size} must be ≥ 1")
        add_weight_and_bias(
            self,
            (self.out_channels, self.in_channels // self.groups, *self.kernel_size),
            self.out_channels,
            bias,
            dtype,
        )

    def reset_parameters(self):
        init.layer_default_(self.weight, self.bias)

    def forward(self, x):
        x = checked_input(self, x, _channels_first(5, self.in_channels), f"of shape (N, {self.in_channels}, D, H, W)")
        return F.conv3d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0, 0):
            s += f", padding={self.padding!r}"
        if self.dilation != (1, 1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        return s + ("" if self.bias is not None else ", bias=False")


class _Pool3d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False):
        super().__init__()
        self.kernel_size = three_ints(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else three_ints(stride, "stride")
        self.padding, self.ceil_mode = three_ints(padding, "padding"), bool(ceil_mode)

    def extra_repr(self):
        s = f"kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0, 0):
            s += f", padding={self.padding}"
        return s + (", ceil_mode=True" if self.ceil_mode else "")


class MaxPool3d(_Pool3d):
    """Max over each kernel_size window of a volume (stride defaults to kernel_size): :func:`~tinydl.nn.functional.max_pool3d`."""

    def forward(self, x):
        return F.max_pool3d(x, self.kernel_size, self.stride, self.padding, ceil_mode=self.ceil_mode)


class AvgPool3d(_Pool3d):
    """Mean over each kernel_size window of a volume: :func:`~tinydl.nn.functional.avg_pool3d`."""

    def __init__(
        self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None
    ):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.count_include_pad, self.divisor_override = bool(count_include_pad), divisor_override

    def forward(self, x):
        return F.avg_pool3d(
            x,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )
