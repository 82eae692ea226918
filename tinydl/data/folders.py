"""Training from your own image folders: the two layouts ``tinydl train --data PATH`` reads, and their splits.

Two layouts are accepted (class names are the sub-folder names, as in Keras'
``flow_from_directory``)::

    PATH/train/<class>/*.png         PATH/<class>/*.png
    PATH/val/<class>/*.png           (one folder: train, val and test are drawn
    PATH/test/<class>/*.png           from it by val_fraction and test_fraction)

``val/`` (and ``test/``) may be missing from the first layout: they are then
drawn from ``train/`` by their fraction. Every split drawn is stratified (each
class keeps its share in every split), seeded and deterministic, and the files
of each split are written to ``splits.json`` in the run folder, so a later
``tinydl evaluate RUN --split val`` reads exactly the same files again.

``td.data.ImageFolder`` does the reading (one class-folder tree at a time);
this module chooses the trees, the image size and channels, and the splits.
"""

import json
from pathlib import Path

import numpy as np

from .base import DataFileError, DataFileNotFoundError, ImageDataset
from .image_folder import IMAGE_EXTENSIONS, ImageFolder

SPLIT_NAMES = ("train", "val", "test")
SPLIT_FILE = "splits.json"  # written into the run folder: the files of each split


# ---------------------------------------------------------------------------- layout
def folder_layout(root):
    """ "split-folders" when ``root`` holds ``train/`` (train/, val/, test/ of class folders),
    "class-folders" when it holds class folders only; DataFileError otherwise."""
    root = Path(root)
    if not root.is_dir():
        raise DataFileNotFoundError(f"image folder not found: {root}", [root])
    if (root / "train").is_dir():
        return "split-folders"
    partial = [name for name in ("val", "test") if (root / name).is_dir()]
    if partial:
        # val/ or test/ without train/ is a half-made layout: treating "test" as a class would
        # train a classifier of split names, so refuse it.
        raise DataFileError(
            f"{root} has {' and '.join(f'{n}/' for n in partial)} but no train/ folder; "
            "expected train/<class>/ (with optional val/ and test/), or class folders only"
        )
    return "class-folders"


def check_fractions(val_fraction, test_fraction):
    """Raise ValueError unless both fractions lie in [0, 1) and leave some images to train on."""
    for option, value in (("--val-fraction", val_fraction), ("--test-fraction", test_fraction)):
        if not (isinstance(value, (int, float)) and np.isfinite(value) and 0 <= value < 1):
            raise ValueError(f"{option} must be a number in [0, 1), got {value!r}")
    if val_fraction + test_fraction >= 1:
        raise ValueError(
            f"--val-fraction + --test-fraction must be below 1 (some images must be left to train on), "
            f"got {val_fraction} + {test_fraction}"
        )


