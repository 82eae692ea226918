"""Resizing: interpolate (nearest, nearest-exact, linear/bilinear/trilinear) and adaptive average pooling.

Each of these, along one spatial axis, is a LINEAR map from the n input
samples to the m output samples: an (m, n) matrix A whose row i says how much
of each input sample output i takes. Nearest: one 1 per row. Linear: two
weights (1 − λ, λ) on the two neighbours. Adaptive average pooling: 1/len on
the bin the output averages. And they are separable: a bilinear resize is the
1-D map along H, then along W. So one Function does all the maths,

    y = A ·ₐ x      (A applied along axis a:  y[..., i, ...] = Σ_j A[i, j] x[..., j, ...])
    ∂L/∂x = Aᵀ ·ₐ ∂L/∂y

and the ops differ only in how they build A — which is where PyTorch's
conventions (align_corners, the scale it uses, the bin edges) live.
"""

import math

import numpy as np

from ..backend import array_module
from ..function import Function
from ..tensor import as_tensor


class AxisLinearMap(Function):
    """y = A ·ₐ x: the (m, n) matrix A applied along axis ``axis`` of x (size n there, m in y).

    Forward: a tensordot over that axis (then the new axis moved back into place).
    Backward: the map is linear in x, with the transposed matrix:
        ∂L/∂x[..., j, ...] = Σ_i A[i, j] · ∂L/∂y[..., i, ...].
    A is a constant (built from sizes and options), not a tensor: no gradient.
    """

    @staticmethod
    def forward(ctx, x, matrix=None, axis=-1):
        ctx.matrix, ctx.axis = matrix, axis
        xp = array_module(x)
        return xp.moveaxis(xp.tensordot(matrix, x, axes=(1, axis)), 0, axis)

    @staticmethod
    def backward(ctx, grad):
        xp = array_module(grad)
        return xp.moveaxis(xp.tensordot(ctx.matrix.T, grad, axes=(1, ctx.axis)), 0, ctx.axis)


def _apply_matrices(x, matrices):
    """x with matrices[k] applied along spatial axis k (the axes after N and C)."""
    xp = array_module(x.data)
    for k, m in enumerate(matrices):
        if m is None:
            continue
        x = AxisLinearMap.apply(x, matrix=xp.asarray(m, dtype=x.dtype), axis=2 + k)
    return x


def nearest_matrix(n_in, n_out, scale, exact=False):
    """Row i: a 1 at min(⌊i·scale⌋, n − 1) (PyTorch's "nearest"), or ⌊(i + ½)·scale⌋ ("nearest-exact")."""
    i = np.arange(n_out, dtype=np.float64)
    # PyTorch computes the source index in float32 on the CPU; doing so too makes the rare ties agree.
    src = np.floor((np.float32(i + 0.5) if exact else np.float32(i)) * np.float32(scale)).astype(np.int64)
    a = np.zeros((n_out, n_in))
    a[np.arange(n_out), np.minimum(src, n_in - 1)] = 1.0
    return a


def linear_matrix(n_in, n_out, scale, align_corners):
    """Row i: weights 1 − λ and λ on the inputs ⌊s⌋ and ⌊s⌋ + 1 around the source position s.

    align_corners=True:  s = i · (n − 1)/(m − 1): the corner samples of input and output coincide.
    align_corners=False: s = (i + ½) · scale − ½, clamped at 0: samples are pixel centres
    (scale = n/m, or 1/scale_factor when that was given, as PyTorch).
    """
    i = np.arange(n_out, dtype=np.float64)
    if align_corners:
        src = i * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
    else:
        src = np.maximum((i + 0.5) * scale - 0.5, 0.0)
    low = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    high = np.minimum(low + 1, n_in - 1)
    lam = src - low
    a = np.zeros((n_out, n_in))
    np.add.at(a, (np.arange(n_out), low), 1.0 - lam)
    np.add.at(a, (np.arange(n_out), high), lam)
    return a


def adaptive_average_matrix(n_in, n_out):
    """Row i: 1/len on the bin [⌊i·n/m⌋, ⌈(i + 1)·n/m⌉) (PyTorch's adaptive pooling bins, which may overlap)."""
    a = np.zeros((n_out, n_in))
    for i in range(n_out):
        start, end = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
        a[i, start:end] = 1.0 / (end - start)
    return a


