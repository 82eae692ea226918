"""pad: grow the trailing axes of a tensor by a border (constant, reflect, replicate, circular), as ``F.pad``.

The pad tuple is PyTorch's: pairs (before, after) for the LAST axis first, then
the one before it, and so on. ``pad(x, (1, 2))`` adds one column on the left
and two on the right of every row; ``pad(x, (l, r, t, b))`` pads width by
(l, r) and height by (t, b) — the asymmetric padding a "same" convolution with
an even kernel needs.

Padding is separable: padding axis after axis gives the padded tensor, and the
backward pass undoes the axes one at a time. Along one axis of size n, padded
by (a, b), the output index i reads the input at

    constant    i − a if 0 ≤ i − a < n, else the constant (no input)
    reflect     the mirror image about the edge element, which is not repeated: … 2 1 | 0 1 2 … n−1 | n−2 …
    replicate   clamp(i − a, 0, n − 1)
    circular    (i − a) mod n

and the gradient of input j is the sum of the output gradients of every i that
read it (the border ones included, for reflect/replicate/circular).
"""

import numpy as np

from ..backend import array_module
from ..function import Function
from ..tensor import as_tensor

PAD_MODES = ("constant", "reflect", "replicate", "circular")
_NUMPY_MODE = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _along(ndim, axis, part):
    """An index selecting ``part`` (a slice) along ``axis`` and everything along the other axes."""
    index = [slice(None)] * ndim
    index[axis] = part
    return tuple(index)


class Pad(Function):
    """y = x with a border: y[..., i] = x[..., src(i)] along each padded axis (src: see the module docstring).

    ``pads`` is ((axis, before, after), ...). Forward: ``xp.pad`` (NumPy's and
    CuPy's "constant", "reflect", "edge", "wrap" are PyTorch's constant,
    reflect, replicate, circular). Backward, axis by axis in reverse order:
        ∂L/∂x[j] = ∂L/∂y[a + j]  +  Σ_{border i with src(i) = j} ∂L/∂y[i]
    i.e. the centre slice, plus each border folded back onto the inputs it
    copied: mirrored (reflect), summed onto the edge element (replicate), or
    added to the far end (circular). A constant border copied no input: its
    gradient is dropped (the constant itself is not a tensor).
    """

    @staticmethod
    def forward(ctx, x, pads=(), mode="constant", value=0.0):
        ctx.pads, ctx.mode = pads, mode
        width = [(0, 0)] * x.ndim
        for axis, before, after in pads:
            width[axis] = (before, after)
        xp = array_module(x)
        if mode == "constant":
            return xp.pad(x, width, mode="constant", constant_values=value)
        return xp.pad(x, width, mode=_NUMPY_MODE[mode])

    @staticmethod
    def backward(ctx, grad):
        g = grad
        for axis, a, b in reversed(ctx.pads):
            n = g.shape[axis] - a - b  # the input's size along this axis
            centre = g[_along(g.ndim, axis, slice(a, a + n))].copy()
            left = g[_along(g.ndim, axis, slice(0, a))]  # output indices 0 … a−1
            right = g[_along(g.ndim, axis, slice(a + n, a + n + b))]  # output indices a+n … a+n+b−1
            if ctx.mode == "reflect":
                # output i < a reads input a − i (1 … a), the nearest first: reversed, onto 1 … a
                centre[_along(g.ndim, axis, slice(1, a + 1))] += _flip(left, axis)
                # output a + n + k reads input n − 2 − k: onto n−1−b … n−2, reversed
                centre[_along(g.ndim, axis, slice(n - 1 - b, n - 1))] += _flip(right, axis)
            elif ctx.mode == "replicate":
                # every border element is a copy of the edge element
                centre[_along(g.ndim, axis, slice(0, 1))] += left.sum(axis=axis, keepdims=True)
                centre[_along(g.ndim, axis, slice(n - 1, n))] += right.sum(axis=axis, keepdims=True)
            elif ctx.mode == "circular":
                # the left border copies the last a inputs, the right border the first b
                centre[_along(g.ndim, axis, slice(n - a, n))] += left
                centre[_along(g.ndim, axis, slice(0, b))] += right
            g = centre
        return g


def _flip(a, axis):
    return a[_along(a.ndim, axis, slice(None, None, -1))]


def pad(input, pad, mode="constant", value=None):
    """``input`` with a border, as ``torch.nn.functional.pad``: ``pad`` = (before, after) pairs, last axis first.

    ``mode``: "constant" (the border is ``value``, default 0), "reflect" (mirror
    about the edge, which is not repeated: each pad < the axis' size),
    "replicate" (repeat the edge element), "circular" (wrap around: each pad ≤
    the axis' size). Pads must be ≥ 0 (PyTorch's negative, cropping pads are not
    supported: slice the tensor instead). Differentiable (see :class:`Pad`).
    """
    x = as_tensor(input)
    if mode not in PAD_MODES:
        raise ValueError(f"pad: mode must be one of {PAD_MODES}, got {mode!r}")
    try:
        amounts = [int(p) for p in pad]
    except (TypeError, ValueError):
        raise TypeError(f"pad: pad must be a tuple of ints (before, after, ...), got {pad!r}") from None
    if any(isinstance(p, bool) or int(p) != p for p in pad):
        raise TypeError(f"pad: pad must be a tuple of ints, got {pad!r}")
    if len(amounts) % 2 or len(amounts) // 2 > x.ndim:
        raise ValueError(
            f"pad: pad {tuple(pad)} must have an even length of at most 2·ndim = {2 * x.ndim} "
            f"for an input of shape {x.shape}"
        )
    if min(amounts, default=0) < 0:
        raise ValueError(f"pad: negative pads are not supported, got {tuple(pad)}")
    if value is not None and mode != "constant":
        raise ValueError(f"pad: value is only used by mode='constant', got value={value!r} with mode={mode!r}")
    pads = []
    for k in range(len(amounts) // 2):
        axis = x.ndim - 1 - k
        before, after = amounts[2 * k], amounts[2 * k + 1]
        if before == after == 0:
            continue
        n = x.shape[axis]
        if mode == "reflect" and max(before, after) >= n:
            raise ValueError(
                f"pad: reflect padding ({before}, {after}) must be smaller than the size {n} of axis {axis} "
                f"(input shape {x.shape})"
            )
        if mode in ("replicate", "circular") and n == 0:
            raise ValueError(f"pad: {mode} padding of the empty axis {axis} (input shape {x.shape})")
        if mode == "circular" and max(before, after) > n:
            raise ValueError(
                f"pad: circular padding ({before}, {after}) must be at most the size {n} of axis {axis} "
                f"(input shape {x.shape})"
            )
        pads.append((axis, before, after))
    value = 0.0 if value is None else float(value)
    if not np.isfinite(value) and np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"pad: value {value} does not fit the integer input of dtype {x.dtype}")
    return Pad.apply(x, pads=tuple(pads), mode=mode, value=value)
