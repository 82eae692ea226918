"""Whole segmentation runs: train a U-Net into a run folder, then evaluate, predict and explain with it.

What ``tinydl train --task segmentation`` and ``tinydl evaluate|predict|explain`` do for a
segmentation run, as Python functions (``tinydl.run`` hands a segmentation run over to here)::

    import tinydl as td

    result = td.train_run(td.RunConfig(task="segmentation", data="liverct117", data_dir="data/"))
    result.report["dice"]                 # {"background": …, "liver": …, "tumour": …}, test split
    td.evaluate_run(result.run_dir, split="val").report
    td.predict_images(result.run_dir, ["slice.npy"])   # writes <stem>_mask.png, .npy, overlay PNG
    td.explain_run(result.run_dir, split="test", target="liver")

The recipe (``SEGMENTATION_RECIPE``: what ``tinydl train --task segmentation`` does when no
option is given) was chosen on the validation split of the shared CT set and holds no data set's
name: a U-Net of base width 16 and depth 3 that computes at ``working_size`` (64×64 for images of
64 pixels or more: inputs resized inside the model and the logits back, so every figure is at the
image's own resolution), the cross-entropy plus the soft Dice loss, Adam (lr 3e-3, batches of 4)
with a cosine schedule over 30 epochs, the same random rotation, scaling and shift of image and
mask, and the epoch with the best validation Dice kept. The intensity step (CT window, MR
normalisation, 8-bit scaling) is chosen from the data's values by ``td.data.segmentation`` and
saved in the run, so ``predict`` treats a new ``.npy`` of Hounsfield units as the training
images were treated.

A segmentation run folder holds what a classification one does (``model.npz``, ``metadata.json``,
``metrics.json``, ``history.csv``, ``settings.json``) and the plots ``dice_curves.png`` (validation
Dice per class over the epochs), ``overlays.png`` (prediction and ground truth on test images),
``worst_cases.png`` and ``gradcam.png``.
"""

import sys
import time
from pathlib import Path

import numpy as np

from . import run_results
from .run_results import claim_config_folder, config_trainer, write_json, write_run_files

# The defaults of `tinydl train --task segmentation` (see the module docstring for why).
SEGMENTATION_RECIPE = {
    "model": "unet",
    "epochs": 30,
    "batch_size": 4,
    "lr": 3e-3,
    "augment": True,
    "brightness": 0.0,
    "contrast": 0.0,
    "schedule": "cosine",
    "monitor": "val_dice",
}
# The recipe's geometric augmentation, the same for image and mask (td.data.segmentation_augmentation):
# rotations up to ±15°, scaling 0.8-1.25 and shifts up to 8 % of the side. On the shared CT set it
# raised the validation and test tumour Dice (0.72 → 0.81 on test) without lowering the liver's.
AUGMENT_DEGREES, AUGMENT_SCALE, AUGMENT_SHIFT = 15.0, (0.8, 1.25), 0.08
DEFAULT_SEGMENTATION_DATA = "liverct117"  # what `tinydl train --task segmentation` without --data trains on
MAX_WORKING_SIZE = 64  # the U-Net computes at most at 64×64 by default (about 3× faster than 128×128)
PREDICTION_IMAGE_TYPES = (".png", ".jpg", ".jpeg", ".npy")


def working_size(height, width, depth=3, cap=MAX_WORKING_SIZE):
    """The side the U-Net computes at for images of ``height`` × ``width``: the smaller side, rounded
    down to a multiple of 2**depth (the U-Net's pooling needs it), at most ``cap``.

    One square size for every image of a set, from the data's shape alone."""
    factor = 2**depth
    side = min(int(height), int(width), int(cap))
    side -= side % factor
    if side < factor:
        raise ValueError(
            f"images of {height}×{width} pixels are too small for a U-Net of depth {depth} "
            f"(it needs at least {factor}×{factor}); use --depth {max(1, int(np.log2(max(min(height, width), 2))) - 1)}"
        )
    return side


def _quiet(message):
    """A ``log`` that says nothing."""


