"""Surface distances, per-image Dice and the segmentation report: hand-computed cases, brute force, SciPy."""

import json
import os
import pathlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinydl as td
from tinydl import segmentation_metrics as sm


# ---------------------------------------------------------------------- independent implementations
def brute_force_edt(features, spacing):
    """Distance from every pixel to every feature pixel, the smallest kept: O(pixels × features)."""
    scale = np.asarray(spacing, dtype=np.float64)
    every = np.argwhere(np.ones(features.shape, dtype=bool)) * scale
    feature_points = np.argwhere(features) * scale
    pairwise = np.sqrt(((every[:, None, :] - feature_points[None, :, :]) ** 2).sum(axis=-1))
    return pairwise.min(axis=1).reshape(features.shape)


def brute_force_surface(mask):
    """Pixels of the mask with a 4- (or 6-) neighbour outside it or outside the image, by looking at each."""
    surface = np.zeros_like(mask)
    for index in np.argwhere(mask):
        for axis in range(mask.ndim):
            for step in (-1, 1):
                neighbour = index.copy()
                neighbour[axis] += step
                if not (0 <= neighbour[axis] < mask.shape[axis]) or not mask[tuple(neighbour)]:
                    surface[tuple(index)] = True
    return surface


def brute_force_distances(mask_true, mask_pred, spacing):
    """All pairwise distances between the two surfaces' pixel coordinates; nearest in each direction."""
    scale = np.asarray(spacing, dtype=np.float64)
    points_true = np.argwhere(brute_force_surface(mask_true)) * scale
    points_pred = np.argwhere(brute_force_surface(mask_pred)) * scale
    pairwise = np.sqrt(((points_true[:, None, :] - points_pred[None, :, :]) ** 2).sum(axis=-1))
    return pairwise.min(axis=1), pairwise.min(axis=0)


def brute_force_hd_asd(mask_true, mask_pred, spacing, percentile):
    forward, backward = brute_force_distances(mask_true, mask_pred, spacing)
    hd = max(np.percentile(forward, percentile), np.percentile(backward, percentile))
    return hd, np.concatenate([forward, backward]).mean()


masks_2d = st.integers(0, 2**31 - 1).map(lambda seed: np.random.default_rng(seed))


def random_mask(rng, shape, density):
    mask = rng.random(shape) < density
    mask[tuple(rng.integers(0, n) for n in shape)] = True  # never empty
    return mask


# ---------------------------------------------------------------------- the distance transform
@given(rng=masks_2d, three_d=st.booleans())
def test_distance_transform_equals_brute_force_with_spacing(rng, three_d):
    shape = tuple(rng.integers(1, 7, size=3)) if three_d else tuple(rng.integers(1, 14, size=2))
    spacing = tuple(rng.uniform(0.3, 3.0, size=len(shape)))
    features = random_mask(rng, shape, rng.uniform(0.02, 0.5))
    expected = brute_force_edt(features, spacing)
    np.testing.assert_allclose(sm.euclidean_distance_transform(features, spacing), expected, rtol=1e-12, atol=1e-12)


def test_distance_transform_of_one_pixel_is_the_distance_to_it():
    features = np.zeros((4, 5), dtype=bool)
    features[0, 0] = True
    distance = sm.euclidean_distance_transform(features, spacing=(2.0, 1.0))
    assert distance[3, 4] == pytest.approx(np.sqrt(6.0**2 + 4.0**2))
    assert distance[0, 0] == 0.0
    assert np.all(np.isinf(sm.euclidean_distance_transform(np.zeros((3, 3), dtype=bool))))


def test_distance_transform_equals_scipy():
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(3)
    features = rng.random((40, 33)) < 0.02
    ours = sm.euclidean_distance_transform(features, spacing=(0.8, 1.7))
    np.testing.assert_allclose(ours, ndimage.distance_transform_edt(~features, sampling=(0.8, 1.7)), atol=1e-12)


# ---------------------------------------------------------------------- surfaces and distances by hand
def test_surface_of_a_square_is_its_ring_and_the_image_border_counts_as_outside():
    mask = np.zeros((5, 5), dtype=bool)
    mask[1:4, 1:4] = True
    surface = sm.mask_surface(mask)
    assert surface.sum() == 8 and not surface[2, 2]
    full = np.ones((3, 4), dtype=bool)
    assert sm.mask_surface(full).sum() == 3 * 4 - 2  # only the two middle pixels are inside
    single = np.zeros((3, 3), dtype=bool)
    single[1, 1] = True
    assert sm.mask_surface(single)[1, 1]


