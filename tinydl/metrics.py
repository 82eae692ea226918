"""Metrics for classifiers, reported the way medical-imaging papers report them.

Accuracy alone misleads when classes are unbalanced: on a test set that is
95 % healthy, a model that always answers "healthy" is 95 % accurate and
useless. So we count, for one class c (the "positive" class; every other
class is "negative"):

    TP  true positives    true class c,      predicted c
    FP  false positives   true class not c,  predicted c       (false alarms)
    FN  false negatives   true class c,      predicted not c   (missed cases)
    TN  true negatives    true class not c,  predicted not c

and from those counts:

    precision   = TP / (TP + FP)   of the cases flagged as c, the share really c (PPV)
    recall      = TP / (TP + FN)   of the real c cases, the share found (= sensitivity, TPR)
    specificity = TN / (TN + FP)   of the cases not c, the share correctly cleared (TNR)
    F1          = 2·P·R / (P + R) = 2·TP / (2·TP + FP + FN)   (harmonic mean of P and R)

**Zero division.** When a denominator is 0 (e.g. precision of a class that
was never predicted) the figure is defined as 0.0, scikit-learn's
``zero_division=0``; no warning is raised.

**Averages over K classes** (``average=``):

    None        one value per class, a NumPy array of length K
    "macro"     the plain mean over the K classes: a rare disease counts as much as a common one
    "weighted"  the mean weighted by support (number of true cases of each class)
    "binary"    the value for the class ``positive`` (1 by default); needs two classes

Threshold-free metrics work on *scores* (probabilities or logits) instead of
hard predictions: :func:`roc_curve` and :func:`roc_auc`. Calibration —
whether "90 % sure" is right 90 % of the time — is measured by
:func:`expected_calibration_error`. :func:`evaluate` computes everything at
once into a JSON-ready dict (what the command line writes as ``metrics.json``).

Segmentation (:func:`dice_score`, :func:`iou_score`, :func:`pixel_accuracy`) scores label maps
pixel by pixel, from TP, FP and FN counted over the whole set of pixels given.

Inputs are NumPy arrays, lists or tinydl Tensors. Labels are integers
0..K-1; an (N, 1) column, as MedMNIST stores labels, is accepted.
"""

import warnings

import numpy as np

from .tensor import to_numpy

AVERAGES = (None, "binary", "macro", "weighted")
# MedMNIST's task names ("ordinal-regression" is scored like multi-class, as MedMNIST does).
TASKS = ("binary-class", "multi-class", "multi-label, binary-class", "ordinal-regression", "segmentation")

__all__ = [
    "accuracy",
    "confusion_matrix",
    "precision",
    "recall",
    "sensitivity",
    "specificity",
    "f1_score",
    "classification_report",
    "format_report",
    "roc_curve",
    "roc_auc",
    "roc_auc_per_class",
    "expected_calibration_error",
    "reliability_curve",
    "threshold_metrics",
    "best_threshold",
    "evaluate",
    "predicted_classes",
    "dice_score",
    "iou_score",
    "pixel_accuracy",
]


# ====================================================================== input checks
def _labels(y, name):
    """``y`` as a 1-D int64 array of class indices; an (N, 1) column is flattened."""
    arr = to_numpy(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of class labels (or an (N, 1) column), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}): there is nothing to evaluate")
    return _whole_numbers(arr, name)


def _whole_numbers(arr, name):
    """Check that ``arr`` holds non-negative whole numbers; return it as int64."""
    if arr.dtype.kind == "b":
        return arr.astype(np.int64)
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold integer class labels, got dtype {arr.dtype} (shape {arr.shape})")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or inf (shape {arr.shape})")
        if np.any(arr != np.round(arr)):
            raise ValueError(
                f"{name} must hold whole-number class labels, got {arr[arr != np.round(arr)][0]!r} "
                f"(shape {arr.shape}); did you pass scores? take argmax over classes first"
            )
    if arr.min() < 0:
        raise ValueError(f"{name} has a negative label {arr.min()} (shape {arr.shape}); labels are 0..K-1")
    return arr.astype(np.int64)


def _binary_labels(y, name):
    """Labels that may only be 0 (negative) or 1 (positive)."""
    y = _labels(y, name)
    if y.max() > 1:
        raise ValueError(
            f"{name} must be binary (0 = negative, 1 = positive), got labels {sorted(set(y.tolist()))[:10]} "
            f"(shape {y.shape}); for K classes use roc_auc_per_class / average='macro'"
        )
    return y


def _scores(s, name):
    """Scores or probabilities as a finite float64 array."""
    arr = to_numpy(s)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype} (shape {arr.shape})")
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(f"{name} contains NaN or inf ({int(bad.sum())} of {arr.size} values; shape {arr.shape})")
    return arr


def _binary_scores(s, name):
    """Scores of the positive class: 1-D, or column 1 of (N, 2) class probabilities."""
    s = _scores(s, name)
    if s.ndim == 2 and s.shape[1] in (1, 2):
        s = s[:, -1]  # (N, 1): the score itself; (N, 2): P(class 1)
    if s.ndim != 1:
        raise ValueError(
            f"{name} for a binary problem must be 1-D (score of the positive class) or (N, 2) probabilities, "
            f"got shape {s.shape}; for more classes use roc_auc / roc_auc_per_class"
        )
    return s