# ---------------------------------------------------------------------------- data
def load_segmentation_splits(config, log=print, splits=("train", "val", "test")):
    """{split: data set} of a segmentation RunConfig; the synthetic set only when --data was not given."""
    import warnings

    from . import data

    explicit = config.data is not None
    name = config.data if explicit else DEFAULT_SEGMENTATION_DATA
    options = {"intensity": intensity_option(config)}
    fallback = not explicit and not config.no_synthetic_fallback
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", data.SyntheticFallbackWarning)
        first = data.load_segmentation(
            name,
            splits[0],
            root=config.data_dir,
            download=not config.no_download,
            fallback_synthetic=fallback,
            hints="cli",
            **options,
        )
    fell_back = any(issubclass(w.category, data.SyntheticFallbackWarning) for w in caught)
    source = "synthetic" if fell_back else name
    loaded = {splits[0]: first}
    for split in splits[1:]:
        loaded[split] = data.load_segmentation(source, split, root=config.data_dir, hints="cli", **options)
    if fell_back:
        print(
            f"WARNING: {first.fallback_reason}; training on tinydl's SYNTHETIC shapes (not medical images). "
            "Set TINYDL_SEGMENTATION_DIR or pass --data-dir to use real data.",
            file=sys.stderr,
        )
    log(describe(loaded[splits[0]]))
    return loaded


def intensity_option(config):
    """The ``intensity`` argument of td.data.load_segmentation from --intensity and --ct-window."""
    if config.intensity == "ct" and config.ct_window is not None:
        level, width = config.ct_window
        return ("ct", float(level), float(width))
    return config.intensity


def describe(dataset):
    """One line: which data, from where, how many images, which classes, what intensity step."""
    shape = "×".join(str(s) for s in dataset.image_shape[1:])
    return (
        f"Data: {dataset.name} ({dataset.source}), {len(dataset)} {dataset.split} images of {shape} pixels, "
        f"{dataset.n_channels} channel(s); classes {list(dataset.classes)}; intensity: {dataset.intensity}"
    )


def data_marks(dataset):
    return run_results.data_marks(dataset, what="shapes")


def plot_note(dataset_name):
    return run_results.plot_note(dataset_name, what="shapes")


# ---------------------------------------------------------------------------- prediction
def predict_masks(model, x, normalizer, batch_size=16):
    """(probabilities (N, K, H, W), label maps (N, H, W)) of a segmentation model for images x (N, C, H, W)."""
    from .train import predict_proba

    probs = predict_proba(model, x, normalizer, "segmentation", batch_size=batch_size)
    return probs, probs.argmax(axis=1)


def dataset_regions(dataset):
    """The nested structures the data set's benchmark scores (td.data.SegmentationInfo.regions), e.g.
    (("liver with tumour", (1, 2)),) for the LiTS case; () for other sets and other labellings."""
    info = getattr(dataset, "info", None)
    if info is None or tuple(dataset.classes) != tuple(info.classes):
        return ()
    return tuple((name, tuple(labels)) for name, labels in info.regions)


def report_for(y, predicted, class_names, dataset, split, extra=None):
    """metrics.json of a segmentation split: td.metrics.segmentation_report (with the data set's nested
    regions, if it has any) and where the figures come from."""
    from .metrics import segmentation_report

    report = segmentation_report(y, predicted, list(class_names), regions=dataset_regions(dataset))
    report.update({"split": split, "n_images": int(len(y)), **(extra or {}), **data_marks(dataset)})
    return report


def segmentation_plots(out, x, y, predicted, class_names, history=None, best_epoch=None, note=None):
    """The PNG plots of a segmentation run: Dice curves (with ``history``), overlays, worst cases."""
    from . import segmentation_plots as plots

    out = Path(out)
    if history is not None:
        plots.dice_curves(history.rows, list(class_names), out / "dice_curves.png", note=note, best_epoch=best_epoch)
    n = min(8, len(x))
    picks = np.linspace(0, len(x) - 1, n).round().astype(int)  # spread over the split (slices of a volume)
    plots.overlays(x[picks], y[picks], predicted[picks], list(class_names), out / "overlays.png", note=note)
    plots.worst_cases(x, y, predicted, list(class_names), out / "worst_cases.png", k=min(4, len(x)), note=note)


