"""Whole runs: train a model into a run folder, then evaluate, predict and explain with it.

What ``tinydl train|evaluate|predict|explain`` do, as Python functions: the
command line only turns its flags into these calls, so one call here writes
the same files and the same figures as the command::

    import tinydl as td

    result = td.train_run(td.RunConfig(data="pneumoniamnist", epochs=10, out="runs/pneumonia"))
    result.report["auc"], result.run_dir          # test figures; the run folder
    td.evaluate_run("runs/pneumonia", split="val").report
    td.predict_images("runs/pneumonia", ["xray1.png"])       # one dict per image: class, probabilities
    td.explain_run("runs/pneumonia", ["xray1.png"], out="cam.png")

A run folder holds ``model.npz`` (weights and metadata), ``metadata.json``,
``metrics.json`` (test figures), ``history.csv`` (one row per epoch) and PNG
plots. Messages (which data were loaded, what is being trained) go through
``log`` (``print`` by default; ``log=None`` for silence); a warning that the
real data set was missing and synthetic images were used always goes to stderr.
"""

import dataclasses
import os
import sys
import time
from pathlib import Path

import numpy as np

from . import recipes, run_folder
from .run_results import (  # noqa: F401  (td.run.TrainResult, td.run.plot_note, … as before)
    EvaluationResult,
    ExplanationResult,
    TrainResult,
    claim_config_folder,
    config_trainer,
    data_marks,
    plot_note,
    prepare_run_folder,
    rescue_weights,
    write_json,
    write_run_files,
)
from .segmentation_run import SEGMENTATION_RECIPE


def _quiet(message):
    """A ``log`` that says nothing."""


