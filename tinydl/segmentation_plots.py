"""Plots of a segmentation run: overlays of prediction and truth, Dice over epochs, worst cases, explanations.

As in :mod:`tinydl.plots`, each function draws on a bare matplotlib ``Figure`` with the Agg
canvas (no window, no pyplot state), saves it as PNG when ``path`` is given (atomically) and
returns the figure; ``note`` is a line in red above it all (e.g. that the data are synthetic).
matplotlib is imported inside the functions, so ``import tinydl`` stays light.

How an overlay reads: the image in grey; the **truth as outlines** (one solid contour per
class); the **prediction as a semi-transparent fill**, in the same colour per class. Where the
fill spills over its outline the model over-segments; an outline left empty is a miss.
"""

import math

import numpy as np

from .explain import overlay
from .plots import as_display_image, new_figure, save_figure
from .segmentation_metrics import per_image_dice
from .tensor import to_numpy

__all__ = ["overlays", "dice_curves", "worst_cases", "explanation_overlays", "class_colours"]

FILL_ALPHA = 0.35  # enough to see the colour, little enough to see the tissue under it


def _finish_figure(figure, path, note, bottom=0.0):
    """The note in red above, a tight layout (leaving ``bottom`` of the height free for a legend), the PNG
    written when ``path`` is given: as tinydl.plots does."""
    if note:
        width, height = figure.get_size_inches()
        figure.set_size_inches(width, height + 0.35)  # the note's line, without squeezing the panels
        bottom *= height / (height + 0.35)
        figure.suptitle(note, color="red", fontweight="bold")
    figure.tight_layout(rect=(0, bottom, 1, 1))
    if path is not None:
        save_figure(figure, path)
    return figure


def class_colours(num_classes):
    """One RGB colour per class (index 0, the background, gets none: it is never drawn)."""
    import matplotlib

    palette = matplotlib.colormaps["tab10"]
    return [None] + [tuple(palette((c - 1) % 10)[:3]) for c in range(1, num_classes)]


def _grid(figure, count, panel_width=2.6, panel_height=3.0, max_columns=4):
    columns = min(count, max_columns)
    rows = math.ceil(count / columns)
    figure.set_size_inches(panel_width * columns, panel_height * rows + 0.6)
    return np.atleast_1d(figure.subplots(rows, columns)).reshape(-1)


def _grey(image, display_range=None):
    """An image for the background of an overlay: grey (H, W) in [0, 1]; RGB turned into luminance.

    ``display_range`` (low, high): values clipped to it and scaled, low → black, high → white
    (a CT window); otherwise the scaling of :func:`tinydl.plots.as_display_image`.
    """
    if display_range is not None:
        low, high = (float(v) for v in display_range)
        if not high > low:
            raise ValueError(f"display_range must be (low, high) with high > low, got {display_range!r}")
        image = np.clip((np.asarray(image, dtype=np.float64) - low) / (high - low), 0.0, 1.0)
    display = as_display_image(image)
    if display.ndim == 3:  # colours of the classes must stand out: ITU-R BT.601 luma
        display = display @ np.array([0.299, 0.587, 0.114])
    return display


def _label_stacks(images, y_true, y_pred, class_names):
    """Images (N, ...) and two label maps (N, H, W) checked against each other; the class count."""
    images = to_numpy(images)
    y_true, y_pred = to_numpy(y_true), to_numpy(y_pred)
    if y_true.ndim == 2:
        images, y_true, y_pred = images[None], y_true[None], y_pred[None]
    if y_true.ndim != 3 or y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must be label maps (N, H, W) of the same shape, got {y_true.shape} and {y_pred.shape}"
        )
    if len(images) != len(y_true) or images.shape[-2:] != y_true.shape[-2:]:
        raise ValueError(
            f"images {images.shape} do not match the label maps {y_true.shape}: "
            "expected (N, C, H, W) or (N, H, W) with the same N, H, W"
        )
    names = [str(name) for name in class_names]
    if len(names) < 2:
        raise ValueError(f"class_names must list at least two classes (background first), got {class_names!r}")
    for labels, what in ((y_true, "y_true"), (y_pred, "y_pred")):
        if labels.dtype.kind not in "biu" or labels.min() < 0 or labels.max() >= len(names):
            raise ValueError(
                f"{what} must hold integer labels 0..{len(names) - 1} (one per class name {names}), "
                f"got dtype {labels.dtype}, values {labels.min()}..{labels.max()}"
            )
    return images, y_true.astype(np.int64), y_pred.astype(np.int64), names


def _dice_title(dice_row, names):
    """ "liver 0.93 · tumour 0.41" — the per-image Dice of each foreground class ("–" where undefined)."""
    parts = [f"{name} {'–' if np.isnan(d) else f'{d:.2f}'}" for name, d in zip(names[1:], dice_row[1:])]
    return "Dice " + " · ".join(parts)


