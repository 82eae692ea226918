"""The checks every split (training, validation, test, evaluation) passes before a model sees it.

    x, y = check_images_and_labels(x, y, "validation data", num_classes=2, task="binary-class")

One function for all splits, so that a label -1 in the test set or a NaN
image in the validation set is caught as it is in the training set: before
the first step, with an error naming the split, the sample's index and the
bad value. Labels that are silently wrong would otherwise cost the most:
NumPy indexing wraps a label -1 around to the last class, and a label 7 in a
2-class set crashes only when the first validation runs, after a full epoch.
"""

import numpy as np

MULTI_LABEL_PREFIX = "multi-label"  # the task names of tinydl.metrics.TASKS that take 0/1 targets per finding


def _first(mask):
    """(index of the first True, how many are True) of a boolean mask."""
    hits = np.flatnonzero(mask)
    return int(hits[0]), len(hits)


def _also(count):
    return f" ({count - 1} more sample(s) like it)" if count > 1 else ""


def check_images(x, split):
    """ValueError unless ``x`` holds at least one sample, of numbers, all finite; returns ``x``."""
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise ValueError(f"{split}: images must be numbers (uint8 or float), got dtype {x.dtype}")
    if x.ndim == 0 or len(x) == 0:
        raise ValueError(f"{split}: there are no samples (images of shape {x.shape})")
    if x.dtype.kind == "f":
        bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1)
        if bad.any():
            index, count = _first(bad)
            sample = x[index]
            value = sample[~np.isfinite(sample)].flat[0]
            raise ValueError(
                f"{split}: image {index} contains {value} (NaN or infinity){_also(count)}; "
                "pixels must be finite numbers"
            )
    return x


def check_labels(y, split, num_classes=None, task="multi-class"):
    """Labels checked for ``task`` → int64 (N,) class indices, or the 0/1 (N, findings) array.

    Single-label tasks: whole numbers in [0, num_classes) (a (N, 1) column is
    flattened, as MedMNIST stores it). Multi-label tasks: 0/1 with one column
    per finding (``num_classes`` of them, when given). ValueError naming the
    split, the first bad index and its value otherwise.
    """
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise ValueError(f"{split}: labels must be numbers, got dtype {y.dtype}")
    if str(task).startswith(MULTI_LABEL_PREFIX):
        if y.ndim != 2:
            raise ValueError(f"{split}: multi-label targets must be a 0/1 array (N, findings), got shape {y.shape}")
        if num_classes is not None and y.shape[1] != num_classes:
            raise ValueError(
                f"{split}: targets have {y.shape[1]} findings per sample but the model has {num_classes} outputs"
            )
        bad = ~np.isin(y, (0, 1)).all(axis=1)
        if bad.any():
            index, count = _first(bad)
            value = y[index][~np.isin(y[index], (0, 1))][0]
            raise ValueError(f"{split}: target {index} holds {value}{_also(count)}; multi-label targets must be 0 or 1")
        return y
    y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise ValueError(f"{split}: labels must be integer class indices of shape (N,), got {y.dtype} {y.shape}")
    if num_classes is not None:
        bad = (y < 0) | (y >= num_classes)
        if bad.any():
            index, count = _first(bad)
            raise ValueError(
                f"{split}: label {int(y[index])} at index {index} is not a class of a model with "
                f"{num_classes} outputs; labels must lie in [0, {num_classes}), i.e. 0..{num_classes - 1}{_also(count)}"
            )
    return y.astype(np.int64, copy=False)


def check_images_and_labels(x, y, split, num_classes=None, task="multi-class"):
    """Both checks and equal lengths: (x, y) with y as :func:`check_labels` returns it.

    ``split`` names the data in the errors ("training data", "test data", ...);
    ``num_classes`` is the model's number of outputs (None: the range is not checked);
    ``task`` one of ``tinydl.metrics.TASKS``.
    """
    x = check_images(x, split)
    y = check_labels(y, split, num_classes, task)
    if len(x) != len(y):
        raise ValueError(f"{split}: {len(x)} images but {len(y)} labels")
    return x, y