# ---------------------------------------------------------------------------- configuration
@dataclasses.dataclass
class RunConfig:
    """Everything ``train_run`` needs; one field per flag of ``tinydl train`` (``--no-plots`` ↔ ``no_plots``).

    The fields are saved as the ``training`` entry of ``metadata.json``, so a run
    folder says how it was made.
    """

    # data set name (see `tinydl datasets`), "synthetic", or a folder of images (train/ [val/] test/ of
    # class folders, or class folders only). None: pneumoniamnist, falling back to synthetic images when
    # it is missing (the README's first command) — a data set named explicitly never falls back.
    data: str | None = None
    data_dir: str | None = None  # folder with the .npz files (None: $TINYDL_DATA_DIR, then the cache)
    no_download: bool = False  # do not download a data set that is not found locally
    no_synthetic_fallback: bool = False  # fail when the data set is missing instead of using synthetic images
    # "classification" or "segmentation"; None: segmentation when `data` names a segmentation set
    # (td.data.SEGMENTATION, "synthetic-segmentation"), else classification. The fields left None
    # below are then filled from the task's recipe (RECIPES), so the saved settings say what ran.
    task: str | None = None
    # classifiers: "default", "medmnist-paper" (the MedMNIST v2 benchmark's ResNet-18 protocol) or "best"
    # (chosen from the training data's properties when they are loaded); see tinydl.recipes. None: default.
    recipe: str | None = None
    # "small_cnn" (the article's CNN), "convnet", "resnet" (--base-width, --depth), "resnet18"; "unet" for segmentation
    model: str | None = None
    epochs: int | None = None  # recipe: 10 (classification), 30 (segmentation)
    batch_size: int | None = None  # recipe: 32, 8
    lr: float | None = None  # recipe: 1e-3, 3e-3
    optimizer: str | None = None  # "adam", "adamw" or "sgd" (recipe: adam)
    weight_decay: float | None = None  # L2 penalty λ (recipe: 0)
    dropout: float | None = None  # dropout probability (convnet only)
    augment: bool | None = None  # random rotations, shifts, brightness/contrast (recipe: off, on)
    brightness: float | None = None  # with augment: brightness change, ± (recipe: 0.1, 0)
    contrast: float | None = None  # with augment: contrast change, ± (recipe: 0.15, 0)
    flip: bool | None = None  # with augment: also random left-right flips (recipe: off)
    class_weights: str | None = None  # "none" or "balanced" (recipe: none)
    schedule: str | None = None  # "none", "cosine", "step" or "multistep" (recipe: none, cosine)
    early_stopping: int | None = None  # stop after this many epochs without improvement (None: never)
    monitor: str | None = None  # "val_auc", "val_acc", "val_dice" or "val_loss" (recipe: val_auc, val_dice)
    normalize: str | None = None  # "train" (the training set's mean and std) or "half" ((x − 0.5) / 0.5)
    label_smoothing: float | None = None  # classifiers: ε of label smoothing (recipe: 0)
    members: int | None = None  # classifiers: models trained from seeds seed, seed+1000, … and averaged (recipe: 1)
    tta: bool | None = None  # classifiers: also average over the left-right mirror at test time (recipe: off)
    device: str = "cpu"  # "cpu" or "cuda"
    seed: int = 0
    out: str | None = None  # run folder (None: runs/<data>-<model>-seed<seed>)
    no_plots: bool = False  # skip the PNG plots
    quiet: bool = False  # no progress line
    val_fraction: float = 0.1  # image folders without val/: the share of each class drawn for validation
    test_fraction: float = 0.1  # image folders without test/: the share of each class drawn for testing
    image_size: int | None = None  # image folders: resize to N×N; segmentation: the U-Net's working size
    # segmentation only
    base_width: int = 16  # the U-Net's (and --model resnet's) first width, doubled at each level
    depth: int = 3  # the U-Net's number of poolings (resnet: its number of stages)
    dice_weight: float = 1.0  # loss = cross-entropy + dice_weight · soft Dice
    intensity: str = "auto"  # "auto" (from the values: CT window for Hounsfield units, …), "ct", "mr", "minmax", "none"
    ct_window: tuple | None = None  # with intensity "ct": (level, width) in HU (None: 50, 400)

    force: bool = False  # replace the run already in `out` (never a folder of other files)

    def __post_init__(self):
        if self.task is None:
            self.task = "segmentation" if is_segmentation_data(self.data) else "classification"
        if self.task not in RECIPES:
            raise ValueError(f"--task must be one of {sorted(RECIPES)}, got {self.task!r}")
        if self.recipe is None:
            self.recipe = "default"
        if self.recipe not in recipes.RECIPE_NAMES:
            raise ValueError(f"--recipe must be one of {list(recipes.RECIPE_NAMES)}, got {self.recipe!r}")
        if self.task == "segmentation" and self.recipe != "default":
            raise ValueError(f"--recipe {self.recipe} is for classifiers; segmentation has its own recipe")
        # "best" is decided from the training data, so its fields stay None until train_run has read them.
        if self.recipe != "best":
            self.fill(RECIPES[self.task] if self.recipe == "default" else recipes.MEDMNIST_PAPER_RECIPE)
        if self.ct_window is not None:
            self.ct_window = tuple(self.ct_window)
        check_numbers(self)

    def fill(self, recipe):
        """Set the fields still None from ``recipe`` (a dict of fields), the defaults underneath; check them."""
        for field, value in {**recipes.DEFAULT_RECIPE, **recipe}.items():
            if getattr(self, field) is None:
                setattr(self, field, value)
        check_numbers(self)

    def as_metadata(self):
        """The fields as JSON-ready values (paths as text), in the order above."""
        return {k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in dataclasses.asdict(self).items()}


CLASSIFICATION_RECIPE = recipes.DEFAULT_RECIPE


RECIPES = {"classification": CLASSIFICATION_RECIPE, "segmentation": SEGMENTATION_RECIPE}  # {task: its defaults}


def is_segmentation_data(name):
    """True when a --data value names a known segmentation set (td.data.SEGMENTATION) or the synthetic one."""
    from .data import segmentation

    return name is not None and (str(name) in segmentation.SEGMENTATION or str(name) == "synthetic-segmentation")


# The numeric options a user types, each with the range it must lie in: (low, high, high included).
# Checked when a RunConfig is made, so `--weight-decay nan` is blamed on --weight-decay, not on the
# optimiser's learning rate three layers down.
NUMBER_RANGES = {
    "lr": (0.0, None, "a finite number > 0"),
    "weight_decay": (0.0, None, "a finite number ≥ 0"),
    "dropout": (0.0, 1.0, "a number in [0, 1)"),
    "brightness": (0.0, 1.0, "a number in [0, 1]"),
    "contrast": (0.0, 1.0, "a number in [0, 1]"),
    "val_fraction": (0.0, 1.0, "a number in [0, 1)"),
    "test_fraction": (0.0, 1.0, "a number in [0, 1)"),
    "dice_weight": (0.0, None, "a finite number ≥ 0"),
    "label_smoothing": (0.0, 1.0, "a number in [0, 1)"),
}
WHOLE_NUMBERS = {
    "epochs": 1,
    "batch_size": 1,
    "early_stopping": 1,
    "image_size": 8,
    "base_width": 1,
    "depth": 1,
    "members": 1,
}
CHOICES = {
    "optimizer": ("adam", "adamw", "sgd"),
    "class_weights": ("none", "balanced"),
    "schedule": ("none", "cosine", "step", "multistep"),
    "normalize": ("train", "half"),
}
# Fields a recipe may leave None until the data are read (--recipe best): not checked while None.
RECIPE_FIELDS = tuple(recipes.DEFAULT_RECIPE) + ("base_width", "depth")