def _draw_overlay(ax, image, truth, prediction, colours, display_range=None):
    """Grey image, the prediction filled, the truth outlined, on one axis."""
    ax.imshow(_grey(image, display_range), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    fill = np.zeros(truth.shape + (4,))
    for c, colour in enumerate(colours):
        if colour is None:
            continue
        fill[prediction == c] = (*colour, FILL_ALPHA)
        if (truth == c).any() and not (truth == c).all():
            ax.contour((truth == c).astype(float), levels=[0.5], colors=[colour], linewidths=1.3)
    ax.imshow(fill, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def _legend(figure, names, colours):
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        Patch(facecolor=(*colours[c], FILL_ALPHA + 0.2), edgecolor=colours[c], label=names[c])
        for c in range(1, len(names))
    ]
    handles += [
        Line2D([], [], color="black", lw=1.3, label="outline = truth"),
        Patch(facecolor=(0.5, 0.5, 0.5, FILL_ALPHA + 0.2), label="fill = prediction"),
    ]
    figure.legend(handles=handles, loc="lower center", ncol=min(len(handles), 5), fontsize=8, frameon=False)


def overlays(images, y_true, y_pred, class_names, path=None, titles=None, n=8, note=None, display_range=None):
    """The first ``n`` images, each with its true outlines and predicted fill; titled with its per-image Dice.

    ``images``: (N, C, H, W) (C = 1 grey or 3 RGB, shown in grey) or (N, H, W), any range (scaled to
    [0, 1] as :func:`tinydl.plots.as_display_image` does); ``y_true``, ``y_pred``: label maps
    (N, H, W), 0 = background (not drawn); ``class_names``: one per class, background first.
    ``titles``: one string per image drawn, instead of "Dice liver 0.93 · tumour 0.41" (the
    image's own Dice per foreground class, "–" where the class is in neither map).
    ``display_range``: (low, high) pixel values shown black to white, e.g. (−200, 300) Hounsfield
    units for soft tissue in CT; default: each image's own range. The returned figure has
    ``figure.indices``: the images drawn.
    """
    images, y_true, y_pred, names = _label_stacks(images, y_true, y_pred, class_names)
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive integer (images to draw), got {n!r}")
    count = min(int(n), len(y_true))
    if titles is not None and len(titles) < count:
        raise ValueError(f"titles must give one title per image drawn ({count}), got {len(titles)}")
    dice = per_image_dice(y_true[:count], y_pred[:count], len(names))
    colours = class_colours(len(names))
    figure = new_figure()
    axes = _grid(figure, count)
    for i, ax in enumerate(axes):
        if i >= count:
            ax.axis("off")
            continue
        _draw_overlay(ax, images[i], y_true[i], y_pred[i], colours, display_range)
        ax.set_title(titles[i] if titles is not None else _dice_title(dice[i], names), fontsize=8)
    _legend(figure, names, colours)
    figure.indices = np.arange(count)
    return _finish_figure(figure, path, note, bottom=0.45 / figure.get_size_inches()[1])  # room for the legend


def _history_rows(history_rows):
    """History rows as a list of dicts; a dict of columns (lists) is accepted too."""
    if isinstance(history_rows, dict):
        length = max((len(v) for v in history_rows.values()), default=0)
        return [{key: column[i] for key, column in history_rows.items() if i < len(column)} for i in range(length)]
    rows = list(getattr(history_rows, "rows", history_rows))
    if not rows or not all(isinstance(row, dict) for row in rows):
        raise ValueError("history_rows must be a non-empty list of dicts (one per epoch), as Trainer.history.rows")
    return rows


def _column(rows, key):
    return np.array([np.nan if row.get(key) is None else float(row[key]) for row in rows])


def dice_curves(history_rows, class_names, path=None, note=None, best_epoch=None):
    """Validation Dice per class over the epochs (left) and the training loss (right); the best epoch marked.

    ``history_rows``: one dict per epoch (``Trainer.history.rows``) with ``epoch``, ``train_loss``
    (and ``val_loss`` if measured), ``val_dice_<class name>`` per class (names with characters
    other than letters and digits written with "_", as the Trainer does) and the mean over the
    foreground classes as ``val_mean_dice`` or ``val_dice``. A class without its column is skipped;
    ``best_epoch``: the epoch kept, drawn as a dashed line on both panels.
    """
    from matplotlib.ticker import MaxNLocator

    rows = _history_rows(history_rows)
    epochs = np.array([row.get("epoch", i + 1) for i, row in enumerate(rows)], dtype=float)
    names = [str(name) for name in class_names]
    colours = class_colours(len(names))
    figure = new_figure(10, 3.8)
    ax_dice, ax_loss = figure.subplots(1, 2)
    drawn = 0
    for c, name in enumerate(names):
        for key in (f"val_dice_{name}", "val_dice_" + "".join(ch if ch.isalnum() else "_" for ch in name)):
            if any(key in row for row in rows):
                ax_dice.plot(epochs, _column(rows, key), "o-", ms=3, color=colours[c] or "grey", label=name)
                drawn += 1
                break
    for key in ("val_mean_dice", "val_dice"):
        if any(row.get(key) is not None for row in rows):
            ax_dice.plot(epochs, _column(rows, key), "k--", lw=1.5, label="mean (foreground)")
            drawn += 1
            break
    if not drawn:
        raise ValueError(
            f"history_rows have no validation Dice: expected keys val_dice_<name> for {names} or val_mean_dice, "
            f"found {sorted({key for row in rows for key in row})}"
        )
    ax_dice.set(xlabel="epoch", ylabel="Dice", title="Validation Dice per class", ylim=(0, 1.02))
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        if any(row.get(key) is not None for row in rows):
            ax_loss.plot(epochs, _column(rows, key), "o-", ms=3, label=label)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="Loss")
    for ax in (ax_dice, ax_loss):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    if best_epoch is not None:
        for ax in (ax_dice, ax_loss):
            ax.axvline(best_epoch, color="grey", ls=":", lw=1.5, label=f"best epoch ({best_epoch})")
    ax_dice.legend(fontsize=8, loc="lower right")
    if ax_loss.lines:
        ax_loss.legend(fontsize=8)
    return _finish_figure(figure, path, note)