@given(rng=masks_2d, three_d=st.booleans())
def test_surface_equals_the_pixel_by_pixel_definition(rng, three_d):
    shape = (4, 5, 6) if three_d else (9, 11)
    mask = random_mask(rng, shape, rng.uniform(0.2, 0.9))
    np.testing.assert_array_equal(sm.mask_surface(mask), brute_force_surface(mask))


def square(top, left, size=4, shape=(12, 12)):
    mask = np.zeros(shape, dtype=bool)
    mask[top : top + size, left : left + size] = True
    return mask


def test_a_square_against_the_same_square_shifted_by_two():
    truth, prediction = square(2, 2), square(2, 4)
    forward, backward = sm.surface_distances(truth, prediction)
    # Ring of 12 pixels; by hand: the left column is 2 away (4 pixels), the two next ones 1, the rest
    # of the top and bottom rows 0, the two right-hand middle pixels 1: total 12.
    assert len(forward) == len(backward) == 12
    assert forward.sum() == pytest.approx(12.0) and backward.sum() == pytest.approx(12.0)
    labels_true, labels_pred = truth.astype(np.int64), prediction.astype(np.int64)
    assert td.metrics.hausdorff_distance(labels_true, labels_pred, 2, percentile=100) == pytest.approx(2.0)
    assert td.metrics.hausdorff_distance(labels_true, labels_pred, 2) == pytest.approx(2.0)
    assert td.metrics.average_surface_distance(labels_true, labels_pred, 2) == pytest.approx(1.0)
    spaced = td.metrics.hausdorff_distance(labels_true, labels_pred, 2, percentile=100, spacing=(1.0, 0.5))
    assert spaced == pytest.approx(1.0)  # the shift is along the columns, 0.5 mm each


def test_single_pixels_are_their_own_surfaces():
    a, b = np.zeros((6, 7), dtype=bool), np.zeros((6, 7), dtype=bool)
    a[0, 0], b[3, 4] = True, True
    forward, backward = sm.surface_distances(a, b)
    np.testing.assert_allclose(forward, [5.0])
    np.testing.assert_allclose(backward, [5.0])
    forward, _ = sm.surface_distances(a, b, spacing=(2.0, 1.0))
    np.testing.assert_allclose(forward, [np.sqrt(52.0)])
    assert td.metrics.average_surface_distance(a.astype(int), b.astype(int), 2) == pytest.approx(5.0)


def test_identical_masks_are_zero_apart():
    mask = square(3, 1, size=5)
    labels = mask.astype(np.int64)
    assert td.metrics.hausdorff_distance(labels, labels, 2, percentile=100) == 0.0
    assert td.metrics.average_surface_distance(labels, labels, 2) == 0.0


@given(rng=masks_2d, percentile=st.sampled_from([50, 95, 100]))
def test_hausdorff_and_asd_equal_brute_force_on_random_masks(rng, percentile):
    shape = tuple(rng.integers(2, 12, size=2))
    spacing = tuple(rng.uniform(0.5, 2.0, size=2))
    truth, prediction = random_mask(rng, shape, 0.35), random_mask(rng, shape, 0.35)
    hd, asd = brute_force_hd_asd(truth, prediction, spacing, percentile)
    labels_true, labels_pred = truth.astype(np.int64), prediction.astype(np.int64)
    kwargs = {"spacing": spacing, "average": None}
    assert td.metrics.hausdorff_distance(labels_true, labels_pred, 2, percentile, **kwargs)[1] == pytest.approx(hd)
    assert td.metrics.average_surface_distance(labels_true, labels_pred, 2, **kwargs)[1] == pytest.approx(asd)


@given(rng=masks_2d)
def test_surface_distances_of_volumes_equal_brute_force(rng):
    shape, spacing = (4, 6, 5), (2.5, 0.8, 1.1)  # thick slices, as in CT
    truth, prediction = random_mask(rng, shape, 0.4), random_mask(rng, shape, 0.4)
    forward, backward = sm.surface_distances(truth, prediction, spacing)
    expected_forward, expected_backward = brute_force_distances(truth, prediction, spacing)
    np.testing.assert_allclose(forward, expected_forward, atol=1e-12)
    np.testing.assert_allclose(backward, expected_backward, atol=1e-12)


