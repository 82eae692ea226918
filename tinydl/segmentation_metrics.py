"""Segmentation metrics beyond overlap: surface distances (Hausdorff, average surface distance) and a full report.

Overlap (Dice, IoU) says how many pixels agree; it hardly notices a thin spur of false
positives far from the organ. **Surface distances** do: they measure how far the
predicted outline lies from the true one.

    surface of a mask   its pixels with a 4-connected neighbour (6-connected in 3-D) outside it;
                        beyond the image border counts as outside
    d(x, S)             the Euclidean distance from point x to the nearest pixel of the surface S
    D(T→P)              {d(x, surface(P)) for every x on surface(T)}: from the truth to the prediction
    D(P→T)              the same from the prediction to the truth

    Hausdorff (HD)      max( max D(T→P), max D(P→T) )                        the worst disagreement
    HD95                max( 95th percentile of D(T→P), 95th percentile of D(P→T) )   (MONAI's)
    ASD                 mean of D(T→P) ∪ D(P→T), both directions pooled     (MONAI's symmetric ASD)

Distances are in pixels, or in mm when ``spacing`` (the pixel size per axis) is given. They are
undefined when one mask is empty (there is no surface to measure to): such an image counts as
undefined for that class and is counted separately (``return_counts=True``).

The distances to the nearest surface pixel come from an **exact Euclidean distance transform**
written here (:func:`euclidean_distance_transform`, Felzenszwalb & Huttenlocher's algorithm), not
an approximation; the tests compare it with brute force and, where installed, with SciPy.

This module imports nothing from :mod:`tinydl.metrics`: ``tinydl.metrics`` re-exports its public
names, so ``td.metrics.hausdorff_distance`` works.
"""

import numbers

import numpy as np

from .tensor import to_numpy

__all__ = [
    "euclidean_distance_transform",
    "mask_surface",
    "surface_distances",
    "hausdorff_distance",
    "average_surface_distance",
    "per_image_dice",
    "segmentation_report",
]


# ====================================================================== the distance transform
def _lower_envelope_pass(f, step):
    """One 1-D pass of Felzenszwalb & Huttenlocher along the last axis of ``f`` (rows, n), all rows at once.

    For each row it computes  d(q) = min_p [ (step·(q − p))² + f(p) ]  for q = 0..n−1: the lower
    envelope of the parabolas y = (x − x_p)² + f(p) rooted at x_p = step·p, height f(p).

    Build: parabolas are taken left to right; ``v[k]`` are those on the envelope, ``z[k]..z[k+1]``
    the interval where parabola ``v[k]`` is the lowest. The new parabola q meets the last one
    kept, p, at  s = ((f(q) + x_q²) − (f(p) + x_p²)) / (2·(x_q − x_p));  if s ≤ z[k] the last one
    is hidden (it is lowest nowhere) and is dropped. Read: each q takes the parabola whose
    interval contains x_q. Each parabola enters and leaves once: O(n) per row.

    Rows differ in how many parabolas they drop, so the "while" loops run until no row needs
    another step, with a mask saying which rows move.
    """
    rows, n = f.shape
    row = np.arange(rows)
    x = np.arange(n) * float(step)  # positions in physical units (mm, or pixels)
    v = np.zeros((rows, n), dtype=np.int64)  # envelope parabolas, per row
    z = np.empty((rows, n + 1))  # their boundaries
    z[:, 0], z[:, 1] = -np.inf, np.inf
    k = np.zeros(rows, dtype=np.int64)  # index of the last envelope parabola, per row
    for q in range(1, n):
        while True:
            p = v[row, k]
            s = ((f[:, q] + x[q] ** 2) - (f[row, p] + x[p] ** 2)) / (2 * (x[q] - x[p]))
            hidden = s <= z[row, k]  # never true at k = 0, where z is −inf
            if not hidden.any():
                break
            k[hidden] -= 1
        k += 1
        v[row, k] = q
        z[row, k] = s
        z[row, k + 1] = np.inf
    out = np.empty_like(f)
    k[:] = 0
    for q in range(n):
        while True:
            beyond = z[row, k + 1] < x[q]  # x_q lies past parabola k's interval
            if not beyond.any():
                break
            k[beyond] += 1
        p = v[row, k]
        out[:, q] = (x[q] - x[p]) ** 2 + f[row, p]
    return out