def worst_cases(images, y_true, y_pred, class_names, path=None, k=4, class_index=None, note=None, display_range=None):
    """The ``k`` images with the lowest per-image Dice, drawn with :func:`overlays`, worst first.

    The score of an image is its Dice for ``class_index`` when given, otherwise the mean of its
    Dice over the foreground classes present in its truth or prediction. Images where the score is
    undefined (the class, or every foreground class, in neither map) are not ranked. Titles: the
    image's index in the input, its score, then its Dice per class. The returned figure has
    ``figure.indices`` (the images shown, worst first) and ``figure.scores`` (their scores).
    ``display_range`` as in :func:`overlays`.
    """
    images, y_true, y_pred, names = _label_stacks(images, y_true, y_pred, class_names)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer (images to show), got {k!r}")
    dice = per_image_dice(y_true, y_pred, len(names))
    if class_index is None:
        foreground = dice[:, 1:]
        defined = ~np.isnan(foreground)
        scores = np.full(len(dice), np.nan)
        has_any = defined.any(axis=1)
        scores[has_any] = np.nanmean(foreground[has_any], axis=1)
        what = "mean Dice"
    else:
        if isinstance(class_index, bool) or not isinstance(class_index, int | np.integer):
            raise ValueError(f"class_index must be an integer class index 0..{len(names) - 1}, got {class_index!r}")
        if not 0 <= class_index < len(names):
            raise ValueError(f"class_index {class_index} is not a class of {names} (0..{len(names) - 1})")
        scores = dice[:, class_index]
        what = f"Dice {names[class_index]}"
    ranked = np.nonzero(~np.isnan(scores))[0]
    if ranked.size == 0:
        raise ValueError(f"no image has a defined {what}: the class is absent from every truth and prediction")
    ranked = ranked[np.argsort(scores[ranked], kind="stable")][: int(k)]  # ties: the earlier image first
    titles = [f"#{i}: {what} {scores[i]:.2f}\n{_dice_title(dice[i], names)}" for i in ranked]
    chosen = images[ranked], y_true[ranked], y_pred[ranked]
    figure = overlays(*chosen, names, titles=titles, n=len(ranked), note=note, display_range=display_range)
    figure.indices, figure.scores = ranked, scores[ranked]
    if path is not None:
        save_figure(figure, path)
    return figure


def explanation_overlays(images, heatmaps, masks=None, titles=None, path=None, note=None):
    """Heat maps (Grad-CAM) blended over their images, with the explained region outlined in white.

    ``images``: (N, C, H, W) or (N, H, W), any range; ``heatmaps``: (N, h, w) (resized when not
    H × W; see :func:`tinydl.explain.overlay`: red = high in "jet"); ``masks``: boolean (N, H, W),
    the region whose summed logit was explained, or None; ``titles``: one string per image.
    """
    images, heatmaps = to_numpy(images), to_numpy(heatmaps)
    if heatmaps.ndim == 2:
        images, heatmaps = images[None], heatmaps[None]
    if heatmaps.ndim != 3 or len(heatmaps) != len(images):
        raise ValueError(f"heatmaps must be (N, h, w), one per image; got {heatmaps.shape} for images {images.shape}")
    if masks is not None:
        masks = to_numpy(masks).astype(bool)
        if masks.ndim == 2:
            masks = masks[None]
        if masks.shape != (len(images), *images.shape[-2:]):
            raise ValueError(f"masks must be (N, H, W) = {(len(images), *images.shape[-2:])}, got {masks.shape}")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"titles must give one title per image ({len(images)}), got {len(titles)}")
    figure = new_figure()
    axes = _grid(figure, len(images))
    for i, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= len(images):
            ax.axis("off")
            continue
        ax.imshow(overlay(images[i], heatmaps[i]), interpolation="nearest")
        if masks is not None and masks[i].any() and not masks[i].all():
            ax.contour(masks[i].astype(float), levels=[0.5], colors=["white"], linewidths=1.2)
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    return _finish_figure(figure, path, note)