def _probabilities(p, name):
    p = _scores(p, name)
    if p.size and (p.min() < 0 or p.max() > 1):
        raise ValueError(
            f"{name} must be probabilities in [0, 1], found values in [{p.min():.4g}, {p.max():.4g}] "
            f"(shape {p.shape}); apply softmax (one label per image) or sigmoid (multi-label) to logits first"
        )
    return p


def _same_length(a, name_a, b, name_b):
    if len(a) != len(b):
        raise ValueError(f"{name_a} and {name_b} must have one entry per sample, got shapes {a.shape} and {b.shape}")


def _label_pair(y_true, y_pred):
    y_true, y_pred = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    _same_length(y_true, "y_true", y_pred, "y_pred")
    return y_true, y_pred


def _count_classes(num_classes, **labels):
    """K: ``num_classes`` if given (checking every label is below it), else 1 + the largest label."""
    largest = max(int(y.max()) for y in labels.values())
    if num_classes is None:
        return largest + 1
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    for name, y in labels.items():
        if y.max() >= num_classes:
            raise ValueError(
                f"{name} has label {int(y.max())} but num_classes={num_classes} (labels must be 0..{num_classes - 1}); "
                f"shape {y.shape}"
            )
    return int(num_classes)


def _safe_divide(numerator, denominator):
    """numerator / denominator element-wise, with 0.0 where the denominator is 0 (the documented convention)."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    return np.divide(
        numerator, denominator, out=np.zeros(np.broadcast(numerator, denominator).shape), where=denominator != 0
    )


# ====================================================================== label metrics
def accuracy(y_true, y_pred):
    """Share of correct predictions: (number of i with y_pred[i] == y_true[i]) / N."""
    y_true, y_pred = _label_pair(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true, y_pred, num_classes=None):
    """The K×K count matrix C with C[i, j] = number of samples of true class i predicted as class j.

    Rows are true classes, columns predicted ones: the diagonal holds the
    correct predictions, row i sums to the support of class i, column j to
    how often j was predicted. For class c:  TP = C[c, c],
    FN = row c minus TP,  FP = column c minus TP,  TN = N − TP − FN − FP.
    K is ``num_classes`` or, if None, 1 + the largest label seen.
    """
    y_true, y_pred = _label_pair(y_true, y_pred)
    k = _count_classes(num_classes, y_true=y_true, y_pred=y_pred)
    return _confusion(y_true, y_pred, k)


def _confusion(y_true, y_pred, k):
    # BEGIN SOLUTION assignment=4 task=confusion_matrix hint="cm[t, p] = how many samples of true class t were predicted p (np.bincount of t*K + p is one way)"
    # Give each (true, predicted) pair its own cell number true·K + predicted; bincount counts all cells at once.
    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)
    # END SOLUTION


def _counts_from_confusion(cm):
    """Per-class TP, FP, FN, TN (arrays of length K) read off a confusion matrix."""
    tp = np.diag(cm)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    tn = cm.sum() - tp - fp - fn
    return tp, fp, fn, tn


def _per_class_counts(y_true, y_pred, num_classes, average):
    y_true, y_pred = _label_pair(y_true, y_pred)
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {AVERAGES}, got {average!r}")
    k = _count_classes(num_classes, y_true=y_true, y_pred=y_pred)
    if average == "binary" and num_classes is None:
        k = max(k, 2)  # all-negative data is still a two-class problem
    return _counts_from_confusion(_confusion(y_true, y_pred, k))


def _average(per_class, support, average, positive):
    """Reduce per-class values to what ``average`` asks for (see the module docstring)."""
    if average is None:
        return per_class
    if average == "macro":
        return float(per_class.mean())
    if average == "weighted":
        return float(_safe_divide((per_class * support).sum(), support.sum()))
    # "binary"
    if len(per_class) != 2:
        raise ValueError(
            f"average='binary' needs two classes, found {len(per_class)}; use average='macro', 'weighted' or None"
        )
    if positive not in (0, 1):
        raise ValueError(f"positive must be 0 or 1 for average='binary', got {positive!r}")
    return float(per_class[positive])


def precision(y_true, y_pred, average="binary", positive=1, num_classes=None):
    """Precision (positive predictive value) = TP / (TP + FP); 0.0 when a class is never predicted.

    ``average``: None (per class), "macro", "weighted" or "binary" (class ``positive``).
    Macro averages over all K classes, so a class absent from both inputs adds a 0.
    """
    tp, fp, fn, tn = _per_class_counts(y_true, y_pred, num_classes, average)
    return _average(_safe_divide(tp, tp + fp), tp + fn, average, positive)


def recall(y_true, y_pred, average="binary", positive=1, num_classes=None):
    """Recall = sensitivity = true-positive rate = TP / (TP + FN); 0.0 for a class with no true cases.

    ``average``: None (per class), "macro", "weighted" or "binary" (class ``positive``).
    Weighted recall equals accuracy (Σ_c TP_c / N).
    """
    tp, fp, fn, tn = _per_class_counts(y_true, y_pred, num_classes, average)
    return _average(_safe_divide(tp, tp + fn), tp + fn, average, positive)


sensitivity = recall  # the medical name for the same number


def specificity(y_true, y_pred, average="binary", positive=1, num_classes=None):
    """Specificity = true-negative rate = TN / (TN + FP); 0.0 when no sample is outside the class.

    ``average``: None (per class), "macro", "weighted" (by support TP + FN) or "binary" (class ``positive``).
    """
    tp, fp, fn, tn = _per_class_counts(y_true, y_pred, num_classes, average)
    return _average(_safe_divide(tn, tn + fp), tp + fn, average, positive)


def f1_score(y_true, y_pred, average="binary", positive=1, num_classes=None):
    """F1 = 2·precision·recall / (precision + recall) = 2·TP / (2·TP + FP + FN); 0.0 when TP = FP = FN = 0.

    ``average``: None (per class), "macro" (mean of per-class F1s, not the F1
    of the mean P and R), "weighted" or "binary" (class ``positive``).
    """
    tp, fp, fn, tn = _per_class_counts(y_true, y_pred, num_classes, average)
    return _average(_safe_divide(2 * tp, 2 * tp + fp + fn), tp + fn, average, positive)


def _class_names(class_names, k, what="class_names"):
    if class_names is None:
        return [str(c) for c in range(k)]
    names = [str(n) for n in class_names]
    if len(names) != k:
        raise ValueError(f"{what} has {len(names)} names but there are {k} classes")
    if len(set(names)) != len(names):
        raise ValueError(f"{what} must be unique, got {names}")
    return names


def _figures(tp, fp, fn, tn):
    """Per-class precision, recall, specificity and F1 (arrays), and support."""
    return {
        "precision": _safe_divide(tp, tp + fp),
        "recall": _safe_divide(tp, tp + fn),
        "specificity": _safe_divide(tn, tn + fp),
        "f1": _safe_divide(2 * tp, 2 * tp + fp + fn),
    }, tp + fn


def classification_report(y_true, y_pred, class_names=None, num_classes=None):
    """Precision, recall, specificity, F1 and support for every class, with macro and weighted averages.

    Returns a dict (plain Python numbers, JSON-ready)::

        {"classes": [name, ...],
         "per_class": {name: {"precision", "recall", "specificity", "f1", "support"}, ...},
         "macro":    {"precision", "recall", "specificity", "f1", "support"},
         "weighted": {...same keys...},
         "accuracy": float, "num_samples": N}

    Class names default to "0", "1", ...; K = len(class_names) when given.
    Print it with :func:`format_report`.
    """
    y_true, y_pred = _label_pair(y_true, y_pred)
    if num_classes is None and class_names is not None:
        num_classes = len(class_names)
    k = _count_classes(num_classes, y_true=y_true, y_pred=y_pred)
    names = _class_names(class_names, k)
    figures, support = _figures(*_counts_from_confusion(_confusion(y_true, y_pred, k)))

    per_class = {
        name: {**{metric: float(values[c]) for metric, values in figures.items()}, "support": int(support[c])}
        for c, name in enumerate(names)
    }
    total = int(support.sum())
    return {
        "classes": names,
        "per_class": per_class,
        "macro": {**{m: _average(v, support, "macro", None) for m, v in figures.items()}, "support": total},
        "weighted": {**{m: _average(v, support, "weighted", None) for m, v in figures.items()}, "support": total},
        "accuracy": float(np.mean(y_true == y_pred)),
        "num_samples": total,
    }


def format_report(report, digits=3):
    """:func:`classification_report`'s dict as a text table, one row per class, then accuracy and averages."""
    columns = ("precision", "recall", "specificity", "f1")
    rows = [(name, report["per_class"][name]) for name in report["classes"]]
    width = max([len("weighted avg")] + [len(name) for name, _ in rows])
    cell = max(digits + 2, len("specificity"))

    def line(label, figures):
        values = "".join(f"{figures[c]:>{cell}.{digits}f} " if c in figures else " " * (cell + 1) for c in columns)
        return f"{label:>{width}}  {values}{figures['support']:>8d}"

    header = f"{'':>{width}}  " + "".join(f"{c:>{cell}} " for c in columns) + f"{'support':>8}"
    body = [line(name, figures) for name, figures in rows]
    accuracy_row = line("accuracy", {"f1": report["accuracy"], "support": report["num_samples"]})
    averages = [line("macro avg", report["macro"]), line("weighted avg", report["weighted"])]
    return "\n".join([header, *body, "", accuracy_row, *averages])