def _spacing(spacing, ndim, name="spacing"):
    """``spacing`` as a tuple of ``ndim`` positive floats (1.0 each when None)."""
    if spacing is None:
        return (1.0,) * ndim
    if isinstance(spacing, numbers.Real):
        spacing = (spacing,) * ndim
    values = tuple(float(s) for s in spacing)
    if len(values) != ndim:
        raise ValueError(f"{name} must give one pixel size per axis ({ndim}), got {tuple(spacing)}")
    if not all(np.isfinite(s) and s > 0 for s in values):
        raise ValueError(f"{name} must hold positive finite pixel sizes, got {tuple(spacing)}")
    return values


def _boolean_mask(mask, name):
    arr = to_numpy(mask)
    if arr.dtype.kind not in "biu":
        raise TypeError(f"{name} must be a boolean (or 0/1 integer) mask, got dtype {arr.dtype} (shape {arr.shape})")
    if arr.ndim not in (2, 3):
        raise ValueError(f"{name} must be a 2-D (H, W) or 3-D (D, H, W) mask, got shape {arr.shape}")
    return arr.astype(bool)


def euclidean_distance_transform(features, spacing=None):
    """For every pixel, the Euclidean distance to the nearest True pixel of ``features`` (exact).

        EDT(x) = min over feature pixels y of  sqrt( Σ_axis (spacing_axis · (x_axis − y_axis))² )

    Squared distances separate into a sum over axes, so the minimum can be taken one axis after
    another (Felzenszwalb & Huttenlocher, "Distance transforms of sampled functions", Theory of
    Computing 2012): start from f = 0 on features and "infinity" elsewhere, then along each axis
    replace f by  min_p [ (spacing·(q − p))² + f(p) ],  the lower envelope of parabolas
    (see ``_lower_envelope_pass``). After the last axis f is the squared distance; its root is
    returned. O(number of pixels) per axis.

    ``features``: a boolean array (H, W) or (D, H, W); ``spacing``: pixel size per axis (a number
    or one per axis; 1 when None). Without any feature pixel every distance is inf.
    SciPy's ``distance_transform_edt(~features, sampling=spacing)`` gives the same values
    (SciPy measures to the nearest *zero*, hence the ``~``).
    """
    features = _boolean_mask(features, "features")
    steps = _spacing(spacing, features.ndim)
    if not features.any():
        return np.full(features.shape, np.inf)
    # A finite stand-in for infinity, larger than any squared distance in the image, so that
    # intersections of parabolas never compute inf − inf.
    far = 1.0 + sum((n * s) ** 2 for n, s in zip(features.shape, steps))
    squared = np.where(features, 0.0, far)
    for axis, step in enumerate(steps):
        moved = np.moveaxis(squared, axis, -1)
        shape = moved.shape
        moved = _lower_envelope_pass(moved.reshape(-1, shape[-1]), step).reshape(shape)
        squared = np.moveaxis(moved, -1, axis)
    return np.sqrt(squared)


def mask_surface(mask):
    """The surface (border) pixels of a boolean mask: pixels of the mask with a neighbour outside it.

    Neighbours are 4-connected in 2-D (up, down, left, right), 6-connected in 3-D; pixels beyond the
    image border count as outside, so a mask touching the border has a surface there. Equal to
    ``mask & ~binary_erosion(mask)`` with SciPy's default cross-shaped structure (what MONAI uses).
    """
    mask = _boolean_mask(mask, "mask")
    padded = np.pad(mask, 1, constant_values=False)
    interior = mask.copy()
    centre = (slice(1, -1),) * mask.ndim
    for axis in range(mask.ndim):
        for lo, hi in ((0, -2), (2, None)):  # the neighbour before, then after, along this axis
            neighbour = list(centre)
            neighbour[axis] = slice(lo, hi)
            interior &= padded[tuple(neighbour)]
    return mask & ~interior