def target_class(target, class_names, y=None):
    """The class index ``target`` names ("liver", "2" or 2); default the first foreground class."""
    names = [str(n) for n in class_names]
    if target is None:
        return 1 if len(names) > 1 else 0
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        index = int(target)
    elif str(target) in names:
        return names.index(str(target))
    elif str(target).isdigit():
        index = int(target)
    else:
        raise ValueError(f"--class {target!r}: the model's classes are {names} (a name or an index)")
    if not 0 <= index < len(names):
        raise ValueError(f"--class {target!r}: the model has {len(names)} classes, 0..{len(names) - 1} ({names})")
    return index


def gradcam_figure(model, x, normalizer, class_names, path, target=None, region="predicted", layer=None, note=None):
    """Grad-CAM of one class over a region (the summed logit, td.explain.segmentation_grad_cam) for
    images x (N, C, H, W), drawn over the images with the region outlined; returns (class index, maps)."""
    from . import explain
    from . import segmentation_plots as plots

    k = target_class(target, class_names)
    inputs = normalizer(x) if normalizer is not None else x
    _, predicted = predict_masks(model, x, normalizer)
    masks = predicted == k if isinstance(region, str) and region == "predicted" else region
    result = explain.segmentation_grad_cam(model, inputs, k, region=masks, layer=layer)
    maps = getattr(result, "heatmaps", result)
    name = class_names[k]
    titles = [f"{name}: {int(np.sum(m))} px" for m in np.broadcast_to(masks, predicted.shape)]
    plots.explanation_overlays(
        x, maps, masks=np.broadcast_to(masks, predicted.shape), titles=titles, path=path, note=note
    )
    return k, maps


# ---------------------------------------------------------------------------- the runs
def train_segmentation(config, log=print, resume=False):
    """Train a U-Net on ``config.data`` (segmentation), evaluate it on the test split and write the
    run folder; returns a tinydl.run.TrainResult. Called by ``tinydl.run.train_run``."""
    from . import cuda, data, models
    from .random import manual_seed
    from .run_results import TrainResult

    log = log or _quiet
    if config.model != "unet":
        raise ValueError(f"--model {config.model}: segmentation trains a U-Net; use --model unet (the default)")
    if config.dropout is not None:
        raise ValueError("--dropout: the U-Net has no dropout layer")
    given = [
        flag
        for flag, used in (
            ("--members", config.members not in (None, 1)),
            ("--tta", bool(config.tta)),
            ("--label-smoothing", bool(config.label_smoothing)),
            ("--normalize half", config.normalize == "half"),
        )
        if used
    ]
    if given:
        raise ValueError(f"{', '.join(given)}: classifier options; segmentation does not use them")
    if config.device == "cuda":
        cuda.require()
    splits = load_segmentation_splits(config, log=log)
    train, val, test = splits["train"], splits["val"], splits["test"]
    classes = list(train.classes)
    x_test, y_test = data.check_images_and_masks(*test.arrays(), "test data", len(classes))
    height, width = train.image_shape[1:]
    side = config.image_size or working_size(height, width, config.depth)
    manual_seed(config.seed)
    model = models.create(
        "unet",
        in_channels=train.n_channels,
        num_classes=len(classes),
        base_width=config.base_width,
        depth=config.depth,
        resample_to=side,
    ).to(config.device)
    augment = (
        data.segmentation_augmentation(
            flip=config.flip,
            degrees=AUGMENT_DEGREES,
            scale=AUGMENT_SCALE,
            shift=AUGMENT_SHIFT,
            brightness=config.brightness,
            contrast=config.contrast,
            seed=config.seed,
        )
        if config.augment
        else None
    )
    trainer = config_trainer(
        config, model, "segmentation", augment, dice_weight=config.dice_weight, class_names=classes
    )
    folder = claim_config_folder(config, f"{train.name}-unet-seed{config.seed}", resume)
    out = folder.path
    try:
        folder.write_settings(config.as_metadata(), status="training")
        log(
            f"Training unet ({model.num_parameters():,} parameters, computing at {side}×{side}) for "
            f"{config.epochs} epochs; run folder {out}"
        )
        started = time.perf_counter()
        history = trainer.fit(train, val, checkpoint=folder.checkpoint, resume=resume)
        seconds = time.perf_counter() - started
        _, predicted = predict_masks(model, x_test, trainer.normalizer)
        report = report_for(
            y_test,
            predicted,
            classes,
            train,
            "test",
            {
                "train_seconds": round(seconds, 2),
                "best_epoch": trainer.best_epoch,
                "monitor": trainer.monitor_used,
                "best_validation_score": trainer.best_score,
            },
        )
        metadata = {
            "class_names": classes,
            "task": "segmentation",
            "normalization": trainer.normalizer.to_dict() if trainer.normalizer else None,
            "dataset": train.name,
            "dataset_source": train.source,
            "dataset_md5": getattr(train, "md5", None),
            "dataset_file": str(Path(train.path).resolve()) if getattr(train, "path", None) else None,
            "image_shape": list(x_test.shape[1:]),
            "intensity": getattr(train, "intensity_spec", None),
            "intensity_text": train.intensity,
            "working_size": side,
            "seed": config.seed,
            "training": config.as_metadata(),
            "metrics": {"dice": report["dice"], "mean_dice": report["mean_dice"]},
            "best_epoch": trainer.best_epoch,
            **data_marks(train),
        }

        def write_plots(staged):
            if not config.no_plots:
                note = plot_note(train.name)
                segmentation_plots(staged, x_test, y_test, predicted, classes, history, trainer.best_epoch, note)
                picks = np.linspace(0, len(x_test) - 1, min(4, len(x_test))).round().astype(int)
                gradcam_figure(model, x_test[picks], trainer.normalizer, classes, staged / "gradcam.png", note=note)

        write_run_files(folder, config, model, metadata, report, history, write_plots)
    finally:
        folder.release()
    return TrainResult(run_dir=out, report=report, history=history, model=model, trainer=trainer, seconds=seconds)


