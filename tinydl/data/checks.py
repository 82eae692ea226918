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


def check_masks(masks, split, num_classes=None):
    """Label maps (N, H, W) of whole numbers in [0, num_classes) → int64; ValueError naming the split,
    the first bad mask and its value otherwise (a mask of 255s for a binary set is the usual slip)."""
    y = np.asarray(masks)
    if y.dtype.kind not in "biuf":
        raise ValueError(f"{split}: masks must be numbers (class indices per pixel), got dtype {y.dtype}")
    if y.ndim != 3:
        raise ValueError(f"{split}: masks must have shape (N, H, W), one class index per pixel, got {y.shape}")
    if y.dtype.kind == "f":
        bad = ~(np.isfinite(y) & (y == np.round(y))).reshape(len(y), -1).all(axis=1)
        if bad.any():
            index, count = _first(bad)
            raise ValueError(f"{split}: mask {index} holds values that are not whole numbers{_also(count)}")
    y = y.astype(np.int64, copy=False)
    high = num_classes if num_classes is not None else None
    flat = y.reshape(len(y), -1)
    bad = (flat < 0).any(axis=1) | ((flat >= high).any(axis=1) if high is not None else False)
    if bad.any():
        index, count = _first(bad)
        values = np.unique(flat[index])
        wrong = values[(values < 0) | (values >= high)] if high is not None else values[values < 0]
        raise ValueError(
            f"{split}: mask {index} holds the label(s) {wrong[:5].tolist()}{_also(count)}; labels must be "
            f"0..{high - 1 if high is not None else 'K-1'} (one per class"
            + ("; binary masks stored as 0/255 need y // 255" if 255 in wrong else "")
            + ")"
        )
    return y


def check_images_and_masks(x, y, split, num_classes=None):
    """Images (N, C, H, W) and their label maps (N, H, W), both checked, with matching N, H and W."""
    x = check_images(x, split)
    y = check_masks(y, split, num_classes)
    if x.ndim != 4:
        raise ValueError(f"{split}: images must have shape (N, C, H, W) for segmentation, got {x.shape}")
    if len(x) != len(y) or x.shape[2:] != y.shape[1:]:
        raise ValueError(
            f"{split}: images {x.shape} (N, C, H, W) and masks {y.shape} (N, H, W) do not match: "
            "one mask of the image's height and width per image"
        )
    return x, y


# ---------------------------------------------------------------------------- NumPy files
# np.load(allow_pickle=False) falls back to "pickled data" for any file it does not recognise, so an
# HTML error page saved as data.npz is reported as a pickle, with NumPy's advice to allow pickles.
# tinydl looks at the first bytes itself and says what the file is instead.
_SIGNATURES = {"npy": b"\x93NUMPY", "npz": b"PK"}  # a .npz is a zip archive, and every zip starts with "PK"
_LOOKS_LIKE = (
    (b"<", "a web page (HTML or XML): perhaps a download that returned an error page"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8", "a JPEG image"),
    (b"\x80", "a Python pickle"),
    (b"{", "a JSON text"),
)
_NAMES = {"npy": "a NumPy .npy file (a single array)", "npz": "a NumPy .npz file (a zip archive)"}


def numpy_file_problem(path, expected):
    """None if ``path`` starts as a NumPy file of kind ``expected`` ("npy" or "npz") does, else why not.

    The reason is a phrase to put after the file's name ("is empty (0 bytes) ...",
    "is not a NumPy .npz file (a zip archive): it looks like a web page ..."),
    saying what the file is instead when its first bytes tell. Reads 16 bytes.
    """
    with open(path, "rb") as f:
        head = f.read(16)
    if not head:
        return f"is empty (0 bytes): not {_NAMES[expected]}, or its writing never finished"
    if head.startswith(_SIGNATURES[expected]):
        return None
    other = "npz" if expected == "npy" else "npy"
    if head.startswith(_SIGNATURES[other]):
        return f"is {_NAMES[other]}, not {_NAMES[expected]}"
    stripped = head.lstrip()
    what = next((text for start, text in _LOOKS_LIKE if stripped.startswith(start)), "something else")
    return f"is not {_NAMES[expected]}: it looks like {what}"


def pickle_refusal(path, entry=None):
    """The message for a NumPy file (or an ``entry`` of a .npz) that holds Python objects.

    Loading those would unpickle them, which can run any code; NumPy's own message
    suggests turning unpickling on — advice tinydl never passes on.
    """
    where = f"{path}, entry {entry!r}," if entry else str(path)
    return (
        f"{where} holds Python objects (a pickled object array), not plain numbers; tinydl refuses such files "
        "for safety, since loading them would unpickle them and unpickling can run arbitrary code. "
        "Save a plain numeric array (uint8 or float) instead"
    )