def surface_distances(mask_true, mask_pred, spacing=None):
    """Distances between the surfaces of two masks, both directions: ``(true_to_pred, pred_to_true)``.

    ``true_to_pred[i]`` is the distance from the i-th surface pixel of ``mask_true`` (row-major
    order) to the nearest surface pixel of ``mask_pred``; ``pred_to_true`` the other way. Masks:
    boolean (H, W) or (D, H, W) of the same shape; ``spacing`` the pixel size per axis (distances
    in those units; pixels when None). Raises ValueError when a mask is empty: distances to
    nothing are undefined. See the module docstring for HD and ASD built from these.
    """
    true, pred = _boolean_mask(mask_true, "mask_true"), _boolean_mask(mask_pred, "mask_pred")
    if true.shape != pred.shape:
        raise ValueError(f"mask_true and mask_pred must have the same shape, got {true.shape} and {pred.shape}")
    for mask, name in ((true, "mask_true"), (pred, "mask_pred")):
        if not mask.any():
            raise ValueError(f"{name} is empty (shape {mask.shape}): surface distances are undefined")
    steps = _spacing(spacing, true.ndim)
    surface_true, surface_pred = mask_surface(true), mask_surface(pred)
    # Every point measured and every nearest point lies inside the bounding box of both surfaces,
    # and Euclidean distances do not depend on the frame: cropping to it gives the same values, faster.
    box = tuple(slice(i.min(), i.max() + 1) for i in np.nonzero(surface_true | surface_pred))
    surface_true, surface_pred = surface_true[box], surface_pred[box]
    true_to_pred = euclidean_distance_transform(surface_pred, steps)[surface_true]
    pred_to_true = euclidean_distance_transform(surface_true, steps)[surface_pred]
    return true_to_pred, pred_to_true


# ====================================================================== label maps, per image
def _check_num_classes(num_classes):
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 2:
        raise ValueError(
            f"num_classes must be an integer >= 2 (background and at least one class), got {num_classes!r}"
        )
    return int(num_classes)


def _image_label_maps(y_true, y_pred, num_classes):
    """Label maps as int64 (N, H, W) (one (H, W) image becomes N = 1), labels checked to be in [0, K)."""
    num_classes = _check_num_classes(num_classes)
    maps = []
    for y, name in ((y_true, "y_true"), (y_pred, "y_pred")):
        arr = to_numpy(y)
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)  # whole-number floats (a mask read as float) are labels too
        if arr.dtype.kind not in "biu":
            raise TypeError(
                f"{name} must hold integer class labels, got dtype {arr.dtype} (shape {arr.shape}); "
                "for scores (N, K, H, W) take argmax over axis 1 first"
            )
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3 or arr.size == 0:
            raise ValueError(f"{name} must be a non-empty label map (H, W) or a stack (N, H, W), got shape {arr.shape}")
        arr = arr.astype(np.int64)
        if arr.min() < 0 or arr.max() >= num_classes:
            raise ValueError(
                f"{name} has labels from {arr.min()} to {arr.max()}, outside 0..{num_classes - 1} (num_classes={num_classes})"
            )
        maps.append(arr)
    if maps[0].shape != maps[1].shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {maps[0].shape} and {maps[1].shape}")
    return maps[0], maps[1]


def _confusion_per_image(y_true, y_pred, k):
    """(N, K, K) counts: [n, t, p] = pixels of image n with true label t and predicted label p."""
    n = y_true.shape[0]
    flat = (np.arange(n)[:, None] * k * k + y_true.reshape(n, -1) * k + y_pred.reshape(n, -1)).reshape(-1)
    return np.bincount(flat, minlength=n * k * k).reshape(n, k, k)


def _overlap(confusion):
    """TP, FP, FN per class from confusion counts [..., t, p] (any leading axes)."""
    tp = np.diagonal(confusion, axis1=-2, axis2=-1).astype(np.float64)
    return tp, confusion.sum(axis=-2) - tp, confusion.sum(axis=-1) - tp