# ====================================================================== segmentation
def _label_maps(y_true, y_pred, num_classes=None):
    """Two label maps of the same shape (any: (H, W), (N, H, W), volumes), flattened, as int64 in [0, K)."""
    y_true, y_pred = to_numpy(y_true), to_numpy(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must be label maps of the same shape, got {y_true.shape} and {y_pred.shape}; "
            "for logits (N, K, H, W) take argmax over axis 1 first"
        )
    if y_true.size == 0:
        raise ValueError(f"y_true is empty (shape {y_true.shape}): there is nothing to evaluate")
    y_true = _whole_numbers(y_true.reshape(-1), "y_true")
    y_pred = _whole_numbers(y_pred.reshape(-1), "y_pred")
    if num_classes is None:
        return y_true, y_pred, None
    k = _count_classes(num_classes, y_true=y_true, y_pred=y_pred)
    return y_true, y_pred, k


def _overlap_counts(y_true, y_pred, num_classes):
    if num_classes is None:  # inferring K would hide a class absent from both maps (its NaN)
        raise ValueError("num_classes must be a positive integer (the number of classes of the task), got None")
    y_true, y_pred, k = _label_maps(y_true, y_pred, num_classes)
    tp, fp, fn, _ = _counts_from_confusion(_confusion(y_true, y_pred, k))
    return tp.astype(np.float64), fp.astype(np.float64), fn.astype(np.float64)