def option_name(field):
    """The `tinydl train` flag of a RunConfig field: weight_decay → --weight-decay."""
    return "--" + field.replace("_", "-")


def check_numbers(config):
    """Raise ValueError naming the flag when a numeric RunConfig field is out of its range (or NaN)."""
    for field, (low, high, what) in NUMBER_RANGES.items():
        value = getattr(config, field)
        if value is None and (field == "dropout" or field in RECIPE_FIELDS):
            continue
        ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and np.isfinite(value)
        if ok:
            if field == "lr":
                ok = value > low
            elif "[0, 1)" in what:
                ok = low <= value < high
            else:
                ok = value >= low and (high is None or value <= high)
        if not ok:
            raise ValueError(f"{option_name(field)} must be {what}, got {value!r}")
    for field, least in WHOLE_NUMBERS.items():
        value = getattr(config, field)
        if value is None and (field in ("early_stopping", "image_size") or field in RECIPE_FIELDS):
            continue
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < least:
            raise ValueError(f"{option_name(field)} must be a whole number ≥ {least}, got {value!r}")
    for field, allowed in CHOICES.items():
        value = getattr(config, field)
        if value is not None and value not in allowed:
            raise ValueError(f"{option_name(field)} must be one of {list(allowed)}, got {value!r}")
    if config.val_fraction + config.test_fraction >= 1:
        raise ValueError(
            f"--val-fraction + --test-fraction must be below 1, got {config.val_fraction} + {config.test_fraction}"
        )


# ---------------------------------------------------------------------------- run folders
def run_paths(run_dir):
    """(folder, model file) of a run: ``run_dir`` is a run folder or its ``model.npz``."""
    run_dir = Path(run_dir)
    model_path = run_dir if run_dir.suffix == ".npz" else run_dir / "model.npz"
    if not model_path.is_file():
        raise FileNotFoundError(f"no model file at {model_path}; give a run folder written by `tinydl train`")
    return model_path.parent, model_path


def load_run(run_dir, device="cpu"):
    """(folder, model, metadata, normalizer) of a run written by ``train_run``, the model on ``device``."""
    from . import cuda, serialization
    from .train import Normalizer

    folder, model_path = run_paths(run_dir)
    model = serialization.load(model_path)
    meta = model.metadata
    missing = [key for key in ("task", "class_names", "image_shape", "dataset") if key not in meta]
    if missing:
        raise ValueError(
            f"{model_path} lacks the metadata {missing} that the command line needs; it was saved "
            "without them (e.g. by td.save alone) — save with the keys that `tinydl train` writes"
        )
    normalizer = Normalizer.from_dict(meta["normalization"]) if meta.get("normalization") else None
    if device != "cpu":
        cuda.require()
        model.to(device)  # saved weights are NumPy arrays: any run loads on the CPU or the GPU
    return folder, model, meta, normalizer


# ---------------------------------------------------------------------------- data
DEFAULT_DATA = "pneumoniamnist"  # what `tinydl train` without --data trains on


def is_image_folder(name):
    """True when ``name`` (a --data value) is an existing folder: a folder of your own images."""
    return name is not None and Path(os.fspath(name)).expanduser().is_dir()