def test_hausdorff_and_asd_equal_scipy():
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(5)
    truth, prediction = random_mask(rng, (30, 26), 0.3), random_mask(rng, (30, 26), 0.3)
    spacing = (0.9, 1.3)

    def edges(mask):  # MONAI's way: the mask minus its erosion (image border outside)
        return mask & ~ndimage.binary_erosion(mask, border_value=0)

    forward = ndimage.distance_transform_edt(~edges(prediction), sampling=spacing)[edges(truth)]
    backward = ndimage.distance_transform_edt(~edges(truth), sampling=spacing)[edges(prediction)]
    hd95 = max(np.percentile(forward, 95), np.percentile(backward, 95))
    labels = truth.astype(int), prediction.astype(int)
    assert td.metrics.hausdorff_distance(*labels, 2, spacing=spacing) == pytest.approx(hd95)
    asd = np.concatenate([forward, backward]).mean()
    assert td.metrics.average_surface_distance(*labels, 2, spacing=spacing) == pytest.approx(asd)


# ---------------------------------------------------------------------- undefined cases, averaging over images
def test_empty_masks_make_surface_distances_undefined():
    empty, full = np.zeros((4, 4), dtype=bool), square(0, 0, size=2, shape=(4, 4))
    with pytest.raises(ValueError, match="mask_pred is empty"):
        sm.surface_distances(full, empty)
    with pytest.raises(ValueError, match="mask_true is empty"):
        sm.surface_distances(empty, full)


def test_images_missing_a_class_on_one_side_are_undefined_and_counted():
    truth = np.zeros((3, 8, 8), dtype=np.int64)
    prediction = np.zeros_like(truth)
    truth[0, 1:3, 1:3] = 1
    prediction[0, 1:3, 2:4] = 1  # image 0: class 1 in both, shifted by one column: HD = 1
    truth[1, 4:6, 4:6] = 1  # image 1: class 1 missed by the prediction: undefined
    prediction[2, 0, 0] = 2  # image 2: class 2 predicted only: undefined; class 1 absent from both
    value, counts = td.metrics.hausdorff_distance(truth, prediction, 3, percentile=100, return_counts=True)
    assert value == pytest.approx(1.0)  # class 2 is never defined: left out of the foreground mean
    np.testing.assert_array_equal(counts["defined"][1:], [1, 0])
    np.testing.assert_array_equal(counts["one_sided"][1:], [1, 1])
    per_class = td.metrics.hausdorff_distance(truth, prediction, 3, percentile=100, average=None)
    assert per_class.shape == (3,) and per_class[1] == pytest.approx(1.0) and np.isnan(per_class[2])
    assert np.isnan(td.metrics.average_surface_distance(truth[1:], prediction[1:], 3))


def test_averages_over_images_not_over_pooled_pixels():
    truth = np.stack([square(2, 2).astype(int), square(2, 2).astype(int)])
    prediction = np.stack([square(2, 4).astype(int), square(2, 2).astype(int)])  # HD 2, then 0
    assert td.metrics.hausdorff_distance(truth, prediction, 2, percentile=100) == pytest.approx(1.0)
    assert td.metrics.average_surface_distance(truth, prediction, 2) == pytest.approx(0.5)


# ---------------------------------------------------------------------- Dice per image and the report
def test_per_image_dice_by_hand():
    truth = np.array([[[0, 1, 1, 0]], [[0, 0, 0, 0]]])
    prediction = np.array([[[0, 1, 0, 0]], [[0, 0, 0, 0]]])
    dice = td.metrics.per_image_dice(truth, prediction, 2)
    # image 0, class 1: TP 1, FN 1, FP 0 -> 2/3; background: TP 2, FP 1 -> 4/5; image 1: class 1 absent -> NaN
    np.testing.assert_allclose(dice[0], [4 / 5, 2 / 3])
    assert dice[1, 0] == 1.0 and np.isnan(dice[1, 1])


@given(rng=masks_2d)
def test_report_dice_matches_the_pooled_formula_and_iou(rng):
    truth = rng.integers(0, 3, size=(3, 6, 5))
    prediction = np.where(rng.random(truth.shape) < 0.7, truth, rng.integers(0, 3, size=truth.shape))
    report = td.metrics.segmentation_report(truth, prediction, ["background", "liver", "tumour"], surface=False)
    for c, name in enumerate(["background", "liver", "tumour"]):
        tp = np.sum((truth == c) & (prediction == c))
        fp, fn = np.sum((truth != c) & (prediction == c)), np.sum((truth == c) & (prediction != c))
        if tp + fp + fn:
            assert report["dice"][name] == pytest.approx(2 * tp / (2 * tp + fp + fn))
            iou = report["iou"][name]
            assert report["dice"][name] == pytest.approx(2 * iou / (1 + iou))
    np.testing.assert_allclose(
        [v if v is not None else np.nan for v in report["dice"].values()],
        td.metrics.dice_score(truth, prediction, 3, average=None),
    )
    per_image = td.metrics.per_image_dice(truth, prediction, 3)
    assert report["dice_per_image"]["liver"] == pytest.approx(np.nanmean(per_image[:, 1]))
    assert report["pixel_accuracy"] == pytest.approx(np.mean(truth == prediction))