def _undefined_as_nan(numerator, denominator):
    """numerator / denominator, NaN where the denominator is 0 (a class in neither truth nor prediction)."""
    out = np.full(denominator.shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _segmentation_average(per_class, average):
    if average is None:
        return per_class
    if average != "macro":
        raise ValueError(f"average must be None (one value per class) or 'macro' (their mean), got {average!r}")
    return float(np.nanmean(per_class))  # at least one class is present, so never all NaN


def dice_score(y_true, y_pred, num_classes, average="macro"):
    """Dice (F1, Sørensen) overlap of label maps per class:  Dice_c = 2·TP_c / (2·TP_c + FP_c + FN_c).

    ``y_true`` and ``y_pred`` are integer label maps of the same shape ((H, W), (N, H, W), volumes),
    labels 0..num_classes−1 (e.g. 0 background, 1 liver, 2 tumour). TP, FP and FN are counted over
    **all pixels given, pooled** (whole-set / whole-volume counts, as for a 3-D volume in the
    segmentation literature), not per image then averaged: pass one image (or volume) at a time for
    per-image scores. A class absent from both truth and prediction has 0/0: its Dice is **NaN**
    (undefined, not 0 nor 1), and it is left out of the mean.

    ``average=None`` returns the per-class array (length num_classes); ``'macro'`` (the default) the
    plain mean over the classes that are defined, background included (to leave it out, take
    ``np.nanmean(dice_score(..., average=None)[1:])``). For each class, Dice = 2·IoU / (1 + IoU).
    """
    tp, fp, fn = _overlap_counts(y_true, y_pred, num_classes)
    return _segmentation_average(_undefined_as_nan(2 * tp, 2 * tp + fp + fn), average)


def iou_score(y_true, y_pred, num_classes, average="macro"):
    """Intersection over union (Jaccard index) per class:  IoU_c = TP_c / (TP_c + FP_c + FN_c) = |T∩P| / |T∪P|.

    Counted like :func:`dice_score`: over all pixels given, pooled; NaN for a class absent from
    both truth and prediction, left out of the mean. ``average=None`` gives the per-class array,
    ``'macro'`` (the default) the mean over defined classes.
    """
    tp, fp, fn = _overlap_counts(y_true, y_pred, num_classes)
    return _segmentation_average(_undefined_as_nan(tp, tp + fp + fn), average)


def pixel_accuracy(y_true, y_pred, num_classes=None):
    """Share of pixels whose predicted label equals the true one, over all pixels given.

    Dominated by the background when the organ is small: report Dice or IoU beside it.
    ``num_classes``, when given, checks that every label is below it.
    """
    y_true, y_pred, _ = _label_maps(y_true, y_pred, num_classes)
    return float(np.mean(y_true == y_pred))


# ====================================================================== ROC and AUC
def _roc_counts(y, s):
    """Cumulative FP and TP counts as the threshold falls through the distinct scores, highest first.

    Lowering the threshold past a score value flags *every* sample with that
    value at once, so equal scores must move together: we keep one point per
    distinct score, at the last sample of its run in the sorted order.
    A tie between a positive and a negative then makes a diagonal step, which
    the trapezoid rule counts as half a correctly ordered pair.
    """
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    last_of_run = np.r_[np.nonzero(s_sorted[1:] != s_sorted[:-1])[0], len(s) - 1]
    tps = np.cumsum(y_sorted)[last_of_run]
    fps = (last_of_run + 1) - tps
    return fps, tps, s_sorted[last_of_run]


def _trapezoid(x, y):
    # Written out rather than np.trapz / np.trapezoid, whose name differs between NumPy 1 and 2.
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))


def _both_classes(y_true, scores):
    """Binary labels and scores as arrays; ValueError unless y_true holds both classes (ROC and AUC need both)."""
    y = _binary_labels(y_true, "y_true")
    s = _binary_scores(scores, "scores")
    _same_length(y, "y_true", s, "scores")
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == len(y):
        raise ValueError(
            f"ROC/AUC is undefined: y_true (shape {y.shape}) contains only class {int(y[0])}; "
            f"it needs both positive and negative samples"
        )
    return y, s