def load_splits(
    name,
    data_dir=None,
    download=False,
    fallback=True,
    splits=("train", "val", "test"),
    log=print,
    val_fraction=0.1,
    test_fraction=0.1,
    seed=0,
    image_size=None,
):
    """{split: data set} of ``name``: from ``data_dir`` / TINYDL_DATA_DIR / the cache, else downloaded
    (when ``download``), else — when ``fallback`` — the built-in synthetic set; ``log`` says which.

    When ``name`` is a folder, its images are read instead (``td.data.folders``: train/ [val/] test/,
    or class folders split by ``val_fraction`` / ``test_fraction`` with ``seed``, at ``image_size``);
    each data set then has ``files``, the paths of its images, for the run's ``splits.json``.
    """
    import warnings

    from . import data

    log = log or _quiet
    if is_image_folder(name):
        folder = data.folders.load_image_folders(name, val_fraction, test_fraction, seed, image_size)
        for split in splits:
            log(data.describe_source(folder[split]))
        return {split: folder[split] for split in splits}
    if any(sep in os.fspath(name) for sep in ("/", os.sep)):
        raise FileNotFoundError(f"--data {name}: no such folder (a folder of images, or a data set name)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", data.SyntheticFallbackWarning)
        first = data.load_dataset(
            name, splits[0], root=data_dir, download=download, fallback_synthetic=fallback, hints="cli"
        )
    fell_back = any(issubclass(w.category, data.SyntheticFallbackWarning) for w in caught)
    # The other splits come from the same place: the file found or downloaded, or — after a
    # fallback — the synthetic set at once (no second wait for a network that is not there).
    source = "synthetic" if fell_back else name
    loaded = {splits[0]: first, **{s: data.load_dataset(source, s, root=data_dir, hints="cli") for s in splits[1:]}}
    if fell_back:
        print(
            f"WARNING: {first.fallback_reason}; training on tinydl's SYNTHETIC images (not medical data). "
            "Set TINYDL_DATA_DIR or pass --data-dir to use real data.",
            file=sys.stderr,
        )
    log(data.describe_source(loaded[splits[0]]))
    return loaded


def config_splits(config, log=print):
    """The train, val and test sets of a RunConfig: the synthetic fallback only when --data was not given."""
    explicit = config.data is not None
    return load_splits(
        config.data if explicit else DEFAULT_DATA,
        config.data_dir,
        download=not config.no_download,
        # A data set asked for by name is that data set or an error: silently training on synthetic
        # images instead would give a model that looks trained on it.
        fallback=not explicit and not config.no_synthetic_fallback,
        log=log,
        val_fraction=config.val_fraction,
        test_fraction=config.test_fraction,
        seed=config.seed,
        image_size=config.image_size,
    )


def write_data_files(run_dir, splits):
    """Into the run folder: ``splits.json`` (the files of each split) when the data are an image folder."""
    from . import data

    if getattr(splits["train"], "files", None) is not None:
        data.folders.write_split_file(Path(run_dir) / data.folders.SPLIT_FILE, splits)


def _load_saved_split(meta, split, data_dir, log, run_dir=None):
    """The ``split`` of the data a saved run was trained on: an image folder's files again (from the
    run's splits.json; ``data_dir`` replaces the folder if it moved), or the data set (synthetic runs
    fall back to synthetic)."""
    from . import data

    split_file = Path(run_dir) / data.folders.SPLIT_FILE if run_dir is not None else None
    if split_file is not None and split_file.is_file():
        dataset = data.folders.read_split_file(split_file, split, root=data_dir)
        (log or _quiet)(data.describe_source(dataset))
        return dataset
    if str(meta.get("dataset_source", "")).startswith("image folder"):
        raise FileNotFoundError(
            f"this run was trained on an {meta['dataset_source']} but its {data.folders.SPLIT_FILE} "
            f"(the files of each split) is missing from {run_dir}; it cannot be evaluated on the same files"
        )
    return load_splits(
        meta["dataset"], data_dir, fallback=meta["dataset"].startswith("synthetic"), splits=(split,), log=log
    )[split]


def check_image_shape(shape, meta):
    """Raise ValueError unless images of ``shape`` (C, H, W) are what the saved model was trained on."""
    expected = tuple(meta.get("image_shape") or ())
    if expected and tuple(shape) != expected:
        raise ValueError(f"images have shape {tuple(shape)} (C, H, W) but the model was trained on {expected}")


def check_class_names(probs, meta, run_dir):
    """Raise ValueError unless the run's metadata names one class per output of its model."""
    names = meta.get("class_names") or []
    if probs.ndim == 2 and len(names) != probs.shape[1]:
        raise ValueError(
            f"the metadata of {run_dir} (class_names in model.npz / metadata.json) names {len(names)} "
            f"class(es) {names}, but the model has {probs.shape[1]} outputs; the run folder is damaged or "
            "was edited: give class_names one name per output"
        )


