"""Plots of a training run: learning curves, confusion matrix, ROC curves, calibration, sample predictions.

Each function draws on a bare matplotlib ``Figure`` with the Agg canvas (no
window, no pyplot state: works on a server and in tests), saves it when a
``path`` is given — atomically: a temporary file, then a rename — and returns
the figure. matplotlib is imported inside the functions, so ``import tinydl``
stays light.
"""

import os

import numpy as np

from .files import write_atomically


def new_figure(width=6.0, height=4.0):
    """A Figure with the Agg canvas attached (what pyplot.figure would give, without pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure, path, dpi=110):
    """Save ``figure`` to ``path`` (format from its suffix, PNG by default), atomically."""
    fmt = os.path.splitext(os.fspath(path))[1].lstrip(".") or "png"
    write_atomically(path, lambda f: figure.savefig(f, dpi=dpi, format=fmt))
    return path


def _finish(figure, path, note=None):
    if note:  # e.g. "SYNTHETIC data": said above the figure, where no reader can miss it
        figure.suptitle(note, color="red", fontweight="bold")
    figure.tight_layout()
    if path is not None:
        save_figure(figure, path)
    return figure


def training_curves(history, path=None, note=None):
    """Loss (train and validation) and accuracy / validation AUC per epoch, side by side.

    Reading them: the training loss should fall; a validation loss that turns
    back up while the training loss keeps falling is over-fitting — the epoch
    before the turn is the one to keep (the Trainer keeps the best by validation AUC).
    """
    figure = new_figure(10, 3.6)
    epochs = history["epoch"]
    ax_loss, ax_score = figure.subplots(1, 2)
    ax_loss.plot(epochs, history["train_loss"], "o-", label="train")
    if any(v is not None for v in history["val_loss"]):
        ax_loss.plot(epochs, _nan(history["val_loss"]), "o-", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss")
    ax_loss.legend()
    ax_score.plot(epochs, history["train_acc"], "o-", label="train accuracy")
    for key, label in (("val_acc", "validation accuracy"), ("val_auc", "validation AUC")):
        if any(v is not None for v in history[key]):
            ax_score.plot(epochs, _nan(history[key]), "o-", label=label)
    ax_score.set(xlabel="epoch", title="Accuracy and AUC")
    ax_score.legend()
    return _finish(figure, path, note)


def _nan(values):
    return [np.nan if v is None else v for v in values]


def confusion_matrix(matrix, class_names=None, path=None, title="Confusion matrix", note=None):
    """Counts of (true class, predicted class), with each row's share in brackets (recall on the diagonal)."""
    matrix = np.asarray(matrix)
    k = matrix.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    size = max(3.5, 0.55 * k + 2)
    figure = new_figure(size + 1, size)
    ax = figure.subplots()
    image = ax.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=ax, fraction=0.046)
    rows = np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    for i in range(k):
        for j in range(k):
            text = f"{matrix[i, j]}" if k > 6 else f"{matrix[i, j]}\n({matrix[i, j] / rows[i, 0]:.0%})"
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=8 if k > 6 else 10,
                color="white" if matrix[i, j] > matrix.max() / 2 else "black",
            )
    ax.set_xticks(range(k), names, rotation=45 if k > 2 else 0, ha="right" if k > 2 else "center")
    ax.set_yticks(range(k), names)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    return _finish(figure, path, note)


