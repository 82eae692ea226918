"""Normalisation and regularisation layers as ops: batch, layer and group normalisation, and (inverted) dropout.

Batch norm and dropout behave differently in training and in evaluation, so
both take a ``training`` flag; the Modules in :mod:`tinydl.nn.normalization`
pass their ``self.training``. Both are written against ``xp = array_module(x)``,
so they run on NumPy or CuPy arrays alike. Layer and group norm use the
statistics of each sample (the same in training and evaluation) and are built
from existing differentiable ops (mean, subtraction, sqrt, ...), so their
backward is the chain rule through those.
"""

import numbers

import numpy as np

from .. import kernels
from ..backend import array_module
from ..function import Function
from ..kernels.numpy_norm import channel_axes
from ..random import generator
from ..tensor import Tensor, array_of, as_tensor
from .arithmetic import add, div, mul, sub
from .elementwise import sqrt
from .reduction import mean
from .shape import reshape


def _train_kernels(x):
    """The registry's batch-norm kernels for the device of ``x`` (CPU: NumPy arrays; CUDA: CuPy arrays)."""
    if isinstance(x, np.ndarray) or kernels.device_of_array(x) == "cuda":
        return kernels.get_for("batchnorm", x)
    return kernels.get("batchnorm", "numpy")  # array-likes of other kinds: the formulas