def read_images(paths, meta, with_depths=False):
    """Image files (.png, .jpg, .jpeg, .npy) as one (N, C, H, W) array in the saved model's channels and size.

    16-bit files are scaled by their bit depth (12 or 16; the depth the model was trained with when
    its metadata says); ``with_depths=True`` also returns the depth used for each file.
    """
    from . import data

    channels, height, width = meta["image_shape"]
    x, depths = data.load_images(paths, channels=channels, size=(height, width), bit_depth=meta.get("bit_depth"))
    return (x, depths) if with_depths else x


# ---------------------------------------------------------------------------- figures
def evaluation_plots(out, x, y, probs, class_names, task, history=None, note=None):
    """The PNG plots of a run folder: training curves (with ``history``), confusion matrix,
    calibration, sample predictions (single-label tasks) and ROC curves; ``note`` (e.g. that the
    data are synthetic) above each."""
    from . import metrics, plots

    out = Path(out)
    if history is not None:
        plots.training_curves(history, out / "training_curves.png", note=note)
    if not task.startswith("multi-label"):
        matrix = metrics.confusion_matrix(y, metrics.predicted_classes(probs, task), num_classes=probs.shape[1])
        plots.confusion_matrix(matrix, class_names, out / "confusion_matrix.png", note=note)
        plots.reliability(y, probs, path=out / "calibration.png", note=note)
        plots.sample_predictions(x, y, probs, class_names, path=out / "sample_predictions.png", note=note)
    plots.roc_curves(y, probs, class_names, task, out / "roc_curve.png", note=note)


def gradcam_figure(model, x, normalizer, class_names, path, layer=None, titles=None, note=None):
    """Grad-CAM overlays of images x (N, C, H, W) as one PNG at ``path``; returns the class probabilities."""
    from . import explain
    from .models import SoftVotingEnsemble
    from .train import predict_proba

    inputs = normalizer(x) if normalizer is not None else x
    if isinstance(model, SoftVotingEnsemble):
        # The maps explain the first member (an average of heat maps explains no single network);
        # the titles give the ensemble's own prediction.
        maps = explain.grad_cam(model.members[0], inputs, layer=layer)
        probs = predict_proba(model, inputs)
        extra = f"Grad-CAM of ensemble member 1 of {len(model.members)}; titles: the ensemble's prediction"
        note = f"{note} · {extra}" if note else extra
    else:
        maps, probs = explain.grad_cam(model, inputs, layer=layer, return_probs=True)
    if class_names and len(class_names) != probs.shape[1]:  # else names[argmax] is an IndexError
        raise ValueError(
            f"class_names (in the run's metadata) names {len(class_names)} class(es) {list(class_names)}, but "
            f"the model has {probs.shape[1]} outputs; give class_names one name per output"
        )
    if titles is None:
        names = list(class_names) if class_names else [str(i) for i in range(probs.shape[1])]
        titles = [f"{names[int(p.argmax())]} ({p.max():.2f})" for p in probs]
    explain.plot_explanations(x, maps, titles=titles, path=path, note=note)
    return probs


# ---------------------------------------------------------------------------- the runs
CLASSIFIERS = ("small_cnn", "convnet", "resnet", "resnet18")  # --model choices of a classifier
MEMBER_SEED_STEP = 1000  # ensemble member k of a run with --seed s trains from seed s + 1000·k


def fill_data_recipe(config, train, log):
    """``--recipe best``: fill the settings still None from the training data's properties
    (tinydl.recipes.best_recipe), log why, and return the reasons (None for the other recipes)."""
    if config.recipe != "best":
        return None
    log = log or _quiet
    props = recipes.data_properties(train)
    settings, reasons = recipes.best_recipe(props)
    given = {field: getattr(config, field) for field in settings if getattr(config, field) is not None}
    config.fill(settings)
    overridden = {field: value for field, value in given.items() if value != settings[field]}
    if overridden:
        reasons.append(
            "given on the command line, over the recipe: "
            + ", ".join(f"{option_name(f)} {v} (recipe: {settings[f]})" for f, v in overridden.items())
        )
    log("Recipe best, from the training data (" + ", ".join(f"{k} {v}" for k, v in props.items()) + "):")
    for reason in reasons:
        log(f"  {reason}")
    return {"properties": props, "choices": reasons}