def _saved_split(meta, split, data_dir, log):
    """The ``split`` of the data a saved segmentation run was trained on (same intensity step)."""
    from . import data

    name = meta["dataset"]
    options = {"intensity": meta.get("intensity") or "auto", "classes": meta["class_names"]}
    saved_file = meta.get("dataset_file")
    if name not in data.SEGMENTATION and not name.startswith("synthetic") and saved_file:
        # A file given by its path: the same file again, or its namesake in --data-dir if it moved.
        name = str(Path(data_dir) / Path(saved_file).name) if data_dir else saved_file
    dataset = data.load_segmentation(name, split, root=data_dir, hints="cli", **options)
    (log or _quiet)(describe(dataset))
    return dataset


def evaluate_segmentation(folder, model, meta, normalizer, split="test", data_dir=None, out=None, log=print):
    """metrics.json and plots of a saved segmentation run on ``split`` (see tinydl.run.evaluate_run)."""
    from .run_results import EvaluationResult, prepare_run_folder

    dataset = _saved_split(meta, split, data_dir, log)
    x, y = dataset.arrays()
    _check_channels(x.shape[1], meta)
    _, predicted = predict_masks(model, x, normalizer)
    report = report_for(y, predicted, meta["class_names"], dataset, split)
    out = prepare_run_folder(out or Path(folder) / f"eval-{split}")
    write_json(out / "metrics.json", report)
    segmentation_plots(out, x, y, predicted, meta["class_names"], note=plot_note(meta["dataset"]))
    return EvaluationResult(out_dir=out, report=report, dataset=meta["dataset"])


def _check_channels(channels, meta):
    expected = (meta.get("image_shape") or [None])[0]
    if expected is not None and channels != expected:
        raise ValueError(f"images have {channels} channel(s) but the model was trained on {expected}")


