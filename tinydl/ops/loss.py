"""Loss functions: mean squared error, cross-entropy, negative log-likelihood, binary cross-entropy
(on logits and on probabilities), the soft Dice loss of segmentation, and ``one_hot``.

Each takes ``reduction='mean' | 'sum' | 'none'`` as in PyTorch.
"""

import math
import numbers

import numpy as np

from ..backend import array_module
from ..function import Function
from ..tensor import Tensor, array_of, as_tensor, to_numpy
from .activation import log_softmax, softmax
from .arithmetic import add, div, mul, neg, sub
from .elementwise import astype, where
from .reduction import mean as mean_
from .reduction import sum as sum_
from .shape import getitem, permute, reshape

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def reduce_losses(losses, reduction, norm=None):
    """Per-element ``losses`` as ``reduction`` asks: 'none' as they are, their 'sum', or their 'mean'
    (the sum over ``norm``: the number of elements unless given, e.g. the total class weight)."""
    if reduction == "none":
        return losses
    total = losses.sum()
    return total / (losses.size if norm is None else norm) if reduction == "mean" else total


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
        return reduce_losses(losses, reduction, norm)

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
        # Soft targets may come from another network (distillation), so they are differentiable
        # too, as in PyTorch:  ∂ℓ_i/∂t_ic = −w_c log softmax(z_i)_c.  Integer labels get none.
        dtarget = -(w * log_probs) if target.ndim != 1 and ctx.needs_input_grad[1] else None
        if ctx.reduction == "none":
            scale = grad[:, None]
        else:
            scale = grad / ctx.norm if ctx.reduction == "mean" else grad
        return dlogits * scale, (None if dtarget is None else dtarget * scale)