def half_normalizer(channels):
    """(x − 0.5) / 0.5 on every channel: the MedMNIST v2 paper's transforms.Normalize(mean=[.5], std=[.5])."""
    from .train import Normalizer

    return Normalizer([0.5] * channels, [0.5] * channels)


def classifier_args(config, channels, outputs, image_size):
    """The zoo constructor's arguments for ``config.model`` on images of ``channels`` × ``image_size``²."""
    args = {"in_channels": channels, "num_classes": outputs, "image_size": image_size}
    if config.model == "resnet":
        args["blocks"] = [1] * config.depth
        args["widths"] = [config.base_width * 2**stage for stage in range(config.depth)]
    if config.dropout is not None:
        if config.model not in ("convnet", "resnet"):
            raise ValueError(f"--dropout: the {config.model} model has no dropout layer; use --model convnet or resnet")
        args["dropout"] = config.dropout
    return args


def train_run(config, log=print, resume=False):
    """Train ``config.model`` on ``config.data``, evaluate it on the test split and write the run
    folder (as ``tinydl train``); returns a TrainResult. ``config``: a RunConfig.

    The run folder is claimed before the first epoch (:mod:`tinydl.run_folder`): an existing run is
    never replaced unless ``config.force``; ``resume=True`` continues from its ``checkpoint.npz``."""
    from . import cuda, data, metrics, models
    from .ops.normalization import check_dropout_probability
    from .random import manual_seed

    if config.task == "segmentation":
        from .segmentation_run import train_segmentation

        return train_segmentation(config, log=log, resume=resume)
    log = log or _quiet
    if config.model is not None and config.model not in CLASSIFIERS:
        raise ValueError(
            f"--model {config.model}: a classifier is one of {', '.join(CLASSIFIERS)} (unet is for --task segmentation)"
        )
    if config.monitor == "val_dice":
        raise ValueError(
            "--monitor val_dice is for --task segmentation; a classifier monitors val_auc, val_acc or val_loss"
        )
    if config.dropout is not None:  # checked before any data is read, naming the option
        check_dropout_probability(config.dropout, "--dropout")
    if config.device == "cuda":
        cuda.require()  # fail before loading the data when there is no usable GPU
    splits = config_splits(config, log=log)
    train, val, test = splits["train"], splits["val"], splits["test"]
    recipe_reasons = fill_data_recipe(config, train, log)
    multi_label = train.task.startswith("multi-label")
    num_outputs = train.labels.shape[1] if multi_label else train.n_classes
    # The test split passes the training data's checks before epoch 1 (train and val: in Trainer.fit).
    x_test, y_test = data.check_images_and_labels(*test.arrays(), "test data", int(num_outputs), train.task)
    model_args = classifier_args(config, train.n_channels, int(num_outputs), train.image_shape[1])
    # The run folder is claimed before epoch 1: a lock, the settings, then a checkpoint after every epoch.
    folder = claim_config_folder(config, f"{train.name}-{config.model}-seed{config.seed}", resume)
    out = folder.path
    try:
        folder.write_settings(config.as_metadata(), status="training")
        started = time.perf_counter()
        trainers = []
        for member in range(config.members):  # one model unless the recipe ensembles
            # Member k trains from seed + MEMBER_SEED_STEP·k: runs with seeds 0, 1, 2 share no member.
            seed = config.seed + MEMBER_SEED_STEP * member
            manual_seed(seed)
            model = models.create(config.model, **model_args).to(config.device)  # same seed, same weights anywhere
            augment = (
                data.default_augmentation(
                    flip=config.flip, brightness=config.brightness, contrast=config.contrast, seed=seed
                )
                if config.augment
                else None
            )
            trainer = config_trainer(
                config,
                model,
                train.task,
                augment,
                seed=seed,
                normalize=half_normalizer(train.n_channels) if config.normalize == "half" else True,
                label_smoothing=config.label_smoothing,
            )
            which = f" (member {member + 1} of {config.members}, seed {seed})" if config.members > 1 else ""
            log(
                f"Training {config.model} ({model.num_parameters():,} parameters) for {config.epochs} epochs{which}; "
                f"run folder {out}"
            )
            checkpoint = folder.checkpoint if member == 0 else out / f"checkpoint-member{member + 1}.npz"
            history = trainer.fit(train, val, checkpoint=checkpoint, resume=resume)
            if resume:
                log(
                    f"Resumed after epoch {trainer.resumed_from} from {checkpoint}"
                    if trainer.resumed_from is not None
                    else f"No usable checkpoint ({trainer.resume_problem}); trained from epoch 1"
                )
            trainers.append(trainer)
        # Member 1's history, best epoch and normaliser stand for the run (the normaliser is the same for
        # all); every member's own history is written as history-member<k>.csv and summed up in metrics.json.
        trainer = trainers[0]
        history = trainer.history
        if config.members > 1 or config.tta:
            views = ["identity", "hflip"] if config.tta else ["identity"]
            model = models.SoftVotingEnsemble.from_models(
                [t.model for t in trainers], views=views, multi_label=multi_label
            ).to(config.device)
            model.eval()
            trainer.model = model  # trainer.predict_proba now averages the members and views
        seconds = time.perf_counter() - started
        probs = trainer.predict_proba(x_test)
        report = metrics.evaluate(y_test, probs, task=train.task, class_names=list(train.classes))
        report.update(
            {
                "split": "test",
                "n_images": int(len(x_test)),
                "train_seconds": round(seconds, 2),
                "best_epoch": trainer.best_epoch,
                "monitor": trainer.monitor_used,
                "best_validation_score": trainer.best_score,
                "recipe": config.recipe,
                **data_marks(train),
            }
        )
        if len(trainers) > 1:
            report["members"] = [
                {"seed": t.seed, "best_epoch": t.best_epoch, "best_validation_score": t.best_score} for t in trainers
            ]
        metadata = {
            "class_names": list(train.classes),
            "task": train.task,
            "normalization": trainer.normalizer.to_dict() if trainer.normalizer else None,
            "dataset": train.name,
            "dataset_source": train.source,
            "dataset_md5": getattr(train, "md5", None),
            "image_shape": list(x_test.shape[1:]),
            "seed": config.seed,
            "training": config.as_metadata(),
            "recipe_reasons": recipe_reasons,
            "metrics": {k: report[k] for k in ("accuracy", "auc") if k in report},
            "best_epoch": trainer.best_epoch,
            "bit_depth": getattr(train, "bit_depth", None),  # image folders: how predict must scale new files
            **data_marks(train),
        }

        def write_more(staged):
            write_data_files(staged, splits)  # image folders: splits.json, the files of each split (td.data.folders)
            if len(trainers) > 1:
                for k, member_trainer in enumerate(trainers, start=1):
                    member_trainer.history.to_csv(staged / f"history-member{k}.csv")
            if not config.no_plots:
                note = plot_note(train.name)
                evaluation_plots(staged, x_test, y_test, probs, list(train.classes), train.task, history, note)
                if not multi_label:
                    gradcam_figure(
                        model, x_test[:8], trainer.normalizer, list(train.classes), staged / "gradcam.png", note=note
                    )

        write_run_files(folder, config, model, metadata, report, history, write_more)
    finally:
        folder.release()
    return TrainResult(run_dir=out, report=report, history=history, model=model, trainer=trainer, seconds=seconds)