def read_image(path, meta):
    """One image file for a saved segmentation run → (float32 (C, H, W), what was done to its values).

    ``.npy`` arrays ((H, W), (H, W, C) or (C, H, W)) get the run's own intensity step (a CT window on
    Hounsfield units, MR normalisation, …) when they are not 8-bit; PNG/JPEG files are display
    images (0–255, already windowed) and are scaled to [0, 1]. The size is kept: the U-Net resizes."""
    from . import data

    path = Path(path).expanduser()
    channels = meta["image_shape"][0]
    if not path.is_file():
        raise data.DataFileNotFoundError(f"image not found: {path}", [path])
    suffix = path.suffix.lower()
    if suffix not in PREDICTION_IMAGE_TYPES:
        raise ValueError(f"{path}: unsupported image type {suffix!r}; use one of {PREDICTION_IMAGE_TYPES}")
    if suffix != ".npy":
        image = data.load_image(path, channels=channels, size=None)
        return image, "8-bit picture / 255"
    problem = data.numpy_file_problem(path, "npy")
    if problem:
        raise data.DataFileError(problem)
    try:
        raw = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise data.DataFileError(data.pickle_refusal(path)) from e
    if raw.ndim == 3 and raw.shape[0] == channels and raw.shape[-1] != channels:
        raw = np.moveaxis(raw, 0, -1)  # (C, H, W) → (H, W, C), the layout of the data files
    if raw.ndim == 3 and raw.shape[-1] == 1:
        raw = raw[..., 0]
    if raw.ndim not in (2, 3) or (raw.ndim == 3 and raw.shape[-1] != channels):
        raise ValueError(f"{path}: expected an image (H, W) or (H, W, {channels}), got an array of shape {raw.shape}")
    if raw.dtype.kind not in "biuf":
        raise ValueError(f"{path}: pixels must be numbers, got dtype {raw.dtype}")
    spec = meta.get("intensity")
    if spec is None:
        image = data.images_to_nchw(raw[None])[0] if raw.dtype == np.uint8 else np.asarray(raw, np.float32)[None]
        return image, "as stored"
    image = data.apply_intensity(raw[None], spec)[0]
    return image, meta.get("intensity_text") or str(spec)


def _prediction_folder(folder, out):
    """Where predict writes: ``out`` (never over existing files), else <run>/predictions, -2, -3 …"""
    if out is not None:
        out = Path(out)
        return out
    base = Path(folder) / "predictions"
    candidate, n = base, 1
    while candidate.exists() and any(candidate.iterdir()):
        n += 1
        candidate = base.with_name(f"predictions-{n}")
    return candidate


CLASS_COLOURS = np.array(  # RGB of classes 1, 2, … in overlays (class 0, the background, is left clear)
    [[230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48], [145, 30, 180], [70, 240, 240]],
    dtype=np.float32,
)


def colour_overlay(image, mask, alpha=0.45):
    """An RGB uint8 picture (H, W, 3) of ``image`` (C, H, W) in grey (or its colours) with each
    foreground class of ``mask`` (H, W) tinted in its colour (CLASS_COLOURS, cycling past 7)."""
    from .plots import as_display_image

    shown = np.asarray(as_display_image(image), dtype=np.float32)
    if shown.max() <= 1.0:
        shown = shown * 255.0
    rgb = np.repeat(shown[..., None], 3, axis=2) if shown.ndim == 2 else shown[..., :3].copy()
    for k in np.unique(mask):
        if k == 0:
            continue
        colour = CLASS_COLOURS[(int(k) - 1) % len(CLASS_COLOURS)]
        where = mask == k
        rgb[where] = (1 - alpha) * rgb[where] + alpha * colour
    return np.clip(rgb, 0, 255).astype(np.uint8)


def write_png(path, pixels):
    """A uint8 array (H, W) or (H, W, 3) as a PNG, atomically (Pillow, which matplotlib already needs)."""
    from PIL import Image

    from .files import write_atomically

    picture = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8))
    write_atomically(path, lambda f: picture.save(f, format="PNG"))


def write_npy(path, array):
    from .files import write_atomically

    write_atomically(path, lambda f: np.save(f, np.asarray(array), allow_pickle=False))