REPORT_KEYS = {
    "dice",
    "iou",
    "mean_dice",
    "mean_iou",
    "mean_dice_with_background",
    "dice_per_image",
    "pixel_accuracy",
    "hd95",
    "asd",
    "surface_distance_images",
    "spacing",
    "class_pixels",
    "n_images",
    "conventions",
}


def test_report_has_its_keys_is_json_and_says_none_for_undefined():
    truth = np.zeros((2, 8, 8), dtype=np.int64)
    truth[:, 2:5, 2:5] = 1
    prediction = np.roll(truth, 1, axis=2)
    names = ["background", "liver", "tumour"]  # tumour in neither: undefined everywhere
    report = td.metrics.segmentation_report(truth, prediction, names, spacing=(0.5, 0.5))
    assert set(report) == REPORT_KEYS
    json.dumps(report, allow_nan=False)
    assert report["dice"]["tumour"] is None and report["hd95"]["tumour"] is None
    assert report["dice"]["liver"] == pytest.approx(2 * 6 / 18)
    assert report["mean_dice"] == pytest.approx(report["dice"]["liver"])  # tumour undefined, background out
    assert set(report["hd95"]) == {"liver", "tumour"}
    assert report["hd95"]["liver"] == pytest.approx(0.5) and report["surface_distance_images"] == {
        "liver": 2,
        "tumour": 0,
    }
    assert report["class_pixels"]["liver"] == {"true": 18, "predicted": 18}
    assert report["spacing"] == [0.5, 0.5] and report["n_images"] == 2
    fast = td.metrics.segmentation_report(truth, prediction, names, surface=False)
    assert set(fast) == REPORT_KEYS - {"hd95", "asd", "surface_distance_images"} and fast["spacing"] == "pixels"


# ---------------------------------------------------------------------- errors
def test_bad_inputs_are_named_in_the_error():
    labels = np.zeros((2, 4, 4), dtype=np.int64)
    with pytest.raises(ValueError, match="same shape"):
        td.metrics.hausdorff_distance(labels, labels[:, :3], 2)
    with pytest.raises(ValueError, match="outside 0..1"):
        td.metrics.segmentation_report(labels, labels + 2, ["background", "liver"])
    with pytest.raises(ValueError, match="class_names"):
        td.metrics.segmentation_report(labels, labels, ["background"])
    with pytest.raises(TypeError, match="y_pred must hold integer"):
        td.metrics.per_image_dice(labels, labels + 0.5, 2)
    with pytest.raises(TypeError, match="mask_true"):
        sm.surface_distances(np.zeros((3, 3)) + 0.5, np.ones((3, 3), dtype=bool))
    for bad in (0, 101, -5):
        with pytest.raises(ValueError, match="percentile"):
            td.metrics.hausdorff_distance(labels, labels, 2, percentile=bad)
    with pytest.raises(ValueError, match="spacing"):
        td.metrics.hausdorff_distance(labels, labels, 2, spacing=(1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="num_classes"):
        td.metrics.average_surface_distance(labels, labels, 1)
    with pytest.raises(ValueError, match="average"):
        td.metrics.hausdorff_distance(labels, labels, 2, average="micro")


# ---------------------------------------------------------------------- the real liver CT, when present
def segmentation_file(name):
    folder = os.environ.get("TINYDL_SEGMENTATION_DIR")
    path = pathlib.Path(folder) / name if folder else None
    if path is None or not path.is_file():
        pytest.skip(f"{name} not found: set TINYDL_SEGMENTATION_DIR to the folder holding it")
    return path


def test_report_on_real_liver_slices_shifted_by_one_pixel():
    with np.load(segmentation_file("liverct117.npz")) as data:
        truth = data["test_label"][8:12]
    prediction = np.zeros_like(truth)
    prediction[:, 1:, :] = truth[:, :-1, :]  # everything one row down
    report = td.metrics.segmentation_report(truth, prediction, ["background", "liver", "tumour"])
    assert 0.8 < report["dice"]["liver"] < 1.0
    assert 0 < report["hd95"]["liver"] <= 1.0  # a one-row shift moves every outline by at most 1
    assert report["surface_distance_images"]["liver"] == 4