def _ratio(numerator, denominator):
    """numerator / denominator, NaN where the denominator is 0."""
    out = np.full(np.shape(denominator), np.nan)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def per_image_dice(y_true, y_pred, num_classes):
    """Dice of each image and class, an (N, K) array:  Dice[n, c] = 2·TP / (2·TP + FP + FN) in image n.

    NaN where class c is in neither the truth nor the prediction of image n (0/0). Label maps
    (N, H, W) or one (H, W) (then N = 1). Its column means (``np.nanmean(axis=0)``) are the
    per-image convention of Dice; :func:`tinydl.metrics.dice_score` pools the pixels instead.
    """
    y_true, y_pred = _image_label_maps(y_true, y_pred, num_classes)
    tp, fp, fn = _overlap(_confusion_per_image(y_true, y_pred, num_classes))
    return _ratio(2 * tp, 2 * tp + fp + fn)


# ====================================================================== surface distances, per image
def _check_percentile(percentile):
    if isinstance(percentile, bool) or not isinstance(percentile, numbers.Real) or not 0 < percentile <= 100:
        raise ValueError(f"percentile must be a number in (0, 100] (100 = the classic Hausdorff), got {percentile!r}")
    return float(percentile)


def _surface_table(y_true, y_pred, num_classes, percentile, spacing, classes):
    """Per image and class: HD at ``percentile``, ASD (NaN where undefined) and the images with a class on one side only.

    Returns ``hd`` and ``asd`` as (N, K) arrays, and ``one_sided`` (N, K) booleans (the class is
    in exactly one of truth and prediction). Only the classes listed in ``classes`` are computed.
    """
    y_true, y_pred = _image_label_maps(y_true, y_pred, num_classes)
    steps = _spacing(spacing, 2)
    n = y_true.shape[0]
    hd, asd = np.full((n, num_classes), np.nan), np.full((n, num_classes), np.nan)
    one_sided = np.zeros((n, num_classes), dtype=bool)
    for i in range(n):
        for c in classes:
            true, pred = y_true[i] == c, y_pred[i] == c
            has_true, has_pred = true.any(), pred.any()
            if not (has_true and has_pred):
                one_sided[i, c] = has_true != has_pred
                continue
            forward, backward = surface_distances(true, pred, steps)
            hd[i, c] = max(np.percentile(forward, percentile), np.percentile(backward, percentile))
            asd[i, c] = np.concatenate([forward, backward]).mean()
    return hd, asd, one_sided


def _check_average(average):
    if average not in (None, "macro"):
        raise ValueError(f"average must be None (one value per class) or 'macro' (foreground mean), got {average!r}")


def _average_over_images(per_image, one_sided, average, return_counts):
    """Mean over the images where each class is defined; then per class (None) or over foreground ('macro')."""
    defined = ~np.isnan(per_image)
    counts = defined.sum(axis=0)
    per_class = _ratio(np.where(defined, per_image, 0.0).sum(axis=0), counts)
    if average is None:
        value = per_class
    else:
        foreground = per_class[1:]
        value = float(np.mean(foreground[~np.isnan(foreground)])) if (~np.isnan(foreground)).any() else float("nan")
    if return_counts:
        return value, {"defined": counts, "one_sided": one_sided.sum(axis=0)}
    return value