_MODES = {"nearest": None, "nearest-exact": None, "linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5}


def interpolate(
    input,
    size=None,
    scale_factor=None,
    mode="nearest",
    align_corners=None,
    recompute_scale_factor=None,
    antialias=False,
):
    """Resize the spatial axes of ``input`` (N, C, *spatial), as ``torch.nn.functional.interpolate``.

    Give either ``size`` (an int or one per spatial axis) or ``scale_factor``
    (output size ⌊n · scale_factor⌋). ``mode``: "nearest", "nearest-exact"
    (any number of spatial axes), "linear" (N, C, L), "bilinear" (N, C, H, W),
    "trilinear" (N, C, D, H, W). ``align_corners`` (linear modes only, default
    False) as PyTorch: see :func:`linear_matrix`. ``recompute_scale_factor=True``
    uses n/m instead of 1/scale_factor for the source positions. Built as one
    :class:`AxisLinearMap` per axis; differentiable in the input ("nearest"
    sends each output's gradient to the input it copied). "bicubic" and
    ``antialias`` are not supported (a ValueError says so).
    """
    x = as_tensor(input)
    if mode not in _MODES or mode == "bicubic":
        raise ValueError(f"interpolate: mode must be one of {[m for m in _MODES if m != 'bicubic']}, got {mode!r}")
    if antialias:
        raise ValueError("interpolate: antialias=True is not supported")
    dims = x.ndim - 2
    if dims < 1:
        raise ValueError(f"interpolate expects an input of shape (N, C, *spatial), got {x.shape}")
    if _MODES[mode] is not None and x.ndim != _MODES[mode]:
        raise ValueError(f"interpolate: mode {mode!r} expects a {_MODES[mode]}-D input, got shape {x.shape}")
    linear = _MODES[mode] is not None
    if align_corners is not None and not linear:
        raise ValueError(f"interpolate: align_corners only goes with the linear modes, not mode {mode!r}")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    n_in = x.shape[2:]
    if size is not None:
        sizes = _per_axis("size", size, dims)
        if any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in sizes):
            raise ValueError(f"interpolate: size must be positive ints, got {size!r}")
        sizes = tuple(int(s) for s in sizes)
        scales = tuple(n / m for n, m in zip(n_in, sizes))
    else:
        factors = _per_axis("scale_factor", scale_factor, dims)
        if any(isinstance(f, bool) or not isinstance(f, (int, float, np.number)) or not f > 0 for f in factors):
            raise ValueError(f"interpolate: scale_factor must be positive numbers, got {scale_factor!r}")
        sizes = tuple(int(math.floor(n * float(f))) for n, f in zip(n_in, factors))
        if min(sizes) < 1:
            raise ValueError(f"interpolate: scale_factor {scale_factor!r} gives an empty output {sizes} for {x.shape}")
        if recompute_scale_factor:
            scales = tuple(n / m for n, m in zip(n_in, sizes))
        else:
            scales = tuple(1.0 / float(f) for f in factors)
    matrices = []
    for n, m, s in zip(n_in, sizes, scales):
        if linear:
            matrices.append(linear_matrix(n, m, s, bool(align_corners)))
        else:
            matrices.append(nearest_matrix(n, m, s, exact=mode == "nearest-exact"))
    return _apply_matrices(x, matrices)


def _per_axis(name, value, dims):
    if isinstance(value, (tuple, list)):
        if len(value) != dims:
            raise ValueError(f"interpolate: {name} {tuple(value)} must have one entry per spatial axis ({dims})")
        return tuple(value)
    return (value,) * dims


def adaptive_avg_pool(x, output_size, dims, where):
    """Average pooling to a given output size along the last ``dims`` axes (see :func:`adaptive_avg_pool2d`)."""
    x = as_tensor(x)
    if x.ndim not in (dims + 1, dims + 2):
        raise ValueError(f"{where} expects an input with {dims + 2} (or {dims + 1}) axes, got shape {x.shape}")
    unbatched = x.ndim == dims + 1
    if unbatched:
        x = x.reshape(1, *x.shape)
    sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * dims
    if len(sizes) != dims:
        raise ValueError(f"{where}: output_size {output_size!r} must have {dims} entries")
    # None keeps that axis' size, as PyTorch
    sizes = tuple(n if s is None else s for n, s in zip(x.shape[2:], sizes))
    if any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in sizes):
        raise ValueError(f"{where}: output_size must be positive ints (or None), got {output_size!r}")
    matrices = [None if m == n else adaptive_average_matrix(n, int(m)) for n, m in zip(x.shape[2:], sizes)]
    y = _apply_matrices(x, matrices)
    return y.reshape(*y.shape[1:]) if unbatched else y


def adaptive_avg_pool2d(input, output_size):
    """Average pooling of (N, C, H, W) (or (C, H, W)) to ``output_size`` (an int, a pair; None keeps an axis),
    as ``torch.nn.functional.adaptive_avg_pool2d``: output (i, j) averages the bin
    [⌊i·H/OH⌋, ⌈(i + 1)·H/OH⌉) × [⌊j·W/OW⌋, ⌈(j + 1)·W/OW⌉). ``output_size=1`` is global average
    pooling. Built as one :class:`AxisLinearMap` per axis, so differentiable."""
    return adaptive_avg_pool(input, output_size, 2, "adaptive_avg_pool2d")


def adaptive_avg_pool1d(input, output_size):
    """Adaptive average pooling of (N, C, L) to ``output_size``, as ``torch.nn.functional.adaptive_avg_pool1d``."""
    return adaptive_avg_pool(input, output_size, 1, "adaptive_avg_pool1d")


def adaptive_avg_pool3d(input, output_size):
    """Adaptive average pooling of (N, C, D, H, W), as ``torch.nn.functional.adaptive_avg_pool3d``."""
    return adaptive_avg_pool(input, output_size, 3, "adaptive_avg_pool3d")