def resume_run(run_dir, quiet=None, no_plots=None, log=print):
    """Continue a run that was killed or stopped (as ``tinydl train --resume RUN``): its own settings,
    from its last checkpoint (from epoch 1 when that is missing or torn); returns a TrainResult."""
    settings = run_folder.read_settings(run_dir)["settings"]
    known = {f.name for f in dataclasses.fields(RunConfig)}
    config = RunConfig(**{k: v for k, v in settings.items() if k in known})
    config.out = str(run_dir)
    if quiet is not None:
        config.quiet = quiet
    if no_plots is not None:
        config.no_plots = no_plots
    return train_run(config, log=log, resume=True)


def evaluate_run(run_dir, split="test", data_dir=None, out=None, device="cpu", log=print):
    """Metrics JSON and plots of a saved run on ``split`` of its data set, in ``out``
    (default: <run>/eval-<split>), as ``tinydl evaluate``; returns an EvaluationResult."""
    from . import metrics
    from .train import predict_proba

    folder, model, meta, normalizer = load_run(run_dir, device)
    if meta["task"] == "segmentation":
        from .segmentation_run import evaluate_segmentation

        return evaluate_segmentation(folder, model, meta, normalizer, split, data_dir, out, log)
    dataset = _load_saved_split(meta, split, data_dir, log or _quiet, run_dir=folder)
    x, y = dataset.arrays()
    check_image_shape(x.shape[1:], meta)
    probs = predict_proba(model, x, normalizer, meta["task"])
    check_class_names(probs, meta, folder)
    report = metrics.evaluate(y, probs, task=meta["task"], class_names=meta["class_names"])
    report.update({"split": split, "n_images": int(len(x)), **data_marks(dataset)})
    out = prepare_run_folder(out or folder / f"eval-{split}")
    write_json(out / "metrics.json", report)
    evaluation_plots(out, x, y, probs, meta["class_names"], meta["task"], note=plot_note(meta["dataset"]))
    return EvaluationResult(out_dir=out, report=report, dataset=meta["dataset"])