def roc_curves(y_true, probs, class_names=None, task="multi-class", path=None, note=None):
    """ROC curve(s) with their AUC: one for a binary task, one per class (one-vs-rest) or per finding otherwise.

    A point is (1 − specificity, sensitivity) at one threshold; the curve sweeps
    every threshold. AUC = the chance that a random positive scores above a random negative.
    """
    from . import metrics

    y_true, probs = np.asarray(y_true), np.asarray(probs)
    figure = new_figure(5, 5)
    ax = figure.subplots()
    if probs.ndim == 2 and probs.shape[1] == 2 and not task.startswith("multi-label"):
        curves = [(class_names[1] if class_names else "positive", y_true.reshape(-1) == 1, probs[:, 1])]
    elif task.startswith("multi-label"):
        curves = [
            ((class_names or range(probs.shape[1]))[j], y_true[:, j] == 1, probs[:, j]) for j in range(probs.shape[1])
        ]
    else:
        curves = [
            ((class_names or range(probs.shape[1]))[j], y_true.reshape(-1) == j, probs[:, j])
            for j in range(probs.shape[1])
        ]
    for name, positive, scores in curves:
        if positive.all() or not positive.any():
            continue  # AUC undefined for a class absent (or alone) in this split
        fpr, tpr, _ = metrics.roc_curve(positive.astype(np.int64), scores)
        ax.plot(fpr, tpr, label=f"{name} (AUC {metrics.roc_auc(positive.astype(np.int64), scores):.3f})")
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1)
    ax.set(
        xlabel="false positive rate (1 − specificity)",
        ylabel="true positive rate (sensitivity)",
        title="ROC",
        xlim=(0, 1),
        ylim=(0, 1.01),
    )
    ax.legend(fontsize=7 if len(curves) > 4 else 9, loc="lower right")
    return _finish(figure, path, note)


def reliability(y_true, probs, n_bins=15, path=None, note=None):
    """Calibration: for each confidence bin, the accuracy actually reached (the diagonal is perfect calibration)."""
    from . import metrics

    curve = metrics.reliability_curve(y_true, probs, n_bins=n_bins)
    ece = metrics.expected_calibration_error(y_true, probs, n_bins=n_bins)
    figure = new_figure(4.5, 4.5)
    ax = figure.subplots()
    centres = (np.asarray(curve["bin_lower"]) + np.asarray(curve["bin_upper"])) / 2
    counts = np.asarray(curve["count"])
    acc = np.where(counts > 0, np.asarray(curve["accuracy"], dtype=float), np.nan)
    ax.bar(centres, acc, width=1 / n_bins, edgecolor="black", alpha=0.7, label="accuracy in bin")
    ax.plot([0, 1], [0, 1], "--", color="grey")
    ax.set(xlabel="confidence", ylabel="accuracy", title=f"Reliability (ECE {ece:.3f})", xlim=(0, 1), ylim=(0, 1))
    return _finish(figure, path, note)


def sample_predictions(images, y_true, probs, class_names=None, n=16, path=None, seed=0, note=None):
    """A grid of images titled "predicted (probability) / true", wrong ones in red."""
    images = np.asarray(images)
    y_true = np.asarray(y_true).reshape(len(images), -1)[:, 0] if np.asarray(y_true).ndim <= 2 else y_true
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(images), size=min(n, len(images)), replace=False)
    cols = int(np.ceil(np.sqrt(len(picks))))
    rows = int(np.ceil(len(picks) / cols))
    figure = new_figure(1.9 * cols, 2.1 * rows)
    axes = np.atleast_1d(figure.subplots(rows, cols)).reshape(-1)
    names = list(class_names) if class_names is not None else None
    for ax, i in zip(axes, picks):
        ax.imshow(as_display_image(images[i]), cmap="gray", vmin=0, vmax=1)
        predicted = int(np.argmax(probs[i]))
        label = lambda c: names[c] if names else str(c)
        ax.set_title(
            f"{label(predicted)} ({probs[i][predicted]:.2f})\ntrue: {label(int(y_true[i]))}",
            fontsize=7,
            color="black" if predicted == int(y_true[i]) else "red",
        )
    for ax in axes:
        ax.axis("off")
    return _finish(figure, path, note)


def as_display_image(image):
    """An image as (H, W) or (H, W, 3) floats in [0, 1] for imshow; accepts CHW, HWC or HW.

    uint8 images are divided by 255; float images already in [0, 1] are kept; any
    other range is stretched to [0, 1] (standardised inputs, for instance).
    """
    img = np.asarray(getattr(image, "numpy", lambda: image)())
    img = img / 255.0 if img.dtype == np.uint8 else img.astype(np.float64)
    if img.ndim == 3 and img.shape[0] in (1, 3) and img.shape[-1] not in (1, 3):
        img = np.moveaxis(img, 0, -1)  # CHW -> HWC
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[-1] != 3):
        raise ValueError(f"expected an image of shape (H, W), (H, W, 1|3) or (1|3, H, W), got {img.shape}")
    lo, hi = img.min(), img.max()
    if lo >= 0 and hi <= 1:
        return img
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