class BCEWithLogitsLoss(Function):
    """Binary cross-entropy of a logit x against a target y ∈ [0, 1], without computing σ(x) first.

        ℓ = −[p·y·log σ(x) + (1 − y)·log(1 − σ(x))]        (p = pos_weight, default 1)
          = (1 − y)·x + (1 + (p − 1)·y)·softplus(−x),   softplus(u) = log(1 + eᵘ)
    computed as max(u, 0) + log(1 + e^(−|u|)) so it never overflows.
        ∂ℓ/∂x = σ(x)·(1 + (p − 1)·y) − p·y        (= σ(x) − y when p = 1)
        ∂ℓ/∂y = −x + (p − 1)·softplus(−x)          (= −x when p = 1)
    The target is differentiable too, as in PyTorch (soft targets from another network).
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
            dy = -x
        else:
            scale = 1 + (pos_weight - 1) * y
            losses = (1 - y) * x + scale * softplus_neg_x
            dx = sig * scale - pos_weight * y
            dy = -x + (pos_weight - 1) * softplus_neg_x
        if weight is not None:
            losses, dx, dy = losses * weight, dx * weight, dy * weight
        losses = losses.astype(x.dtype, copy=False)
        ctx.reduction, ctx.size, ctx.shape = reduction, losses.size, x.shape
        ctx.save_for_backward(dx, dy if ctx.needs_input_grad[1] else None)
        return reduce_losses(losses, reduction)

    @staticmethod
    def backward(ctx, grad):
        dx, dy = ctx.saved
        if ctx.reduction == "mean":
            grad = grad / ctx.size
        gy = None if dy is None else (dy * grad).reshape(ctx.shape)
        return (dx * grad).reshape(ctx.shape), gy


class NLLLoss(Function):
    """Negative log-likelihood of log-probabilities x (M, C) at integer labels y (M,).

        ℓ_i = −w_{y_i} · x_{i, y_i}        (0 where y_i = ignore_index)
    'mean' returns Σ_i ℓ_i / Σ_i w_{y_i} over the labels not ignored (a weighted mean, as in
    PyTorch); 'sum' Σ_i ℓ_i.  Only one entry of each row enters the loss, so
        ∂ℓ_i/∂x_ij = −w_{y_i} · [j = y_i].
    The labels are an option (not an input): they pass no gradient.
    """

    @staticmethod
    def forward(ctx, log_probs, target=None, weight=None, ignore_index=-100, reduction="mean"):
        xp = array_module(log_probs)
        m, classes = log_probs.shape
        w = xp.ones(classes, dtype=log_probs.dtype) if weight is None else weight.astype(log_probs.dtype, copy=False)
        valid = target != ignore_index
        safe = xp.where(valid, target, 0)  # any valid class: its weight is zeroed below
        sample_weight = w[safe] * valid.astype(log_probs.dtype)
        rows = xp.arange(m)
        losses = -sample_weight * log_probs[rows, safe]
        norm = sample_weight.sum()
        ctx.reduction, ctx.norm, ctx.shape = reduction, norm, log_probs.shape
        ctx.save_for_backward(safe, sample_weight, valid)
        if reduction == "none":
            return losses
        total = losses.sum()
        if reduction == "sum":
            return total
        with np.errstate(invalid="ignore", divide="ignore"):  # every label ignored: 0/0 = nan, as PyTorch
            return total / norm

    @staticmethod
    def backward(ctx, grad):
        safe, sample_weight, valid = ctx.saved
        xp = array_module(sample_weight)
        if ctx.reduction == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):  # nothing counted: nan, as PyTorch
                scale = grad / ctx.norm
        else:
            scale = grad
        dx = xp.zeros(ctx.shape, dtype=sample_weight.dtype)
        rows = xp.nonzero(valid)[0]  # ignored rows get 0 (even when the mean is nan), as in PyTorch
        dx[rows, safe[rows]] = -sample_weight[rows] * (scale if scale.ndim == 0 else scale[rows])
        return dx


class BCELoss(Function):
    """Binary cross-entropy of probabilities p ∈ [0, 1] against targets y ∈ [0, 1] (PyTorch's ``BCELoss``).

        ℓ = −w·[y·max(log p, −100) + (1 − y)·max(log(1 − p), −100)]
    The logs are clamped at −100 (as PyTorch does), so p = 0 or 1 gives a large finite loss, not inf.
        ∂ℓ/∂p = w·(p − y) / max(p(1 − p), 10⁻¹²)          (PyTorch's guard against 0/0)
        ∂ℓ/∂y = −w·(max(log p, −100) − max(log(1 − p), −100))
    Prefer :func:`binary_cross_entropy_with_logits`: it never forms p, so it is stable for any logit.
    """

    @staticmethod
    def forward(ctx, p, y, weight=None, reduction="mean"):
        xp = array_module(p)
        with np.errstate(divide="ignore"):  # log(0) = −inf is clamped to −100 just below
            log_p = xp.maximum(xp.log(p), -100)
            log_1mp = xp.maximum(xp.log1p(-p), -100)
        losses = -(y * log_p + (1 - y) * log_1mp)
        dp = (p - y) / xp.maximum(p * (1 - p), 1e-12)
        dy = log_1mp - log_p
        if weight is not None:
            losses, dp, dy = losses * weight, dp * weight, dy * weight
        losses = losses.astype(p.dtype, copy=False)
        ctx.reduction, ctx.size = reduction, losses.size
        ctx.save_for_backward(dp, dy)
        return reduce_losses(losses, reduction)

    @staticmethod
    def backward(ctx, grad):
        dp, dy = ctx.saved
        if ctx.reduction == "mean":
            grad = grad / ctx.size
        return dp * grad, dy * grad


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


def _classes_last(x):
    """(N, C, d1, …, dk) → (N·d1·…·dk, C): one row per pixel, by differentiable permute and reshape."""
    if x.ndim == 2:
        return x
    return reshape(permute(x, 0, *range(2, x.ndim), 1), (-1, x.shape[1]))


def _float_target(where, target, like):
    """A float target as a Tensor of ``like``'s dtype; a Tensor stays in the graph (its gradient flows)."""
    if isinstance(target, Tensor):
        if target.dtype.kind != "f":
            raise TypeError(f"{where}: target must be floating-point, got dtype {target.dtype}")
        if target.device != like.device:
            raise RuntimeError(f"{where}: input is on {like.device} but target is on {target.device}")
        return astype(target, like.dtype)  # differentiable cast; the same tensor when the dtype matches
    xp = array_module(like.data)
    return Tensor._from_array(xp.asarray(array_of(target)).astype(like.dtype, copy=False))


def _class_weight(where, weight, classes, xp):
    if weight is None:
        return None
    weight = xp.asarray(array_of(weight))
    if weight.shape != (classes,):
        raise ValueError(f"{where}: weight must have shape ({classes},) (one per class), got {weight.shape}")
    return weight


def _labels(where, target, input_shape, ignore_index, xp):
    """Integer class labels of shape (N, d1, …) checked against input (N, C, d1, …), flattened, as int64."""
    labels = xp.asarray(array_of(target))
    if labels.dtype.kind not in "iu":
        raise TypeError(f"{where}: labels must be integers (class indices), got dtype {labels.dtype}")
    expected = (input_shape[0],) + tuple(input_shape[2:])
    if labels.shape != expected:
        raise ValueError(f"{where}: labels must have shape {expected} to match input {input_shape}, got {labels.shape}")
    classes = input_shape[1]
    bad = ((labels < 0) | (labels >= classes)) & (labels != ignore_index)
    if bad.any():
        i = int(np.argmax(to_numpy(bad).ravel()))
        raise ValueError(
            f"{where}: labels must lie in [0, {classes}) (or equal ignore_index={ignore_index}); "
            f"found {int(labels.ravel()[i])} at flat position {i}"
        )
    return labels.reshape(-1).astype(np.int64, copy=False)


def _check_input(where, x):
    if x.ndim < 2:
        raise ValueError(f"{where} expects input of shape (N, C) or (N, C, d1, ...), got {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"{where} expects a floating-point input, got dtype {x.dtype}")


def _unflatten_losses(losses, input_shape, reduction):
    """Per-pixel losses (M,) back to (N, d1, …) for reduction='none'."""
    if reduction == "none" and len(input_shape) > 2:
        return reshape(losses, (input_shape[0],) + tuple(input_shape[2:]))
    return losses


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of log-probabilities ``input`` (N, C) or (N, C, d1, …) at labels (N, d1, …).

    ``cross_entropy(z, y)`` is ``nll_loss(log_softmax(z, axis=1), y)``. ``weight`` is an optional
    (C,) array of class weights; labels equal to ``ignore_index`` add nothing to the loss nor to the
    mean's denominator (e.g. unlabelled pixels of a segmentation). See :class:`NLLLoss`.
    """
    check_reduction(reduction)
    x = as_tensor(input)
    _check_input("nll_loss", x)
    xp = array_module(x.data)
    weight = _class_weight("nll_loss", weight, x.shape[1], xp)
    labels = _labels("nll_loss", target, x.shape, int(ignore_index), xp)
    losses = NLLLoss.apply(
        _classes_last(x), target=labels, weight=weight, ignore_index=int(ignore_index), reduction=reduction
    )
    return _unflatten_losses(losses, x.shape, reduction)


def _smoothing_term(log_probs, labels, weight, ignore_index, reduction):
    """PyTorch's label-smoothing term Σ_c w_c·(−log p_ic), reduced like the NLL part (composed of existing ops).

    'mean' divides by the same Σ_i w_{y_i} (labels not ignored) as :class:`NLLLoss`.
    """
    xp = array_module(log_probs.data)
    dtype = log_probs.dtype
    w = xp.ones(log_probs.shape[1], dtype=dtype) if weight is None else weight.astype(dtype, copy=False)
    valid = labels != ignore_index
    per_row = neg(sum_(mul(log_probs, Tensor._from_array(w)), axis=1))
    per_row = where(valid, per_row, 0.0)  # ignored rows add nothing (and get no gradient, even from a nan mean)
    if reduction == "none":
        return per_row
    total = sum_(per_row)
    if reduction == "sum":
        return total
    norm = float((w[xp.where(valid, labels, 0)] * valid).sum())
    return mul(total, 1 / norm if norm else math.nan)  # every label ignored: nan, as PyTorch (and no 0/0 warning)


def cross_entropy(logits, target, weight=None, reduction="mean", ignore_index=-100, label_smoothing=0.0):
    """Cross-entropy from logits (N, C) and integer labels (N,) in [0, C), or per pixel: (N, C, d1, …) and (N, d1, …).

    ``target`` may also be class probabilities of the logits' shape (soft or one-hot labels); they
    are differentiable when they are a Tensor that requires grad (as in PyTorch).
    ``weight`` is an optional (C,) array of class weights for imbalanced data sets.
    ``ignore_index``: labels equal to it add nothing (nor to the mean's denominator); integer labels only.
    ``label_smoothing`` ε ∈ [0, 1]: the target becomes (1 − ε)·onehot(y) + ε/C, as in PyTorch (with
    class weights, the smoothing term is weighted and normalised like the NLL term, as PyTorch does).

    Plain integer labels go through :class:`CrossEntropyLoss` (fused log-softmax and "softmax minus
    one-hot" gradient); with ignored labels or smoothing, through ``log_softmax`` and :class:`NLLLoss`.
    """
    check_reduction(reduction)
    logits = as_tensor(logits)
    _check_input("cross_entropy", logits)
    classes = logits.shape[1]
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real):
        raise TypeError(f"cross_entropy: label_smoothing must be a number in [0, 1], got {label_smoothing!r}")
    if not 0 <= label_smoothing <= 1:
        raise ValueError(f"cross_entropy: label_smoothing must lie in [0, 1], got {label_smoothing}")
    eps = float(label_smoothing)
    xp = array_module(logits.data)
    weight = _class_weight("cross_entropy", weight, classes, xp)
    if not isinstance(target, Tensor):
        target = xp.asarray(array_of(target))
    if target.dtype.kind == "f" and target.ndim == logits.ndim - 1:  # labels given as floats
        raise TypeError(
            f"cross_entropy: labels must be integers (class indices), got dtype {target.dtype}; "
            f"class probabilities (soft targets) need the logits' shape {logits.shape}"
        )
    if target.dtype.kind == "f":  # class probabilities
        if tuple(target.shape) != logits.shape:
            raise ValueError(
                f"cross_entropy: soft targets have shape {tuple(target.shape)}, logits {logits.shape}; they must match"
            )
        probs = _float_target("cross_entropy", target, logits)
        if eps:
            probs = add(mul(probs, 1 - eps), eps / classes)
        losses = CrossEntropyLoss.apply(_classes_last(logits), _classes_last(probs), weight=weight, reduction=reduction)
        return _unflatten_losses(losses, logits.shape, reduction)

    ignore_index = int(ignore_index)
    labels = _labels("cross_entropy", target, logits.shape, ignore_index, xp)
    flat = _classes_last(logits)
    if not eps and not bool((labels == ignore_index).any()):
        losses = CrossEntropyLoss.apply(flat, Tensor._from_array(labels), weight=weight, reduction=reduction)
    else:
        log_probs = log_softmax(flat, axis=1)
        losses = NLLLoss.apply(log_probs, target=labels, weight=weight, ignore_index=ignore_index, reduction=reduction)
        if eps:
            smooth = _smoothing_term(log_probs, labels, weight, ignore_index, reduction)
            losses = add(mul(losses, 1 - eps), mul(smooth, eps / classes))
    return _unflatten_losses(losses, logits.shape, reduction)


def binary_cross_entropy_with_logits(logits, target, weight=None, pos_weight=None, reduction="mean"):
    """Binary cross-entropy of logits against targets in [0, 1] (same shape), computed stably.

    ``weight`` (broadcast to the logits) rescales each element; ``pos_weight`` (broadcast, e.g. one
    per class on the last axis) weighs the positives. A target Tensor that requires grad gets its gradient.
    """
    check_reduction(reduction)
    logits = as_tensor(logits)
    xp = array_module(logits.data)
    target = _float_target("binary_cross_entropy_with_logits", target, logits)
    if target.shape != logits.shape:
        raise ValueError(
            f"binary_cross_entropy_with_logits: logits have shape {logits.shape}, target {target.shape}; they must match"
        )
    if weight is not None:
        weight = xp.asarray(array_of(weight)).astype(logits.dtype, copy=False)
    if pos_weight is not None:
        pos_weight = xp.asarray(array_of(pos_weight)).astype(logits.dtype, copy=False)
    return BCEWithLogitsLoss.apply(logits, target, weight=weight, pos_weight=pos_weight, reduction=reduction)


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """Binary cross-entropy of probabilities ``input`` ∈ [0, 1] against ``target`` ∈ [0, 1] of the same shape.

    ``weight`` (broadcastable to the input) rescales each element. The logs are clamped at −100 as in
    PyTorch. A target Tensor that requires grad gets its gradient. See :class:`BCELoss`.
    """
    check_reduction(reduction)
    p = as_tensor(input)
    if p.dtype.kind != "f":
        raise TypeError(f"binary_cross_entropy expects a floating-point input, got dtype {p.dtype}")
    xp = array_module(p.data)
    target = _float_target("binary_cross_entropy", target, p)
    if target.shape != p.shape:
        raise ValueError(f"binary_cross_entropy: input has shape {p.shape}, target {target.shape}; they must match")
    if bool(((p.data < 0) | (p.data > 1)).any()):
        raise ValueError(
            "binary_cross_entropy: input must hold probabilities in [0, 1] "
            f"(got values in [{float(p.data.min())}, {float(p.data.max())}]); for logits use binary_cross_entropy_with_logits"
        )
    if weight is not None:
        weight = xp.asarray(array_of(weight)).astype(p.dtype, copy=False)
        try:
            ok = np.broadcast_shapes(tuple(weight.shape), p.shape) == p.shape
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(
                f"binary_cross_entropy: weight of shape {tuple(weight.shape)} does not broadcast to the input {p.shape}"
            )
    return BCELoss.apply(p, target, weight=weight, reduction=reduction)


def one_hot(tensor, num_classes=-1):
    """One-hot encoding of integer labels: shape (..., num_classes), int64, 1 at each label (``F.one_hot``).

    ``num_classes=-1`` takes max(label) + 1. It passes no gradient (its input is integer labels).
    """
    labels = array_of(tensor)
    xp = array_module(labels)
    labels = xp.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"one_hot: labels must be integers (class indices), got dtype {labels.dtype}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise TypeError(f"one_hot: num_classes must be an int, got {num_classes!r}")
    if num_classes == -1:
        if labels.size == 0:
            raise ValueError("one_hot: cannot infer num_classes from an empty tensor; pass num_classes")
        num_classes = int(labels.max()) + 1
    if num_classes < 1 and not (num_classes == 0 and labels.size == 0):
        raise ValueError(f"one_hot: num_classes must be positive (or -1 to infer it), got {num_classes}")
    if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(
            f"one_hot: labels must lie in [0, {num_classes}); got values in [{int(labels.min())}, {int(labels.max())}]"
        )
    out = (labels[..., None] == xp.arange(num_classes)).astype(np.int64)
    return Tensor._from_array(out)


def _dice_target(target, logits):
    """The Dice target as class probabilities of the logits' shape (N, C, d1, …): one-hot from integer labels."""
    shape, classes = logits.shape, logits.shape[1]
    if isinstance(target, Tensor) and target.dtype.kind == "f":
        if target.shape != shape:
            raise ValueError(
                f"dice_loss: a one-hot (float) target must have the logits' shape {shape}, got {target.shape}"
            )
        return _float_target("dice_loss", target, logits)
    labels = array_of(target)
    xp = array_module(logits.data)
    labels = xp.asarray(labels)
    if labels.dtype.kind == "f":
        if labels.shape != shape:
            raise ValueError(
                f"dice_loss: a one-hot (float) target must have the logits' shape {shape}, got {labels.shape}"
            )
        return _float_target("dice_loss", labels, logits)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"dice_loss: labels must be integers (class indices), got dtype {labels.dtype}")
    expected = (shape[0],) + tuple(shape[2:])
    if labels.shape != expected:
        raise ValueError(f"dice_loss: labels must have shape {expected} to match logits {shape}, got {labels.shape}")
    if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= classes):
        raise ValueError(
            f"dice_loss: labels must lie in [0, {classes}); got values in [{int(labels.min())}, {int(labels.max())}]"
        )
    hot = one_hot(labels, classes).data  # (N, d1, …, C), int64: no gradient
    hot = xp.moveaxis(hot, -1, 1).astype(logits.dtype)
    return Tensor._from_array(xp.ascontiguousarray(hot))


def dice_loss(logits, target, smooth=1.0, include_background=True, reduction="mean"):
    """Soft Dice loss of class scores ``logits`` (N, C, d1, …) against labels (N, d1, …) or one-hot (N, C, d1, …).

    With p = softmax(logits) over the class axis and g the one-hot target, for each image n and class c
    (sums over the pixels i of that image)::

        Dice_nc = (2 Σ_i p_nci g_nci + s) / (Σ_i p_nci + Σ_i g_nci + s),      ℓ_nc = 1 − Dice_nc

    s = ``smooth`` (default 1.0, the "+1" of the V-Net / Kaggle formulation; MONAI uses 1e-5, and
    segmentation_models_pytorch 0): a class absent from the target image gets Dice = s / (Σ p + s) ≈ 1
    when the prediction agrees, where the plain soft Dice (s = 0) gives 0 / Σ p = 0, the worst loss, for
    however small a probability (softmax is never exactly 0). s also smooths the gradient of small classes.
    ``include_background=False`` leaves class 0 out (C must then be ≥ 2). ``reduction``: 'mean'
    (the default) averages ℓ_nc over images and classes, 'sum' adds them, 'none' returns the (N, C')
    matrix. The Dice is taken per image (not pooled over the batch). A one-hot float target that is a
    Tensor requiring grad gets its gradient. Built from softmax, one_hot, sums and arithmetic, so the
    backward pass is theirs.
    """
    check_reduction(reduction)
    logits = as_tensor(logits)
    if logits.ndim < 3:
        raise ValueError(f"dice_loss expects logits of shape (N, C, d1, ...) (e.g. (N, C, H, W)), got {logits.shape}")
    if logits.dtype.kind != "f":
        raise TypeError(f"dice_loss expects floating-point logits, got dtype {logits.dtype}")
    if isinstance(smooth, bool) or not isinstance(smooth, numbers.Real) or not smooth >= 0 or math.isinf(smooth):
        raise ValueError(f"dice_loss: smooth must be a finite number ≥ 0, got {smooth!r}")
    if not include_background and logits.shape[1] < 2:
        raise ValueError(f"dice_loss: include_background=False needs at least 2 classes, logits have {logits.shape}")
    g = _dice_target(target, logits)
    p = softmax(logits, axis=1)
    pixels = tuple(range(2, logits.ndim))
    overlap = sum_(mul(p, g), axis=pixels)  # (N, C)
    total = add(sum_(p, axis=pixels), sum_(g, axis=pixels))
    s = float(smooth)
    dice = div(add(mul(overlap, 2.0), s), add(total, s))
    losses = sub(1.0, dice)
    if not include_background:
        losses = getitem(losses, (slice(None), slice(1, None)))
    if reduction == "none":
        return losses
    return sum_(losses) if reduction == "sum" else mean_(losses)
