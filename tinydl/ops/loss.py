"""Loss functions: mean squared error, cross-entropy, binary cross-entropy with logits.

Each takes ``reduction='mean' | 'sum' | 'none'`` as in PyTorch.
"""

import numpy as np

from ..backend import array_module
from ..function import Function
from ..tensor import Tensor, array_of, as_tensor, to_numpy

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


class MSELoss(Function):
    """L = (1/n) Σ_i (ŷ_i − y_i)²   (n = number of elements; 'sum' drops the 1/n).

    ∂L/∂ŷ_i = 2(ŷ_i − y_i)/n,   ∂L/∂y_i = −2(ŷ_i − y_i)/n.
    """

    @staticmethod
    def forward(ctx, prediction, target, reduction="mean"):
        diff = prediction - target
        ctx.save_for_backward(diff)
        ctx.reduction = reduction
        squared = diff * diff
        if reduction == "none":
            return squared
        total = squared.sum()
        return total / diff.size if reduction == "mean" else total

    @staticmethod
    def backward(ctx, grad):
        # BEGIN SOLUTION assignment=2 task=mse_backward hint="dL/dprediction = 2 (prediction - target) / n for 'mean'; the target gets the negative"
        (diff,) = ctx.saved
        g = 2 * diff * grad
        if ctx.reduction == "mean":
            g = g / diff.size
        return g, -g
        # END SOLUTION


class CrossEntropyLoss(Function):
    """Cross-entropy of class scores (logits) z against labels y, via the stable log-softmax.

    For sample i with label y_i and class weights w (all 1 by default):
        ℓ_i = −w_{y_i} · log softmax(z_i)_{y_i}
    'mean' returns Σ_i ℓ_i / Σ_i w_{y_i} (a weighted mean, as in PyTorch); 'sum' Σ_i ℓ_i.
    With soft targets t_i (rows of class probabilities) ℓ_i = −Σ_c w_c t_ic log softmax(z_i)_c
    and 'mean' divides by N.

    The gradient is the famous "prediction minus truth":
        ∂ℓ_i/∂z_ij = w_{y_i} (softmax(z_i)_j − [j = y_i]).
    """

    @staticmethod
    def forward(ctx, logits, target, weight=None, reduction="mean"):
        xp = array_module(logits)  # NumPy, or CuPy for arrays on the GPU
        # BEGIN SOLUTION assignment=2 task=log_softmax hint="stable log-softmax: subtract each row's max before exp, log_probs = shifted - log(sum(exp(shifted))), one row per sample"
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
        # END SOLUTION
        n, classes = logits.shape
        w = xp.ones(classes, dtype=logits.dtype) if weight is None else weight.astype(logits.dtype, copy=False)
        if target.ndim == 1:  # integer labels
            sample_weight = w[target]
            losses = -sample_weight * log_probs[xp.arange(n), target]
            norm = sample_weight.sum()
        else:  # soft targets: rows of probabilities
            losses = -(target * w * log_probs).sum(axis=1)
            norm = n
        ctx.reduction, ctx.norm = reduction, norm
        ctx.save_for_backward(log_probs, target, w)
        if reduction == "none":
            return losses
        total = losses.sum()
        return total / norm if reduction == "mean" else total

    @staticmethod
    def backward(ctx, grad):
        log_probs, target, w = ctx.saved
        xp = array_module(log_probs)
        if target.ndim == 1:  # integer labels
            # d ℓ_i / d z_i = w_{y_i} (p_i − onehot(y_i))
            sample_weight = w[target]
            # BEGIN SOLUTION assignment=2 task=cross_entropy_gradient hint="prediction minus truth: w_y (softmax(z) - onehot(y)), row by row; softmax(z) = exp(log_probs)"
            dlogits = xp.exp(log_probs) * sample_weight[:, None]
            dlogits[xp.arange(len(target)), target] -= sample_weight
            # END SOLUTION
        else:  # soft targets t: d ℓ_i / d z_i = p_i Σ_c w_c t_ic − w ⊙ t_i
            wt = target * w
            dlogits = xp.exp(log_probs) * wt.sum(axis=1, keepdims=True) - wt
        if ctx.reduction == "none":
            return dlogits * grad[:, None], None
        scale = grad / ctx.norm if ctx.reduction == "mean" else grad
        return dlogits * scale, None