class BatchNorm(Function):
    """Batch normalisation of x, per channel c (axis 1), over all other axes (N, and H, W if present).

    Training (statistics of this batch, n = N·H·W values per channel):
        μ = mean(x),  σ² = mean((x − μ)²)   (biased),   σ = √(σ² + ε)
        x̂ = (x − μ)/σ,   y = γ·x̂ + β
    Backward (g = ∂L/∂y, means over the same n values):
        ∂L/∂β = Σ g,   ∂L/∂γ = Σ g·x̂,
        ∂L/∂x = (γ/σ)·(g − mean(g) − x̂·mean(g·x̂))
    The two subtracted terms are the paths through μ and σ²: shifting every
    x of a channel by the same amount, or scaling them all, leaves x̂ unchanged,
    so the gradient has no component along those two directions.

    Evaluation (fixed running statistics μ_r, σ²_r: a per-channel affine map):
        y = γ·(x − μ_r)/√(σ²_r + ε) + β
        ∂L/∂x = g·γ/√(σ²_r + ε),  ∂L/∂γ = Σ g·x̂,  ∂L/∂β = Σ g.

    In training, ``running_mean`` and ``running_var`` (arrays, or None) are
    updated in place, as PyTorch does, with the unbiased variance:
        μ_r ← (1 − m)·μ_r + m·μ,    σ²_r ← (1 − m)·σ²_r + m·σ²·n/(n − 1).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean=None, running_var=None, training=True, momentum=0.1, eps=1e-5):
        xp = array_module(x)
        axes, shape = channel_axes(x)
        if training:  # the formulas: tinydl/kernels/numpy_norm.py (or a faster kernel that computes the same)
            n = x.size // x.shape[1]
            y, x_hat, mean, var, inv_std = _train_kernels(x).batchnorm_train_forward(x, weight, bias, eps)
            if running_mean is not None:
                running_mean[...] = (1 - momentum) * running_mean + momentum * mean
                running_var[...] = (1 - momentum) * running_var + momentum * var * (n / (n - 1))
        else:
            inv_std = (1 / xp.sqrt(running_var + eps)).astype(x.dtype, copy=False).reshape(shape)
            x_hat = (x - running_mean.astype(x.dtype, copy=False).reshape(shape)) * inv_std
            y = x_hat * weight.reshape(shape) + bias.reshape(shape)
        ctx.training, ctx.axes, ctx.shape = training, axes, shape
        ctx.save_for_backward(x_hat, inv_std, weight)
        return y

    @staticmethod
    def backward(ctx, grad):
        x_hat, inv_std, weight = ctx.saved
        need_x, need_weight, need_bias = ctx.needs_input_grad
        axes, shape = ctx.axes, ctx.shape
        if ctx.training:  # the formulas: tinydl/kernels/numpy_norm.py (or a faster kernel)
            dx, dweight, dbias = _train_kernels(grad).batchnorm_train_backward(grad, x_hat, inv_std, weight, need_x)
        else:
            dbias = grad.sum(axis=axes)
            dweight = (grad * x_hat).sum(axis=axes)
            dx = grad * (weight.reshape(shape) * inv_std) if need_x else None
        return dx, (dweight if need_weight else None), (dbias if need_bias else None)


class Dropout(Function):
    """Inverted dropout with a given 0/1 mask m and keep probability q = 1 − p.

    y = x·m/q,        ∂L/∂x = g·m/q.
    """

    @staticmethod
    def forward(ctx, x, scaled_mask=None):
        y = x * scaled_mask
        ctx.save_for_backward(scaled_mask)
        return y

    @staticmethod
    def backward(ctx, grad):
        (scaled_mask,) = ctx.saved
        return grad * scaled_mask


def _check_per_channel(name, value, channels, x_shape):
    if value.shape != (channels,):
        raise ValueError(
            f"batch_norm: {name} must have shape ({channels},), one value per channel of the input "
            f"of shape {x_shape}; got shape {tuple(value.shape)}"
        )


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=True, momentum=0.1, eps=1e-5):
    """Batch normalisation of x of shape (N, C) or (N, C, H, W) (any (N, C, ...)), per channel C.

    y = γ·(x − μ)/√(σ² + ε) + β, with μ, σ² the statistics of this batch when
    ``training`` (and the running statistics then updated in place), or the
    running statistics ``running_mean``, ``running_var`` when not. ``weight``
    (γ) and ``bias`` (β) are optional (C,) tensors (default γ = 1, β = 0).
    The running statistics are (C,) arrays or Tensors, or both None (training only).

    Why: normalising each channel to mean 0 and variance 1 over the batch keeps
    the inputs of the next layer on a steady scale while the weights before
    it change, which lets deep networks train with larger learning rates; γ
    and β give the layer back the freedom to choose any scale and shift.
    See :class:`BatchNorm` for the formulas of forward and backward.
    """
    x = as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"batch_norm expects input of shape (N, C) or (N, C, H, W), got shape {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"batch_norm expects a floating-point input, got dtype {x.dtype}")
    channels = x.shape[1]
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: pass both running_mean and running_var, or neither")
    if running_mean is None and not training:
        raise ValueError("batch_norm: evaluation mode (training=False) needs running_mean and running_var")
    if running_mean is not None:
        running_mean, running_var = array_of(running_mean), array_of(running_var)
        for name, value in (("running_mean", running_mean), ("running_var", running_var)):
            if not hasattr(value, "shape"):
                raise TypeError(f"batch_norm: {name} must be an array or a Tensor, got {type(value).__name__}")
            _check_per_channel(name, value, channels, x.shape)
    if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real) or not 0 <= momentum <= 1:
        hint = " (the BatchNorm modules turn momentum=None into a cumulative average)" if momentum is None else ""
        raise ValueError(f"batch_norm: momentum must be a number in [0, 1], got {momentum!r}{hint}")
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps > 0:
        raise ValueError(f"batch_norm: eps must be a positive number, got {eps!r}")
    if training and x.size // max(channels, 1) <= 1:
        raise ValueError(f"expected more than 1 value per channel when training, got input of shape {x.shape}")

    xp = array_module(x.data)
    weight = Tensor._from_array(xp.ones(channels, dtype=x.dtype)) if weight is None else as_tensor(weight)
    bias = Tensor._from_array(xp.zeros(channels, dtype=x.dtype)) if bias is None else as_tensor(bias)
    _check_per_channel("weight", weight, channels, x.shape)
    _check_per_channel("bias", bias, channels, x.shape)
    return BatchNorm.apply(
        x,
        weight,
        bias,
        running_mean=running_mean,
        running_var=running_var,
        training=bool(training),
        momentum=float(momentum),
        eps=float(eps),
    )


def check_dropout_probability(p, where="dropout"):
    """``p`` as a float if it is a dropout probability in [0, 1); ValueError naming ``where`` otherwise.

    p = 1 is refused although the formula has a limit there: it zeroes every unit, so
    the network trains on nothing and ends up predicting one class whatever the input.
    """
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p < 1:
        raise ValueError(
            f"{where}: the dropout probability must be a number in [0, 1) (0 = no dropout; "
            f"1 would drop every unit), got {p!r}"
        )
    return float(p)


def dropout(x, p=0.5, training=True, mask=None):
    """Inverted dropout: zero each element with probability p and scale the rest by 1/(1 − p).

        y = x·m/(1 − p),   m ~ Bernoulli(1 − p) elementwise,    ∂L/∂x = g·m/(1 − p).

    Why: zeroing random units stops a network from relying on any one of
    them (a cheap ensemble of thinned networks). Dividing by 1 − p *at train
    time* keeps E[y] = x, so at evaluation the layer is simply the identity —
    nothing to rescale when the model is deployed.

    ``m`` is drawn from ``tinydl.random.generator()``, so ``td.manual_seed``
    makes it repeatable; or pass ``mask`` (0/1 or bool values, broadcastable
    to x's shape) to fix it. With p == 0 or ``training=False`` x is returned
    unchanged; p must be below 1 (:func:`check_dropout_probability`).
    """
    x = as_tensor(x)
    p = check_dropout_probability(p)
    if not training or p == 0:
        return x
    if x.dtype.kind != "f":
        raise TypeError(f"dropout expects a floating-point input, got dtype {x.dtype}")
    xp = array_module(x.data)
    if mask is None:
        mask = xp.asarray(generator().random(x.shape) >= p)  # P(keep) = 1 − p
    else:
        mask = xp.asarray(array_of(mask))
        try:
            broadcast = np.broadcast_shapes(tuple(mask.shape), x.shape)
        except ValueError:
            broadcast = None
        if broadcast != x.shape:
            raise ValueError(
                f"dropout: mask of shape {tuple(mask.shape)} does not broadcast to the input shape {x.shape}"
            )
        if not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError("dropout: mask must hold only 0s and 1s (or booleans)")
    scale = 1.0 / (1.0 - p)
    scaled_mask = mask.astype(x.dtype) * x.dtype.type(scale)
    return Dropout.apply(x, scaled_mask=scaled_mask)


def _check_eps(where, eps):
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps > 0:
        raise ValueError(f"{where}: eps must be a positive number, got {eps!r}")
    return float(eps)


def _standardize(x, axes, eps):
    """(x − μ)/√(σ² + ε) with μ, σ² (biased) the mean and variance over ``axes``, from differentiable ops."""
    centred = sub(x, mean(x, axis=axes, keepdims=True))
    var = mean(mul(centred, centred), axis=axes, keepdims=True)
    return div(centred, sqrt(add(var, eps)))


def _affine(where, name, value, expected_shape, y, broadcast_shape):
    """y·γ or y + β, with γ/β of ``expected_shape`` reshaped to ``broadcast_shape`` (None: nothing to do)."""
    if value is None:
        return y
    value = as_tensor(value)
    if tuple(value.shape) != tuple(expected_shape):
        raise ValueError(f"{where}: {name} must have shape {tuple(expected_shape)}, got {tuple(value.shape)}")
    value = reshape(value, broadcast_shape)
    return mul(y, value) if name == "weight" else add(y, value)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalisation over the last axes ``normalized_shape`` of each sample (``F.layer_norm``).

        μ = mean(x),  σ² = mean((x − μ)²)   over the last len(normalized_shape) axes,
        y = γ·(x − μ)/√(σ² + ε) + β,        γ (weight), β (bias) of shape ``normalized_shape``.

    Why: unlike batch norm it needs no batch (the statistics are each sample's own), so it
    behaves the same in training and evaluation and for a batch of one: the norm of transformers.
    Built from existing differentiable ops (mean, sub, mul, sqrt, div): the backward is theirs.
    """
    x = as_tensor(x)
    if isinstance(normalized_shape, (int, np.integer)) and not isinstance(normalized_shape, bool):
        normalized_shape = (int(normalized_shape),)
    try:
        normalized_shape = tuple(int(n) for n in normalized_shape)
    except TypeError:
        raise TypeError(
            f"layer_norm: normalized_shape must be an int or a tuple of ints, got {normalized_shape!r}"
        ) from None
    k = len(normalized_shape)
    if k == 0 or x.ndim < k or tuple(x.shape[x.ndim - k :]) != normalized_shape:
        raise ValueError(
            f"layer_norm: normalized_shape {normalized_shape} must be the last axes of the input, got shape {x.shape}"
        )
    if x.dtype.kind != "f":
        raise TypeError(f"layer_norm expects a floating-point input, got dtype {x.dtype}")
    eps = _check_eps("layer_norm", eps)
    y = _standardize(x, tuple(range(x.ndim - k, x.ndim)), eps)
    y = _affine("layer_norm", "weight", weight, normalized_shape, y, normalized_shape)
    return _affine("layer_norm", "bias", bias, normalized_shape, y, normalized_shape)


def group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    """Group normalisation of x (N, C, ...): channels split into ``num_groups`` groups of C/G (``F.group_norm``).

        μ_ng, σ²_ng = mean and (biased) variance of sample n over the channels of group g and all
        spatial positions;   y = γ_c·(x − μ_ng)/√(σ²_ng + ε) + β_c   (γ, β of shape (C,)).

    Why: the statistics are per sample, so it works with the batches of 1–2 volumes that 3-D
    medical images force (where batch norm's statistics are noise). G = 1 normalises each sample
    over everything (layer norm over (C, ...)); G = C is instance norm.
    Built from existing differentiable ops (reshape, mean, sub, mul, sqrt, div): the backward is theirs.
    """
    x = as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"group_norm expects input of shape (N, C, ...), got shape {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"group_norm expects a floating-point input, got dtype {x.dtype}")
    channels = x.shape[1]
    if isinstance(num_groups, bool) or not isinstance(num_groups, (int, np.integer)) or num_groups < 1:
        raise ValueError(f"group_norm: num_groups must be a positive integer, got {num_groups!r}")
    if channels % num_groups:
        raise ValueError(f"group_norm: num_groups={num_groups} must divide the number of channels C={channels}")
    eps = _check_eps("group_norm", eps)
    grouped = reshape(x, (x.shape[0], int(num_groups), -1))  # (N, G, C/G · spatial)
    y = reshape(_standardize(grouped, (2,), eps), x.shape)
    per_channel = (1, channels) + (1,) * (x.ndim - 2)
    y = _affine("group_norm", "weight", weight, (channels,), y, per_channel)
    return _affine("group_norm", "bias", bias, (channels,), y, per_channel)