def hausdorff_distance(y_true, y_pred, num_classes, percentile=95, spacing=None, average="macro", return_counts=False):
    """Hausdorff distance (HD95 by default) between true and predicted outlines, per image and class, then averaged.

        HD_p(T, P) = max( percentile_p of D(T→P),  percentile_p of D(P→T) )

    with D the surface-to-surface distances of :func:`surface_distances`. ``percentile=100`` is the
    classic Hausdorff distance (the largest disagreement); 95 (the default) ignores the worst 5 %
    of surface pixels, so one stray pixel does not decide the score. This is MONAI's
    ``compute_hausdorff_distance(percentile=95)``; medpy's ``hd95`` takes the percentile of both
    directions pooled, which can differ slightly. Percentiles interpolate linearly (NumPy's default).

    ``y_true``, ``y_pred``: label maps (N, H, W) or one (H, W). Computed **per image and class**,
    then averaged over the images where the class is present in both truth and prediction: the
    distance is undefined when one mask is empty. An image where the class is in one map only is
    undefined too, and counted: ``return_counts=True`` returns ``(value, counts)`` with
    ``counts["defined"]`` and ``counts["one_sided"]``, images per class (arrays of length K).

    ``average=None``: one value per class (background included; NaN where never defined);
    ``"macro"``: the mean over the foreground classes 1..K−1 that are defined (background
    distances are not reported in the literature: the background's outline is the organs').
    NaN when no foreground class is defined. Units: pixels, or those of ``spacing`` (pixel size
    (row, column), e.g. mm).
    """
    percentile = _check_percentile(percentile)
    num_classes = _check_num_classes(num_classes)
    _check_average(average)
    classes = range(num_classes) if average is None else range(1, num_classes)
    hd, _, one_sided = _surface_table(y_true, y_pred, num_classes, percentile, spacing, classes)
    return _average_over_images(hd, one_sided, average, return_counts)


def average_surface_distance(y_true, y_pred, num_classes, spacing=None, average="macro", return_counts=False):
    """Symmetric average surface distance (ASD, ASSD) per image and class, then averaged over images.

        ASD(T, P) = mean of D(T→P) ∪ D(P→T)  =  (Σ D(T→P) + Σ D(P→T)) / (|surface T| + |surface P|)

    both directions' distances pooled (MONAI's ``compute_average_surface_distance(symmetric=True)``;
    medpy's ``assd`` instead averages the two directions' means, which weights them equally however
    long each outline is). Images, classes, averaging, counts and units as in
    :func:`hausdorff_distance`.
    """
    num_classes = _check_num_classes(num_classes)
    _check_average(average)
    classes = range(num_classes) if average is None else range(1, num_classes)
    _, asd, one_sided = _surface_table(y_true, y_pred, num_classes, 100.0, spacing, classes)
    return _average_over_images(asd, one_sided, average, return_counts)


# ====================================================================== everything at once
def _plain(value):
    """A Python float, None for NaN (JSON has no NaN)."""
    value = float(value)
    return None if np.isnan(value) else value


def _mean_defined(values):
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else None


CONVENTIONS = {
    "dice": "per class, from TP, FP, FN pooled over all pixels of the split (whole-volume Dice for slices of one "
    "volume): 2TP / (2TP + FP + FN); null when the class is in neither truth nor prediction",
    "iou": "per class, pooled like dice: TP / (TP + FP + FN)",
    "mean_dice": "mean of the pooled dice over the foreground classes (background left out) that are defined; "
    "mean_iou likewise; mean_dice_with_background includes the background",
    "dice_per_image": "per class, the mean over the images where the class is in the truth or the prediction "
    "of each image's own Dice",
    "pixel_accuracy": "share of all pixels labelled right (dominated by the background)",
    "hd95": "per foreground class, mean over the images where the class is in both truth and prediction of "
    "max(95th percentile of the surface distances truth->prediction, prediction->truth) (MONAI's HD95); "
    "surface = pixels with a 4-connected neighbour outside the mask",
    "asd": "per foreground class, mean over the same images of the symmetric average surface distance "
    "(both directions' distances pooled)",
    "surface_distance_images": "images per class where hd95 and asd are defined (class in both maps)",
    "units": "hd95 and asd in pixels, or in the units of spacing when given",
}