def roc_curve(y_true, scores):
    """The ROC curve of a binary classifier: (fpr, tpr, thresholds), thresholds decreasing.

    For each threshold t, samples with score ≥ t are called positive, and

        tpr = TP / (TP + FN)   (sensitivity)      fpr = FP / (FP + TN)   (1 − specificity)

    ``thresholds`` are the distinct scores, preceded by +inf (nothing called
    positive: the point (0, 0)); the last point is (1, 1). Samples with equal
    scores enter together, so the curve is the same whatever their order.
    ``y_true`` holds 0/1 labels; ``scores`` is 1-D (higher = more likely
    positive; probabilities or logits) or (N, 2) probabilities, of which
    column 1 is used. Raises ValueError when y_true has only one class: one of
    the two rates would divide by zero.
    """
    y, s = _both_classes(y_true, scores)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    fps, tps, thresholds = _roc_counts(y, s)
    fpr = np.r_[0, fps] / n_neg
    tpr = np.r_[0, tps] / n_pos
    return fpr, tpr, np.r_[np.inf, thresholds]


def _binary_auc(y, s):
    """AUC of 0/1 labels y against scores s, or nan when y holds one class only."""
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == len(y):
        return np.nan
    # BEGIN SOLUTION assignment=4 task=binary_auc hint="the area under (FPR, TPR) from _roc_counts, starting at (0, 0): _trapezoid(fpr, tpr)"
    fps, tps, _ = _roc_counts(y, s)
    return _trapezoid(np.r_[0, fps] / (len(y) - n_pos), np.r_[0, tps] / n_pos)
    # END SOLUTION


def _is_multilabel(y):
    return y.ndim == 2 and y.shape[1] > 1


def roc_auc_per_class(y_true, scores):
    """One AUC per class (one-vs-rest) or per finding (multi-label), as a float array.

    * multi-class: ``y_true`` 1-D labels 0..K-1, ``scores`` (N, K); AUC of
      class k = AUC of (y_true == k) against scores[:, k].
    * multi-label: ``y_true`` (N, L) of 0/1 (one column per finding, e.g. the
      14 findings of ChestMNIST), ``scores`` (N, L); one AUC per column.

    A class whose AUC is undefined (no positive, or no negative, sample in
    y_true) gets nan.
    """
    y_raw = to_numpy(y_true)
    s = _scores(scores, "scores")
    if _is_multilabel(y_raw):
        if s.shape != y_raw.shape:
            raise ValueError(f"multi-label y_true and scores must have the same shape, got {y_raw.shape} and {s.shape}")
        y = _whole_numbers(y_raw, "y_true")
        if y.max() > 1:
            raise ValueError(f"multi-label y_true must hold 0/1, got label {int(y.max())} (shape {y.shape})")
        columns = y.T
    else:
        y = _labels(y_raw, "y_true")
        if s.ndim != 2 or s.shape[1] < 2:
            raise ValueError(f"scores must be (N, K) with one column per class, got shape {s.shape}")
        _same_length(y, "y_true", s, "scores")
        k = s.shape[1]
        if y.max() >= k:
            raise ValueError(f"y_true has label {int(y.max())} but scores has {k} columns (shape {s.shape})")
        columns = [(y == c).astype(np.int64) for c in range(k)]
    return np.array([_binary_auc(col, s[:, c]) for c, col in enumerate(columns)])


def roc_auc(y_true, scores):
    """Area under the ROC curve: the probability that a random positive scores above a random negative.

    AUC = P(score_pos > score_neg) + ½·P(score_pos = score_neg)  (the Mann–Whitney
    statistic), computed as the trapezoid area under :func:`roc_curve`.
    1.0 = perfect ranking, 0.5 = chance, 0.0 = perfectly inverted. The shapes decide the case:

    * binary: ``y_true`` 0/1 and ``scores`` 1-D or (N, 2) (column 1 is used).
      Raises ValueError when y_true holds only one class.
    * multi-class: ``y_true`` 1-D labels, ``scores`` (N, K) with K > 2: the
      macro mean of the one-vs-rest AUCs (:func:`roc_auc_per_class`).
    * multi-label: ``y_true`` and ``scores`` (N, L): the mean of the per-finding AUCs.

    In the last two cases, classes whose AUC is undefined (absent from y_true,
    or present in every sample) are skipped with a UserWarning naming them;
    ValueError if no class is left.
    """
    y_raw, s_raw = to_numpy(y_true), to_numpy(scores)
    if not (_is_multilabel(y_raw) or (s_raw.ndim == 2 and s_raw.shape[1] > 2)):
        return _binary_auc(*_both_classes(y_true, scores))
    per_class = roc_auc_per_class(y_true, scores)
    defined = ~np.isnan(per_class)
    if not defined.any():
        raise ValueError(
            f"AUC is undefined for every class: each column of y_true (shape {y_raw.shape}) has one class only"
        )
    if not defined.all():
        skipped = np.nonzero(~defined)[0].tolist()
        warnings.warn(
            f"roc_auc: class(es) {skipped} skipped — AUC undefined because y_true has no positive "
            f"(or no negative) sample for them; mean taken over the other {int(defined.sum())}",
            UserWarning,
            stacklevel=2,
        )
    return float(per_class[defined].mean())


