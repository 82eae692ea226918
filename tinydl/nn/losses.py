"""Loss functions as Modules. The formulas and their gradients live in ``tinydl/ops/loss.py``.

Each takes ``reduction``: 'mean' (the default) averages the per-sample
losses, 'sum' adds them, 'none' returns them unreduced.
"""

from ..ops.loss import check_reduction
from . import functional as F
from .module import Module


class _Loss(Module):
    def __init__(self, reduction="mean"):
        super().__init__()
        check_reduction(reduction)
        self.reduction = reduction


class MSELoss(_Loss):
    """Mean squared error:  L = (1/n) Σ_i (ŷ_i − y_i)²  over all n elements.

    ``loss = MSELoss()(prediction, target)``; the shapes must match.
    """

    def forward(self, prediction, target):
        return F.mse_loss(prediction, target, reduction=self.reduction)


class CrossEntropyLoss(_Loss):
    """Cross-entropy of logits z (N, C) against integer labels y (N,):  ℓ_i = −w_{y_i} · log softmax(z_i)_{y_i}.

    Takes raw scores (no softmax layer before it): softmax and log are fused
    into a stable log-softmax. With class weights w, 'mean' divides by
    Σ_i w_{y_i}, as PyTorch does. ``target`` may also be (N, C) class
    probabilities. Per pixel: logits (N, C, H, W) and labels (N, H, W).
    Labels equal to ``ignore_index`` count for nothing; ``label_smoothing`` ε
    mixes the one-hot target with the uniform one, (1 − ε)·onehot + ε/C.
    ``weight`` is kept as a buffer.
    """

    def __init__(self, weight=None, reduction="mean", ignore_index=-100, label_smoothing=0.0):
        super().__init__(reduction)
        self.register_buffer("weight", weight)
        self.ignore_index, self.label_smoothing = int(ignore_index), label_smoothing

    def forward(self, logits, target):
        return F.cross_entropy(
            logits,
            target,
            weight=self.weight,
            reduction=self.reduction,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
        )


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities x (N, C) (or (N, C, d1, …)) at labels y:  ℓ_i = −w_{y_i} x_{i,y_i}.

    Put a ``LogSoftmax(axis=1)`` before it (together they are ``CrossEntropyLoss``).
    Labels equal to ``ignore_index`` count for nothing. ``weight`` is kept as a buffer.
    """

    def __init__(self, weight=None, reduction="mean", ignore_index=-100):
        super().__init__(reduction)
        self.register_buffer("weight", weight)
        self.ignore_index = int(ignore_index)

    def forward(self, log_probs, target):
        return F.nll_loss(
            log_probs, target, weight=self.weight, ignore_index=self.ignore_index, reduction=self.reduction
        )


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities p ∈ [0, 1] (after a Sigmoid) against targets y ∈ [0, 1]:

        ℓ = −w · [y · log p + (1 − y) · log(1 − p)]      (logs clamped at −100, as PyTorch)

    Prefer ``BCEWithLogitsLoss`` on the logits: it is stable for any x. ``weight`` is a buffer.
    """

    def __init__(self, weight=None, reduction="mean"):
        super().__init__(reduction)
        self.register_buffer("weight", weight)

    def forward(self, probabilities, target):
        return F.binary_cross_entropy(probabilities, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of logits x against targets y ∈ [0, 1]:

        ℓ = −w · [p · y · log σ(x) + (1 − y) · log(1 − σ(x))]

    computed from x directly (never forming σ(x)), so it is stable for any x.
    ``weight`` w rescales each element; ``pos_weight`` p (one per class)
    weighs the positive examples, to balance rare positives. Both are buffers.
    """

    def __init__(self, weight=None, pos_weight=None, reduction="mean"):
        super().__init__(reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, logits, target):
        return F.binary_cross_entropy_with_logits(
            logits, target, weight=self.weight, pos_weight=self.pos_weight, reduction=self.reduction
        )


class DiceLoss(_Loss):
    """Soft Dice loss of segmentation logits (N, C, H, W) against labels (N, H, W) or one-hot (N, C, H, W):

        Dice_nc = (2 Σ_i p_nci g_nci + s) / (Σ_i p_nci + Σ_i g_nci + s),   ℓ_nc = 1 − Dice_nc

    p = softmax over classes, g = one-hot target, sums over the pixels of image n, s = ``smooth``
    (default 1.0). ``include_background=False`` leaves class 0 out. 'mean' averages ℓ over images and
    classes. See :func:`tinydl.nn.functional.dice_loss`.
    """

    def __init__(self, smooth=1.0, include_background=True, reduction="mean"):
        super().__init__(reduction)
        self.smooth, self.include_background = smooth, bool(include_background)

    def forward(self, logits, target):
        return F.dice_loss(
            logits, target, smooth=self.smooth, include_background=self.include_background, reduction=self.reduction
        )