def segmentation_report(y_true, y_pred, class_names, spacing=None, surface=True, regions=()):
    """Every segmentation figure of a split as one JSON-ready dict (floats, None where undefined).

    ``y_true``, ``y_pred``: label maps (N, H, W) (or one (H, W)); ``class_names``: one name per
    class, background first (e.g. ``["background", "liver", "tumour"]``); ``spacing``: pixel size
    (row, column) for the surface distances; ``surface=False`` skips hd95 and asd (the slow part,
    e.g. during training). Keys (their counting is also written under ``"conventions"``):

    ``dice``, ``iou``        {class: pooled value} for every class, background included
    ``mean_dice``, ``mean_iou``, ``mean_dice_with_background``
    ``dice_per_image``       {class: mean per-image Dice over images where the class appears}
    ``pixel_accuracy``
    ``hd95``, ``asd``        {foreground class: value or None}  (only when ``surface``)
    ``surface_distance_images``  {foreground class: images where they are defined}  (only when ``surface``)
    ``spacing``              the spacing as a list, or "pixels"
    ``class_pixels``         {class: {"true": pixels, "predicted": pixels}}
    ``n_images``, ``conventions``
    ``dice_regions``         {region: pooled Dice of the union of its labels}, for ``regions`` given as
                             ((name, labels), ...), e.g. (("liver with tumour", (1, 2)),) as LiTS scores the liver
    """
    names = [str(name) for name in class_names] if not isinstance(class_names, str) else None
    if names is None or len(names) < 2:
        raise ValueError(f"class_names must list at least two class names (background first), got {class_names!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"class_names must be distinct (they become keys), got {names}")
    k = len(names)
    y_true, y_pred = _image_label_maps(y_true, y_pred, k)
    steps = _spacing(spacing, 2) if spacing is not None else None
    confusion = _confusion_per_image(y_true, y_pred, k)
    tp, fp, fn = _overlap(confusion.sum(axis=0))
    dice, iou = _ratio(2 * tp, 2 * tp + fp + fn), _ratio(tp, tp + fp + fn)
    image_tp, image_fp, image_fn = _overlap(confusion)
    image_dice = _ratio(2 * image_tp, 2 * image_tp + image_fp + image_fn)
    pooled = confusion.sum(axis=0)
    report = {
        "dice": {name: _plain(v) for name, v in zip(names, dice)},
        "iou": {name: _plain(v) for name, v in zip(names, iou)},
        "mean_dice": _mean_defined(dice[1:]),
        "mean_iou": _mean_defined(iou[1:]),
        "mean_dice_with_background": _mean_defined(dice),
        "dice_per_image": {name: _mean_defined(image_dice[:, c]) for c, name in enumerate(names)},
        "pixel_accuracy": float(np.trace(pooled) / pooled.sum()),
    }
    if surface:
        hd, asd, _ = _surface_table(y_true, y_pred, k, 95.0, steps, range(1, k))
        defined = (~np.isnan(hd)).sum(axis=0)
        report["hd95"] = {names[c]: _mean_defined(hd[:, c]) for c in range(1, k)}
        report["asd"] = {names[c]: _mean_defined(asd[:, c]) for c in range(1, k)}
        report["surface_distance_images"] = {names[c]: int(defined[c]) for c in range(1, k)}
    report["spacing"] = list(steps) if steps is not None else "pixels"
    report["class_pixels"] = {
        name: {"true": int(pooled[c].sum()), "predicted": int(pooled[:, c].sum())} for c, name in enumerate(names)
    }
    if regions:
        report["dice_regions"] = region_dice(y_true, y_pred, regions, k)
    report["n_images"] = int(y_true.shape[0])
    report["conventions"] = dict(CONVENTIONS)
    return report


def region_dice(y_true, y_pred, regions, num_classes):
    """{name: Dice of the union of ``labels``} for ``regions`` ((name, labels), ...), pooled over all pixels:
    Dice_R = 2·|T_R ∩ P_R| / (|T_R| + |P_R|) with T_R = {pixels whose true label is in R}, P_R likewise.
    None where the region is in neither map."""
    out = {}
    for name, labels in regions:
        labels = [int(c) for c in labels]
        if not labels or any(not 0 < c < num_classes for c in labels):
            raise ValueError(f"region {name!r}: labels must be foreground classes 1..{num_classes - 1}, got {labels}")
        t, p = np.isin(y_true, labels), np.isin(y_pred, labels)
        total = int(t.sum()) + int(p.sum())
        out[str(name)] = None if total == 0 else float(2 * int((t & p).sum()) / total)
    return out