def predict_images(run_dir, images, device="cpu", out=None):
    """Class and probabilities of a saved run's model for image files, as ``tinydl predict``.

    Returns one dict per image: {"image", "class", "probabilities"} — or, for a
    multi-label model, {"image", "findings" (probability > 0.5), "probabilities"}.
    For a segmentation run the masks are written into ``out`` (default <run>/predictions) as
    PNG and .npy, with an overlay; see tinydl.segmentation_run.predict_segmentation.
    """
    from . import data, metrics
    from .train import predict_proba

    if isinstance(images, (str, os.PathLike)):
        images = [images]  # one file
    folder, model, meta, normalizer = load_run(run_dir, device)
    if meta["task"] == "segmentation":
        from .segmentation_run import predict_segmentation

        return predict_segmentation(folder, model, meta, normalizer, images, out=out)
    x, depths = read_images(images, meta, with_depths=True)
    probs = predict_proba(model, x, normalizer, meta["task"])
    check_class_names(probs, meta, folder)
    names = meta["class_names"]
    rows = []
    for path, p, depth in zip(images, probs, depths):
        if meta["task"].startswith("multi-label"):
            rows.append(
                {
                    "image": path,
                    "findings": [names[j] for j in np.flatnonzero(p > 0.5)],
                    "probabilities": {n: round(float(v), 4) for n, v in zip(names, p)},
                }
            )
        else:
            rows.append(
                {
                    "image": path,
                    "class": names[int(metrics.predicted_classes(p[None], meta["task"])[0])],
                    "probabilities": {n: round(float(v), 4) for n, v in zip(names, p)},
                }
            )
        if depth != 8:  # say how a 12- or 16-bit scan was brought to 0..255
            rows[-1]["scaling"] = data.scaling_text(depth)
    return rows


MAX_EXPLAIN = 64  # explain --n: more overlays than this make a figure too tall to read (and to open)


def explain_run(
    run_dir, images=(), split="test", n=8, layer=None, data_dir=None, out=None, device="cpu", log=print, target=None
):
    """Grad-CAM overlays (one PNG) of a saved run's model, as ``tinydl explain``: for image files, or
    for ``n`` samples of ``split`` when no images are given. ``out`` defaults to
    <run>/gradcam-images.png or <run>/gradcam-<split>.png. Returns an ExplanationResult.
    Segmentation runs: ``target`` names the class explained (default the first foreground class),
    over the pixels the model gives it (tinydl.segmentation_run.explain_segmentation)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= MAX_EXPLAIN:
        raise ValueError(f"--n must be a whole number from 1 to {MAX_EXPLAIN} (images in one figure), got {n!r}")
    folder, model, meta, normalizer = load_run(run_dir, device)
    if meta["task"] == "segmentation":
        from .segmentation_run import explain_segmentation

        return explain_segmentation(
            folder, model, meta, normalizer, images, split, n, layer, data_dir, out, target=target, log=log
        )
    if target is not None:
        raise ValueError("--class chooses the class of a segmentation run's explanation; this run is a classifier")
    if meta["task"].startswith("multi-label"):
        raise ValueError("explain: Grad-CAM of multi-label models is not supported; explain a single-label model")
    if images:
        x = read_images(images, meta)
        default = folder / "gradcam-images.png"
    else:
        x, _ = _load_saved_split(meta, split, data_dir, log or _quiet, run_dir=folder).arrays()
        x = x[np.random.default_rng(0).choice(len(x), size=min(n, len(x)), replace=False)]
        default = folder / f"gradcam-{split}.png"
    path = Path(out) if out else default
    probs = gradcam_figure(model, x, normalizer, meta["class_names"], path, layer=layer)
    names = meta["class_names"]
    predictions = [(Path(p).name, names[int(q.argmax())], float(q.max())) for p, q in zip(images, probs)]
    return ExplanationResult(path=path, predictions=predictions)