class BCEWithLogitsLoss(Function):
    """Binary cross-entropy of a logit x against a target y ∈ [0, 1], without computing σ(x) first.

        ℓ = −[p·y·log σ(x) + (1 − y)·log(1 − σ(x))]        (p = pos_weight, default 1)
          = (1 − y)·x + (1 + (p − 1)·y)·softplus(−x),   softplus(u) = log(1 + eᵘ)
    computed as max(u, 0) + log(1 + e^(−|u|)) so it never overflows.
        ∂ℓ/∂x = σ(x)·(1 + (p − 1)·y) − p·y        (= σ(x) − y when p = 1)
    An optional elementwise ``weight`` multiplies ℓ. 'mean' averages over all elements.
    """

    @staticmethod
    def forward(ctx, x, y, weight=None, pos_weight=None, reduction="mean"):
        xp = array_module(x)
        softplus_neg_x = xp.maximum(-x, 0) + xp.log1p(xp.exp(-xp.abs(x)))
        e = xp.exp(-xp.abs(x))
        sig = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
        if pos_weight is None:
            losses = (1 - y) * x + softplus_neg_x
            dx = sig - y
        else:
            scale = 1 + (pos_weight - 1) * y
            losses = (1 - y) * x + scale * softplus_neg_x
            dx = sig * scale - pos_weight * y
        if weight is not None:
            losses, dx = losses * weight, dx * weight
        losses = losses.astype(x.dtype, copy=False)
        ctx.reduction, ctx.size, ctx.shape = reduction, losses.size, x.shape
        ctx.save_for_backward(dx)
        if reduction == "none":
            return losses
        total = losses.sum()
        return total / losses.size if reduction == "mean" else total

    @staticmethod
    def backward(ctx, grad):
        (dx,) = ctx.saved
        g = dx * grad
        if ctx.reduction == "mean":
            g = g / ctx.size
        return g.reshape(ctx.shape), None


def mse_loss(prediction, target, reduction="mean"):
    """Mean squared error ``mean((prediction − target)²)``; shapes must match."""
    check_reduction(reduction)
    prediction = as_tensor(prediction)
    target = as_tensor(target, like=prediction)
    if prediction.shape != target.shape:
        raise ValueError(
            f"mse_loss: prediction has shape {prediction.shape} but target has shape {target.shape}; they must match"
        )
    return MSELoss.apply(prediction, target, reduction=reduction)


def cross_entropy(logits, target, weight=None, reduction="mean"):
    """Cross-entropy from logits of shape (N, C) and integer labels of shape (N,) in [0, C).

    ``target`` may also be an (N, C) array of class probabilities (soft or one-hot labels).
    ``weight`` is an optional (C,) array of class weights for imbalanced data sets.
    """
    check_reduction(reduction)
    logits = as_tensor(logits)
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy expects logits of shape (N, C), got {logits.shape}")
    n, classes = logits.shape
    xp = array_module(logits.data)
    labels = xp.asarray(array_of(target))
    if weight is not None:
        weight = xp.asarray(array_of(weight))
        if weight.shape != (classes,):
            raise ValueError(f"cross_entropy: weight must have shape ({classes},) (one per class), got {weight.shape}")
    if labels.ndim == 2 and labels.dtype.kind == "f":
        if labels.shape != logits.shape:
            raise ValueError(f"cross_entropy: soft targets have shape {labels.shape}, logits {logits.shape}")
        labels = labels.astype(logits.dtype, copy=False)  # float64 targets must not turn a float32 loss into float64
    else:
        if labels.dtype.kind not in "iu":
            raise TypeError(f"cross_entropy: labels must be integers (class indices), got dtype {labels.dtype}")
        if labels.shape != (n,):
            raise ValueError(
                f"cross_entropy: labels must have shape ({n},) to match logits {logits.shape}, got {labels.shape}"
            )
        bad = (labels < 0) | (labels >= classes)
        if bad.any():
            i = int(np.argmax(to_numpy(bad)))
            raise ValueError(
                f"cross_entropy: labels must lie in [0, {classes}); found {int(labels[i])} at position {i}"
            )
        labels = labels.astype(np.int64, copy=False)
    return CrossEntropyLoss.apply(logits, Tensor._from_array(labels), weight=weight, reduction=reduction)


def binary_cross_entropy_with_logits(logits, target, weight=None, pos_weight=None, reduction="mean"):
    """Binary cross-entropy of logits against targets in [0, 1] (same shape), computed stably."""
    check_reduction(reduction)
    logits = as_tensor(logits)
    xp = array_module(logits.data)
    target = xp.asarray(array_of(target)).astype(logits.dtype, copy=False)
    if target.shape != logits.shape:
        raise ValueError(
            f"binary_cross_entropy_with_logits: logits have shape {logits.shape}, target {target.shape}; they must match"
        )
    if weight is not None:
        weight = xp.asarray(array_of(weight)).astype(logits.dtype, copy=False)
    if pos_weight is not None:
        pos_weight = xp.asarray(array_of(pos_weight)).astype(logits.dtype, copy=False)
    return BCEWithLogitsLoss.apply(
        logits, Tensor._from_array(target), weight=weight, pos_weight=pos_weight, reduction=reduction
    )
