"""Convolution and pooling layers: Conv2d, MaxPool2d, AvgPool2d (NCHW, as PyTorch).

The maths (forward and backward side by side) is in :mod:`tinydl.ops.conv`;
the loops in :mod:`tinydl.kernels`. These Modules own the weights and the
settings.
"""

import numpy as np

from ..ops.conv import two_ints
from ..tensor import DEFAULT_DTYPE, as_tensor
from . import functional as F
from . import init
from .module import Module, Parameter


def _positive_int(where, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{where}: {name} must be a positive integer, got {value!r}")
    return int(value)


class Conv2d(Module):
    """A 2-D convolution layer: ``out_channels`` filters of shape (in_channels, KH, KW).

        y[n, o] = b[o] + Σ_c w[o, c] ⋆ x[n, c]        (⋆: slide the filter, dot product at each place)

    Input (N, in_channels, H, W) → output (N, out_channels, OH, OW) with
    OH = ⌊(H + 2·padding − KH) / stride⌋ + 1 (likewise OW). ``kernel_size``,
    ``stride`` and ``padding`` are ints or (height, width) pairs.

    Initialised as PyTorch does: w, b ~ U(−1/√fan_in, 1/√fan_in) with
    fan_in = in_channels · KH · KW.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True, dtype=None):
        super().__init__()
        self.in_channels = _positive_int("Conv2d", "in_channels", in_channels)
        self.out_channels = _positive_int("Conv2d", "out_channels", out_channels)
        self.kernel_size = two_ints(kernel_size, "kernel_size")
        self.stride = two_ints(stride, "stride")
        self.padding = two_ints(padding, "padding")
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.padding) < 0:
            raise ValueError(
                f"Conv2d: kernel_size {self.kernel_size} and stride {self.stride} must be ≥ 1, padding {self.padding} ≥ 0"
            )
        dtype = np.dtype(DEFAULT_DTYPE if dtype is None else dtype)
        self.weight = Parameter(np.empty((self.out_channels, self.in_channels, *self.kernel_size), dtype=dtype))
        if bias:
            self.bias = Parameter(np.empty(self.out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.layer_default_(self.weight, self.bias)

    def forward(self, x):
        x = as_tensor(x)
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{self!r} expects input of shape (N, {self.in_channels}, H, W), got {x.shape}")
        if x.dtype != self.weight.dtype:
            raise TypeError(
                f"{self!r} has {self.weight.dtype} weights but got a {x.dtype} input; "
                f"convert the input (x.astype(td.{self.weight.dtype})) or the model (model.to(td.{x.dtype}))"
            )
        return F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        return s + ("" if self.bias is not None else ", bias=False")


class _Pool2d(Module):
    def __init__(self, kernel_size, stride=None):
        super().__init__()
        self.kernel_size = two_ints(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else two_ints(stride, "stride")

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class MaxPool2d(_Pool2d):
    """Keep the largest value of each kernel_size window (stride defaults to kernel_size: no overlap).

    MaxPool2d(2) halves height and width: 26×26 → 13×13.
    """

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride)


class AvgPool2d(_Pool2d):
    """Average each kernel_size window (stride defaults to kernel_size)."""

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride)