# ====================================================================== calibration
def _top_label(y_true, probs):
    """Confidence (top probability) and correctness (1/0) of each prediction.

    probs (N, K) with labels 1-D: argmax prediction. probs 1-D: P(class 1) of a
    binary problem, turned into [1 − p, p]. Multi-label (N, L) labels and
    probs: every (sample, finding) entry is its own binary prediction.
    """
    y_raw = to_numpy(y_true)
    p = _probabilities(probs, "probs")
    if _is_multilabel(y_raw):
        if p.shape != y_raw.shape:
            raise ValueError(f"multi-label y_true and probs must have the same shape, got {y_raw.shape} and {p.shape}")
        y_raw, p = y_raw.reshape(-1), p.reshape(-1)
    y = _labels(y_raw, "y_true")
    if p.ndim == 2 and p.shape[1] == 1:
        p = p[:, 0]
    if p.ndim == 1:
        p = np.stack([1 - p, p], axis=1)
    if p.ndim != 2:
        raise ValueError(f"probs must be (N, K) class probabilities or 1-D P(positive), got shape {p.shape}")
    _same_length(y, "y_true", p, "probs")
    if y.max() >= p.shape[1]:
        raise ValueError(f"y_true has label {int(y.max())} but probs has {p.shape[1]} columns (shape {p.shape})")
    predicted = p.argmax(axis=1)
    return p.max(axis=1), (predicted == y).astype(np.float64)


