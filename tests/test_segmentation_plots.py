"""Segmentation plots: each writes a PNG for grey and RGB images, 2 and 3 classes; titles and picks are right."""

import numpy as np
import pytest

from tinydl import segmentation_plots as sp

pytest.importorskip("matplotlib")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def written_png(path):
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 2000, f"{path} is not a drawn PNG"
    return True


def case(channels, num_classes, n=5, size=24, seed=0):
    """Images, true masks (a disc per foreground class), and predictions that get worse with the index."""
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(n, channels, size, size)).astype(np.float32)  # any range: rescaled for display
    rows, cols = np.mgrid[:size, :size]
    truth = np.zeros((n, size, size), dtype=np.int64)
    for c in range(1, num_classes):
        centre = 6 + 10 * (c - 1)
        truth[:, (rows - centre) ** 2 + (cols - centre) ** 2 < 16] = c
    prediction = truth.copy()
    for i in range(n):
        prediction[i] = np.roll(truth[i], i, axis=1)  # image i shifted by i columns: Dice falls with i
    return images, truth, prediction


def names(num_classes):
    return ["background", "liver", "tumour"][:num_classes]


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("num_classes", [2, 3])
def test_overlays_write_a_png_titled_with_the_dice(tmp_path, channels, num_classes):
    images, truth, prediction = case(channels, num_classes)
    path = tmp_path / "overlays.png"
    figure = sp.overlays(images, truth, prediction, names(num_classes), path=path, n=4, note="SYNTHETIC")
    assert written_png(path)
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert len(titles) == 4 and titles[0] == "Dice " + " · ".join(f"{n} 1.00" for n in names(num_classes)[1:])
    assert all("Dice liver" in t for t in titles) and "1.00" not in titles[1]
    legend_texts = [t.get_text() for t in figure.legends[0].get_texts()]
    assert set(names(num_classes)[1:]) <= set(legend_texts)
    np.testing.assert_array_equal(figure.indices, np.arange(4))


def test_overlays_accept_given_titles_and_grey_images_without_channels():
    images, truth, prediction = case(1, 2, n=2)
    figure = sp.overlays(images[:, 0], truth, prediction, names(2), titles=["first", "second"])
    assert [ax.get_title() for ax in figure.axes[:2]] == ["first", "second"]


def test_an_absent_class_is_titled_with_a_dash():
    images, truth, prediction = case(1, 3, n=1)
    truth[truth == 2], prediction[prediction == 2] = 0, 0
    figure = sp.overlays(images, truth, prediction, names(3))
    assert figure.axes[0].get_title() == "Dice liver 1.00 · tumour –"


@pytest.mark.parametrize("channels, num_classes", [(1, 2), (3, 3)])
def test_worst_cases_pick_the_lowest_dice_worst_first(tmp_path, channels, num_classes):
    images, truth, prediction = case(channels, num_classes, n=6)
    order = np.random.default_rng(1).permutation(6)  # shuffled so that the worst are not simply the last
    images, truth, prediction = images[order], truth[order], prediction[order]
    path = tmp_path / "worst.png"
    figure = sp.worst_cases(images, truth, prediction, names(num_classes), path=path, k=3)
    assert written_png(path)
    shift = order  # image j of the shuffled set was shifted by order[j] columns
    expected = np.argsort(-shift)[:3]
    np.testing.assert_array_equal(figure.indices, expected)
    assert np.all(np.diff(figure.scores) >= 0)
    assert figure.axes[0].get_title().startswith(f"#{expected[0]}: mean Dice {figure.scores[0]:.2f}")


def test_worst_cases_for_one_class_skip_images_without_it():
    images, truth, prediction = case(1, 3, n=4)
    truth[0][truth[0] == 2], prediction[0][prediction[0] == 2] = 0, 0  # image 0: no tumour anywhere
    figure = sp.worst_cases(images, truth, prediction, names(3), k=10, class_index=2)
    np.testing.assert_array_equal(figure.indices, [3, 2, 1])  # the shifts 3, 2, 1; image 0 not ranked
    assert figure.axes[0].get_title().startswith("#3: Dice tumour")


def test_dice_curves_draw_each_class_and_mark_the_best_epoch(tmp_path):
    rows = [
        {
            "epoch": e,
            "train_loss": 1.0 / e,
            "val_loss": 1.2 / e,
            "val_dice": 0.2 * e,
            "val_dice_background": 0.9,
            "val_dice_liver": 0.25 * e,
            "val_dice_tumour": None if e == 1 else 0.15 * e,
        }
        for e in (1, 2, 3, 4)
    ]
    path = tmp_path / "curves.png"
    figure = sp.dice_curves(rows, names(3), path=path, best_epoch=3, note="SYNTHETIC")
    assert written_png(path)
    ax_dice, ax_loss = figure.axes[:2]
    labels = [line.get_label() for line in ax_dice.lines]
    assert labels[:4] == ["background", "liver", "tumour", "mean (foreground)"]
    assert "best epoch (3)" in labels and "best epoch (3)" in [line.get_label() for line in ax_loss.lines]
    np.testing.assert_allclose(ax_dice.lines[1].get_ydata(), [0.25, 0.5, 0.75, 1.0])
    assert np.isnan(ax_dice.lines[2].get_ydata()[0])


def test_dice_curves_find_sanitised_class_names_and_need_some_dice():
    rows = [{"epoch": 1, "train_loss": 0.5, "val_dice_left_lung": 0.6}]
    figure = sp.dice_curves(rows, ["background", "left lung"])
    assert [line.get_label() for line in figure.axes[0].lines] == ["left lung"]
    with pytest.raises(ValueError, match="val_dice_"):
        sp.dice_curves([{"epoch": 1, "train_loss": 0.5}], ["background", "liver"])


@pytest.mark.parametrize("channels", [1, 3])
def test_explanation_overlays_write_a_png_with_the_region_outlined(tmp_path, channels):
    images, truth, _ = case(channels, 2, n=3)
    heatmaps = np.random.default_rng(2).random((3, 6, 6))  # coarse, as Grad-CAM's: resized for display
    path = tmp_path / "explain.png"
    figure = sp.explanation_overlays(images, heatmaps, masks=truth == 1, titles=["a", "b", "c"], path=path)
    assert written_png(path)
    assert [ax.get_title() for ax in figure.axes[:3]] == ["a", "b", "c"]


def test_mismatched_shapes_and_labels_are_refused():
    images, truth, prediction = case(1, 2, n=3)
    with pytest.raises(ValueError, match="same shape"):
        sp.overlays(images, truth, prediction[:, :-1], names(2))
    with pytest.raises(ValueError, match="do not match"):
        sp.overlays(images[:2], truth, prediction, names(2))
    with pytest.raises(ValueError, match="labels 0..1"):
        sp.worst_cases(images, truth, prediction + 1, names(2))
    with pytest.raises(ValueError, match="class_index"):
        sp.worst_cases(images, truth, prediction, names(2), class_index=5)
    with pytest.raises(ValueError, match="heatmaps"):
        sp.explanation_overlays(images, np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="masks"):
        sp.explanation_overlays(images, np.zeros((3, 4, 4)), masks=np.zeros((3, 5, 5), dtype=bool))