# ---------------------------------------------------------------------------- splitting
def stratified_split(labels, fractions, seed=0, class_names=None):
    """{split: sorted indices}: "train" plus one split per entry of ``fractions`` ({name: fraction}).

    Each class is shuffled with ``np.random.default_rng(seed)`` (classes in label
    order, so the same seed always gives the same split) and round(fraction × n)
    of its images — at least one — go to each split; the rest stay in "train".
    A class too small to give every split one image and keep one for training is
    a ValueError naming it (``class_names[label]`` when given).
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    names = [name for name, fraction in fractions.items() if fraction > 0]
    parts = {name: [] for name in ("train", *names)}
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        counts = [max(1, int(round(fractions[name] * len(members)))) for name in names]
        if sum(counts) >= len(members):
            who = class_names[label] if class_names is not None else label
            raise ValueError(
                f"class {who!r} has {len(members)} image(s): too few to put at least one in each of "
                f"train, {', '.join(names)}; add images to it or lower the fractions"
            )
        start = 0
        for name, count in zip(names, counts):
            parts[name].append(members[start : start + count])
            start += count
        parts["train"].append(members[start:])
    return {name: np.sort(np.concatenate(chunks)) for name, chunks in parts.items()}


def folder_dataset(images, labels, classes, root, split, files):
    """A data set of images read from the image folder ``root``: ``split`` of it, ``files`` (relative to root)."""
    part = ImageDataset(images, labels, classes)
    part.name, part.split = Path(root).name, split
    part.task = "binary-class" if len(classes) == 2 else "multi-class"
    part.source, part.path, part.files = f"image folder ({root})", Path(root), list(files)
    return part


# ---------------------------------------------------------------------------- reading
def _image_files(tree):
    return sorted(
        p
        for p in Path(tree).rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
    )


def choose_image_size(trees, image_size=None):
    """(height, width) the images are read at: ``image_size`` × ``image_size`` when given, else the
    size every file already has (read from the file headers); ValueError when they differ or are not square."""
    if image_size is not None:
        if not (isinstance(image_size, int) and 8 <= image_size <= 1024):
            raise ValueError(f"--image-size must be a whole number of pixels from 8 to 1024, got {image_size!r}")
        return (image_size, image_size)
    from PIL import Image

    sizes = {}
    for tree in trees:
        for path in _image_files(tree):
            try:
                with Image.open(path) as image:  # the header only: no pixels are decoded here
                    sizes.setdefault(image.size[::-1], path)
            except (OSError, Image.DecompressionBombError) as exc:
                raise DataFileError(f"cannot read {path} as an image ({exc})") from exc
    if len(sizes) > 1:
        (a, path_a), (b, path_b) = list(sizes.items())[:2]
        raise ValueError(
            f"the images differ in size ({path_a} is {a[0]}×{a[1]}, {path_b} is {b[0]}×{b[1]}); "
            "pass --image-size N to resize them all to N×N"
        )
    if not sizes:
        return (28, 28)  # no image at all: ImageFolder names the empty folders
    ((height, width),) = sizes
    if height != width or not 8 <= height <= 1024:
        raise ValueError(
            f"the images are {height}×{width} pixels; the models need square images of 8 to 1024 "
            "pixels: pass --image-size N to resize them to N×N"
        )
    return (height, width)


def _relative(paths, root):
    return [path.relative_to(root).as_posix() for path in paths]


def load_image_folders(root, val_fraction=0.1, test_fraction=0.1, seed=0, image_size=None):
    """{"train", "val", "test": data set} of an image folder (either layout; see the module's docstring).

    Each data set has ``files`` (paths relative to ``root``, in the order of its
    images), ``name`` (the folder's name) and ``source`` ("image folder (ROOT)").
    Channels: grey when every training image is grey, else RGB, the same in every split.
    """
    root = Path(root).expanduser().resolve()
    layout = folder_layout(root)
    check_fractions(val_fraction, test_fraction)
    trees = {s: root / s for s in SPLIT_NAMES if (root / s).is_dir()} if layout == "split-folders" else {}
    size = choose_image_size(trees.values() if trees else [root], image_size)
    main = ImageFolder(trees.get("train", root), grayscale=None, size=size)
    empty = [name for name, count in main.class_counts().items() if count == 0]
    if empty:  # a class never seen in training would be an output the model cannot learn
        raise DataFileError(
            f"class folder(s) without images in {trees.get('train', root)}: {', '.join(empty)}; "
            "add images or remove the folder"
        )
    grayscale = main.n_channels == 1  # the other splits are read like train, so the model sees one kind
    loaded = {}
    for split in ("val", "test"):
        if split in trees:
            loaded[split] = ImageFolder(trees[split], grayscale=grayscale, size=size)
            if loaded[split].classes != main.classes:
                lacking = sorted(set(main.classes) - set(loaded[split].classes))
                extra = sorted(set(loaded[split].classes) - set(main.classes))
                raise DataFileError(
                    f"{trees[split]} and {trees['train']} must hold the same class folders, but "
                    + "; ".join(
                        [f"{trees[split]} lacks {', '.join(lacking)}"] * bool(lacking)
                        + [f"{trees['train']} lacks {', '.join(extra)}"] * bool(extra)
                    )
                )
    missing = {s: (val_fraction if s == "val" else test_fraction) for s in ("val", "test") if s not in loaded}
    for split, fraction in missing.items():
        if fraction <= 0:
            where = f"{root} has no {split}/ folder and" if layout == "split-folders" else f"{root}:"
            raise ValueError(f"{where} --{split}-fraction is 0; give a fraction above 0 to draw a {split} split")
    parts = stratified_split(main.labels, missing, seed=seed, class_names=main.classes)
    sources = {"train": (main, parts["train"])}
    for split in ("val", "test"):
        sources[split] = (loaded[split], np.arange(len(loaded[split]))) if split in loaded else (main, parts[split])
    result = {}
    for split, (dataset, indices) in sources.items():
        files = _relative([dataset.paths[i] for i in indices], root)
        result[split] = folder_dataset(
            dataset.images[indices], dataset.labels[indices], main.classes, root, split, files
        )
    for dataset in result.values():
        dataset.layout, dataset.seed = layout, seed
    return result


# ---------------------------------------------------------------------------- the split file
def write_split_file(path, splits):
    """Write ``splits.json`` at ``path``: the folder, the classes and, per split, [file, class] of every image."""
    from ..files import write_text

    train = splits["train"]
    record = {
        "root": str(train.path),
        "layout": train.layout,
        "seed": train.seed,
        "classes": list(train.classes),
        "image_shape": list(train.image_shape),
        # {split: {class: [file, ...]}}: which file is in which split, and its class
        "splits": {
            split: {
                name: [file for file, label in zip(dataset.files, dataset.labels) if label == i]
                for i, name in enumerate(dataset.classes)
            }
            for split, dataset in splits.items()
        },
    }
    write_text(path, json.dumps(record, indent=2) + "\n")
    return Path(path)


def read_split_file(path, split, root=None):
    """The ``split`` of a run trained on an image folder, re-read from exactly the files ``splits.json`` lists.

    ``root`` replaces the folder recorded in the file (when the images were moved).
    The images are read at the recorded size and channels; a listed file that is
    gone is a DataFileError naming it.
    """
    path = Path(path)
    try:
        record = json.loads(path.read_text())
        classes = record["classes"]
        entries = [(file, name) for name, files in record["splits"][split].items() for file in files]
        channels, height, width = record["image_shape"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataFileError(f"cannot read the split {split!r} from {path} ({type(exc).__name__}: {exc})") from exc
    root = Path(root if root is not None else record["root"]).expanduser().resolve()
    wanted = [root / file for file, _ in entries]
    gone = [p for p in wanted if not p.is_file()]
    if gone:
        raise DataFileNotFoundError(
            f"{len(gone)} image(s) of the {split} split listed in {path} are gone, e.g. {gone[0]}; "
            "restore them (or pass --data-dir with the folder's new place)",
            gone,
        )
    # Read each class-folder tree that holds listed files once (ImageFolder reads a whole tree),
    # then keep the listed files in the listed order.
    images, labels = [], []
    by_tree = {}
    for file, name in entries:
        by_tree.setdefault(Path(file).parts[0] if record["layout"] == "split-folders" else "", []).append((file, name))
    for tree, members in by_tree.items():
        dataset = ImageFolder(root / tree, grayscale=channels == 1, size=(height, width))
        index = {p.resolve(): i for i, p in enumerate(dataset.paths)}
        for file, name in members:
            images.append(dataset.images[index[(root / file).resolve()]])
            labels.append(classes.index(name))
    files = [file for file, _ in entries]
    return folder_dataset(np.stack(images), np.array(labels, dtype=np.int64), classes, root, split, files)