def predict_segmentation(folder, model, meta, normalizer, images, out=None):
    """Masks of image files (see tinydl.run.predict_images): for each, ``<stem>_mask.png`` (pixel
    value = class index: 0, 1, 2 …, exact, not for the eye), ``<stem>_mask.npy`` (the int64 label
    map), ``<stem>_overlay.png`` (the classes tinted over the image, for the eye). Returns one dict
    per image: the files written, the pixels and share of each class, what was done to the values.
    Nothing is overwritten: an existing file of the same name is an error (pass another ``out``)."""
    names = [str(n) for n in meta["class_names"]]
    out_dir = _prediction_folder(folder, out)
    stems = [Path(p).stem for p in images]
    if len(set(stems)) != len(stems):
        raise ValueError(f"two images share a file name stem ({stems}): their masks would overwrite each other")
    rows = []
    for path, stem in zip(images, stems):
        image, scaling = read_image(path, meta)
        _check_channels(image.shape[0], meta)
        probs, predicted = predict_masks(model, image[None], normalizer)
        mask = predicted[0].astype(np.int64)
        targets = {kind: out_dir / f"{stem}_{kind}" for kind in ("mask.png", "mask.npy", "overlay.png")}
        taken = [str(t) for t in targets.values() if t.exists()]
        if taken:
            raise FileExistsError(f"predict: {taken[0]} exists already; nothing was overwritten (give another --out)")
        if mask.max() > 255:
            raise ValueError(f"{len(names)} classes do not fit in an 8-bit PNG mask; use the .npy mask")
        write_png(targets["mask.png"], mask.astype(np.uint8))
        write_npy(targets["mask.npy"], mask)
        write_png(targets["overlay.png"], colour_overlay(image, mask))
        counts = np.bincount(mask.reshape(-1), minlength=len(names))
        rows.append(
            {
                "image": str(path),
                "mask_png": str(targets["mask.png"]),
                "mask_npy": str(targets["mask.npy"]),
                "overlay_png": str(targets["overlay.png"]),
                "pixels": {n: int(c) for n, c in zip(names, counts)},
                "fraction": {n: round(float(c) / mask.size, 4) for n, c in zip(names, counts)},
                "mean_probability": {
                    n: round(float(probs[0, k][mask == k].mean()), 4) if counts[k] else None
                    for k, n in enumerate(names)
                },
                "scaling": scaling,
            }
        )
    return rows


def explain_segmentation(
    folder,
    model,
    meta,
    normalizer,
    images=(),
    split="test",
    n=8,
    layer=None,
    data_dir=None,
    out=None,
    target=None,
    log=print,
):
    """Grad-CAM of one class (``target``: a name or index; default the first foreground class) over
    the pixels the model gives that class, for image files or ``n`` images of ``split``, as one PNG
    (default <run>/gradcam-<class>-images.png or -<split>.png). Returns a tinydl.run.ExplanationResult
    whose predictions are (file name, class explained, share of its pixels)."""
    from .run_results import ExplanationResult

    names = [str(c) for c in meta["class_names"]]
    k = target_class(target, names)
    if images:
        loaded = [read_image(p, meta)[0] for p in images]
        sizes = sorted({im.shape[1:] for im in loaded})
        if len(sizes) > 1:
            raise ValueError(
                f"explain: the images must share one size to go in one figure, got {sizes}; explain them one at a time"
            )
        x = np.stack(loaded)
        default = Path(folder) / f"gradcam-{names[k]}-images.png"
    else:
        dataset = _saved_split(meta, split, data_dir, log)
        x, y = dataset.arrays()
        # The images where the class is largest say the most; ties and absent classes by index.
        order = np.argsort(-(y == k).reshape(len(y), -1).sum(axis=1), kind="stable")
        x = x[np.sort(order[: min(n, len(x))])]
        default = Path(folder) / f"gradcam-{names[k]}-{split}.png"
    _check_channels(x.shape[1], meta)
    path = Path(out) if out else default
    _, predicted = predict_masks(model, x, normalizer)
    gradcam_figure(model, x, normalizer, names, path, target=k, layer=layer, note=plot_note(meta["dataset"]))
    shares = (predicted == k).reshape(len(x), -1).mean(axis=1)
    predictions = [(Path(p).name, names[k], float(v)) for p, v in zip(images, shares)]
    return ExplanationResult(path=path, predictions=predictions)