def reliability_curve(y_true, probs, n_bins=15):
    """Per-bin mean confidence, accuracy and count: the data of a reliability diagram.

    The top-label confidences are put into ``n_bins`` equal-width bins
    (0, 1/n], (1/n, 2/n], ..., ((n−1)/n, 1] (a confidence of exactly 0 joins the
    first). Returns a dict of arrays of length n_bins: ``bin_lower``,
    ``bin_upper``, ``confidence`` (mean confidence in the bin), ``accuracy``
    (share correct in the bin), ``count``; confidence and accuracy are nan in
    empty bins. A calibrated model has accuracy ≈ confidence in every bin:
    plot accuracy against confidence and compare with the diagonal.
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    confidence, correct = _top_label(y_true, probs)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # right=True: bin b holds (edges[b], edges[b+1]], so a confidence of exactly 1.0 lands in the last bin.
    bin_of = np.digitize(confidence, edges[1:-1], right=True)
    count = np.bincount(bin_of, minlength=n_bins)
    nan = np.full(n_bins, np.nan)
    mean_confidence = np.divide(
        np.bincount(bin_of, weights=confidence, minlength=n_bins), count, out=nan.copy(), where=count > 0
    )
    mean_accuracy = np.divide(
        np.bincount(bin_of, weights=correct, minlength=n_bins), count, out=nan.copy(), where=count > 0
    )
    return {
        "bin_lower": edges[:-1],
        "bin_upper": edges[1:],
        "confidence": mean_confidence,
        "accuracy": mean_accuracy,
        "count": count,
    }


def expected_calibration_error(y_true, probs, n_bins=15):
    """ECE = Σ_b |B_b|/N · |acc(B_b) − conf(B_b)|, over equal-width bins B_b of top-label confidence.

    acc(B_b) is the share of correct predictions in bin b, conf(B_b) their
    mean confidence (see :func:`reliability_curve`); empty bins add nothing.
    0 = perfectly calibrated. ``probs`` are probabilities (softmax outputs,
    (N, K)); 1-D probs are P(class 1) of a binary problem; for multi-label
    (N, L) inputs every entry counts as one binary prediction.
    """
    curve = reliability_curve(y_true, probs, n_bins)
    filled = curve["count"] > 0
    gaps = np.abs(curve["accuracy"][filled] - curve["confidence"][filled])
    return float(np.sum(curve["count"][filled] * gaps) / curve["count"].sum())


# ====================================================================== operating points
def threshold_metrics(y_true, scores, threshold=0.5):
    """Binary metrics when samples with score ≥ ``threshold`` are called positive.

    Returns a dict: threshold, tp, fp, tn, fn, sensitivity = TP/(TP+FN),
    specificity = TN/(TN+FP), precision (PPV) = TP/(TP+FP), npv = TN/(TN+FN),
    f1, accuracy and youden = sensitivity + specificity − 1 (0.0 for any 0/0).
    ``scores`` is 1-D or (N, 2) probabilities (column 1 used).
    """
    y = _binary_labels(y_true, "y_true")
    s = _binary_scores(scores, "scores")
    _same_length(y, "y_true", s, "scores")
    called_positive = s >= threshold
    is_positive = y == 1
    tp = int(np.sum(called_positive & is_positive))
    fp = int(np.sum(called_positive & ~is_positive))
    fn = int(np.sum(~called_positive & is_positive))
    tn = int(np.sum(~called_positive & ~is_positive))
    sens, spec = float(_safe_divide(tp, tp + fn)), float(_safe_divide(tn, tn + fp))
    return {
        "threshold": float(threshold),
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "sensitivity": sens,
        "specificity": spec,
        "precision": float(_safe_divide(tp, tp + fp)),
        "npv": float(_safe_divide(tn, tn + fn)),
        "f1": float(_safe_divide(2 * tp, 2 * tp + fp + fn)),
        "accuracy": (tp + tn) / len(y),
        "youden": sens + spec - 1,
    }


def best_threshold(y_true, scores, criterion="youden"):
    """The score threshold that maximises ``criterion`` over the distinct scores; returns a float.

    * "youden": J = sensitivity + specificity − 1 = tpr − fpr (the ROC point
      farthest above the diagonal);
    * "f1": F1 = 2·TP / (2·TP + FP + FN).

    Among equally good thresholds the highest is returned. Choose the
    threshold on a validation set, then report :func:`threshold_metrics` on the test set.
    """
    if criterion not in ("youden", "f1"):
        raise ValueError(f"criterion must be 'youden' or 'f1', got {criterion!r}")
    y, s = _both_classes(y_true, scores)
    fp, tp, thresholds = _roc_counts(y, s)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    # Integer counts, so that equally good thresholds compare exactly equal (no rounding noise).
    if criterion == "youden":
        values = tp * n_neg - fp * n_pos  # = J · n_pos · n_neg, J = TP/n_pos − FP/n_neg
    else:
        values = _safe_divide(2 * tp, 2 * tp + fp + (n_pos - tp))  # equal fractions give equal floats
    # argmax returns the first maximum: the highest threshold among ties.
    return float(thresholds[int(np.argmax(values))])


# ====================================================================== everything at once
def _plain(value):
    """A float, with nan turned into None (JSON has no NaN)."""
    value = float(value)
    return None if np.isnan(value) else value


def _summaries(per_class, support):
    return {
        metric: {
            "per_class": [float(v) for v in values],
            "macro": _average(values, support, "macro", None),
            "weighted": _average(values, support, "weighted", None),
        }
        for metric, values in per_class.items()
    }


PROTOCOLS = ("tinydl", "medmnist")


def predicted_classes(probs, task="multi-class", threshold=0.5):
    """The class each row of ``probs`` (N, K) is called, by the official evaluator's rule: for
    "binary-class" class 1 when P(class 1) > ``threshold`` (strictly), else the argmax. One rule for
    metrics.json, the confusion-matrix plot and ``tinydl predict``."""
    p = np.asarray(probs)
    if task == "binary-class":
        return (p[:, -1] > threshold).astype(np.int64)
    return p.argmax(axis=1)


def evaluate(y_true, probs, task="multi-class", class_names=None, threshold=0.5, n_bins=15, protocol="tinydl"):
    """Every metric of a classifier's test-set predictions, as one JSON-serialisable dict.

    ``probs`` are probabilities: softmax outputs (N, K) for "binary-class",
    "multi-class" and "ordinal-regression" (1-D P(class 1) also accepted for
    binary), sigmoid outputs (N, L) for "multi-label, binary-class", whose
    ``y_true`` is (N, L) of 0/1. Predictions, ACC and AUC are those of the MedMNIST v2
    benchmark's official evaluator (``medmnist.evaluator.getACC`` / ``getAUC``):

    * binary-class: predicted 1 when P(class 1) > ``threshold`` (strictly: 0.5 itself is class 0);
      AUC from P(class 1) (the last column);
    * multi-class and ordinal-regression: predicted argmax; AUC = the unweighted mean of the
      one-vs-rest AUCs of the K columns (RetinaMNIST's ordinal grades are scored as K classes);
    * multi-label: finding f predicted when P(f) > ``threshold``; ACC and AUC the means of the
      per-finding accuracies and AUCs.

    ``protocol`` says what happens where the official evaluator has no answer — a class with no
    sample in ``y_true`` (or, one-vs-rest, only samples of it), whose AUC is undefined:
    "tinydl" (the default) reports that AUC as None, explains it in ``warnings`` and averages over
    the other classes; "medmnist" raises ValueError naming the class, as the official code
    (scikit-learn's roc_auc_score) does, so a figure computed under it is the benchmark's number
    or nothing. Wherever both are defined they give the same ACC and AUC.

    Keys: task, num_samples, class_names, accuracy, auc, auc_per_class,
    precision / recall / specificity / f1 (each {"per_class", "macro",
    "weighted"}), support, confusion_matrix, ece, warnings; for binary also
    positive_class (sensitivity, specificity, ... of class 1); for
    multi-label also accuracy_per_class (accuracy = their mean, MedMNIST's
    ACC), exact_match, threshold, and confusion_matrix is one
    [[TN, FP], [FN, TP]] per finding. Undefined AUCs are None and explained in ``warnings``.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if task == "segmentation":
        raise ValueError("evaluate() scores classifiers; for label maps use td.metrics.segmentation_report")
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if task == "multi-label, binary-class":
        return _evaluate_multilabel(y_true, probs, class_names, threshold, n_bins, protocol)

    p = _probabilities(probs, "probs")
    if p.ndim == 2 and p.shape[1] == 1:
        p = p[:, 0]
    if p.ndim == 1:
        if task != "binary-class":
            raise ValueError(f"probs for task {task!r} must be (N, K) class probabilities, got shape {p.shape}")
        p = np.stack([1 - p, p], axis=1)
    if p.ndim != 2:
        raise ValueError(f"probs must be (N, K) class probabilities, got shape {p.shape}")
    k = p.shape[1]
    if task == "binary-class" and k != 2:
        raise ValueError(f"task 'binary-class' needs probs of shape (N, 2) or (N,), got shape {p.shape}")
    y = _labels(y_true, "y_true")
    _same_length(y, "y_true", p, "probs")
    if y.max() >= k:
        raise ValueError(f"y_true has label {int(y.max())} but probs has {k} columns (shape {p.shape})")
    names = _class_names(class_names, k)

    predicted = predicted_classes(p, task, threshold)  # binary: P(class 1) > threshold, strictly
    cm = _confusion(y, predicted, k)
    tp, fp, fn, tn = _counts_from_confusion(cm)
    figures, support = _figures(tp, fp, fn, tn)
    notes = []
    auc_per_class = np.array([_binary_auc((y == c).astype(np.int64), p[:, c]) for c in range(k)])
    for c in np.nonzero(np.isnan(auc_per_class))[0]:
        notes.append(
            f"AUC of class {names[c]!r} is undefined: y_true has {'no' if support[c] == 0 else 'only'} samples of it"
        )
    _strict_auc(protocol, notes)
    if task == "binary-class":
        auc = auc_per_class[1]  # AUC of P(class 1); with two columns summing to 1 both AUCs are equal
    else:
        defined = auc_per_class[~np.isnan(auc_per_class)]
        auc = defined.mean() if defined.size else np.nan  # one-vs-rest macro mean over the defined classes

    result = {
        "task": task,
        "num_samples": int(len(y)),
        "class_names": names,
        "accuracy": float(np.mean(predicted == y)),
        "auc": _plain(auc),
        "auc_per_class": [_plain(a) for a in auc_per_class],
        **_summaries(figures, support),
        "support": [int(s) for s in support],
        "confusion_matrix": cm.tolist(),
        "ece": expected_calibration_error(y, p, n_bins),
        "warnings": notes,
    }
    if task == "binary-class":
        result["positive_class"] = {
            "name": names[1],
            "sensitivity": float(figures["recall"][1]),
            "specificity": float(figures["specificity"][1]),
            "precision": float(figures["precision"][1]),
            "npv": float(_safe_divide(tn[1], tn[1] + fn[1])),
            "f1": float(figures["f1"][1]),
        }
    return result


def _strict_auc(protocol, notes):
    """Under protocol="medmnist" an undefined AUC is an error (the official evaluator raises too)."""
    if protocol == "medmnist" and notes:
        raise ValueError(
            "protocol='medmnist': the official evaluator's AUC is undefined here — "
            + "; ".join(notes)
            + " (protocol='tinydl' reports it as None and averages over the other classes)"
        )


def _evaluate_multilabel(y_true, probs, class_names, threshold, n_bins, protocol="tinydl"):
    p = _probabilities(probs, "probs")
    y = to_numpy(y_true)
    if y.ndim != 2 or p.shape != y.shape:
        raise ValueError(
            f"multi-label y_true and probs must both be (N, L) with one column per finding, "
            f"got shapes {y.shape} and {p.shape}"
        )
    y = _whole_numbers(y, "y_true")
    if y.max() > 1:
        raise ValueError(f"multi-label y_true must hold 0/1, got label {int(y.max())} (shape {y.shape})")
    n, findings = y.shape
    names = _class_names(class_names, findings)

    predicted = (p > threshold).astype(np.int64)  # strictly greater: MedMNIST's convention
    tp = np.sum((predicted == 1) & (y == 1), axis=0)
    fp = np.sum((predicted == 1) & (y == 0), axis=0)
    fn = np.sum((predicted == 0) & (y == 1), axis=0)
    tn = np.sum((predicted == 0) & (y == 0), axis=0)
    figures, support = _figures(tp, fp, fn, tn)
    accuracy_per_class = (tp + tn) / n

    auc_per_class = np.array([_binary_auc(y[:, f], p[:, f]) for f in range(findings)])
    notes = [
        f"AUC of finding {names[f]!r} is undefined: y_true has "
        f"{'no positive' if support[f] == 0 else 'no negative'} samples of it"
        for f in np.nonzero(np.isnan(auc_per_class))[0]
    ]
    _strict_auc(protocol, notes)
    defined = auc_per_class[~np.isnan(auc_per_class)]

    return {
        "task": "multi-label, binary-class",
        "num_samples": int(n),
        "class_names": names,
        "threshold": float(threshold),
        "accuracy": float(accuracy_per_class.mean()),
        "accuracy_per_class": [float(a) for a in accuracy_per_class],
        "exact_match": float(np.mean(np.all(predicted == y, axis=1))),
        "auc": _plain(defined.mean()) if defined.size else None,
        "auc_per_class": [_plain(a) for a in auc_per_class],
        **_summaries(figures, support),
        "support": [int(s) for s in support],
        "confusion_matrix": [[[int(tn[f]), int(fp[f])], [int(fn[f]), int(tp[f])]] for f in range(findings)],
        "ece": expected_calibration_error(y, p, n_bins),
        "warnings": notes,
    }


# ====================================================================== surface distances and the report
# They live in tinydl/segmentation_metrics.py (which imports nothing from this module, so no cycle)
# and are re-exported here so that td.metrics holds every metric.
from .segmentation_metrics import (  # noqa: E402
    average_surface_distance,
    euclidean_distance_transform,
    hausdorff_distance,
    mask_surface,
    per_image_dice,
    segmentation_report,
    surface_distances,
)

__all__ += [
    "surface_distances",
    "euclidean_distance_transform",
    "mask_surface",
    "hausdorff_distance",
    "average_surface_distance",
    "per_image_dice",
    "segmentation_report",
]
