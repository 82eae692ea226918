"""Segmentation data: images with a label for every pixel (a mask), from files, folders or made up.

    from tinydl import data
    train = data.load_segmentation("liverct117", "train")   # finds liverct117.npz (see below)
    x, y = train.arrays()         # x float32 (90, 1, 128, 128) windowed to [0, 1], y int64 (90, 128, 128)
    train.classes                 # ("background", "liver", "tumour"): y == 1 is liver
    train.intensity               # "CT window [-150, 250] HU → [0, 1]" (chosen from the data's values)

Files follow the MedSegBench layout (Kuş & Aydin, Scientific Data 2024, in MedMNIST's style):
one ``.npz`` per data set with ``{split}_images`` and ``{split}_label`` for the splits train,
val and test, and optionally ``{split}_label_{category}`` (another labelling of the same images,
e.g. the 116 atlas regions of ``colin27_brain``'s ``aal``). ``SEGMENTATION`` lists the known
sets; any other file in that layout is read by its path.

Where a file is looked for, in order: the ``root`` argument, ``$TINYDL_SEGMENTATION_DIR``,
``$TINYDL_DATA_DIR``, then the user cache ``segmentation_cache_dir()``. MedSegBench sets can be
downloaded from Zenodo (MD5-checked); ``liverct117`` and ``colin27_brain`` cannot (see their
descriptions for where they come from).

Pixel values are not all alike, so the step that brings them to what a network eats is chosen
from the data (``intensity="auto"``, never from the set's name): CT images store Hounsfield
units (``ct_window``), MR images have no absolute unit (``mr_normalize``), 8-bit photographs
are divided by 255. ``ds.intensity`` says in words what was done and ``ds.intensity_spec``
(a small dict) repeats it exactly: ``apply_intensity(new_images, ds.intensity_spec)``.

Safety: files are read with ``np.load(path)``; pickles stay disabled.
"""

import os
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .base import DataFileError, DataFileNotFoundError, DownloadError, ImageDataset
from .catalog import SPLITS, check_split
from .checks import numpy_file_problem, pickle_refusal
from .medmnist import cache_dir, download_file, hint, md5, verify_md5
from .paired import resize_images, resize_masks

# ---------------------------------------------------------------------------- the catalog

MEDSEGBENCH_URL = "https://zenodo.org/records/13358372/files/{name}_128.npz?download=1"
MEDSEGBENCH_CITATION = (
    "Kuş Z, Aydin M. MedSegBench: A comprehensive benchmark for medical image segmentation in diverse "
    "data modalities. Scientific Data 11, 1283 (2024). Files: Zenodo record 13358372."
)
MODALITIES = ("CT", "MR", "X-ray", "ultrasound", "fundus", "dermoscopy", "endoscopy")


@dataclass(frozen=True)
class SegmentationInfo:
    """One known segmentation data set: its file, where to get it, what its labels mean.

    ``classes[k]`` names mask value k (0 is always background). ``url`` is None for sets that
    cannot be downloaded (the description says where they come from). ``categories`` lists the
    extra labellings ``{split}_label_{category}`` of the file as (category, number of regions).
    """

    name: str
    file_name: str
    url: object  # str, or None when the file cannot be downloaded
    md5: str
    classes: tuple
    modality: str
    channels: int
    description: str
    licence: str
    citation: str
    categories: tuple = ()  # ((category, n_regions), ...)
    # Nested structures scored as unions of labels, as the set's own benchmark does: ((name, labels), ...).
    # LiTS scores "the liver" as liver and tumour together (a tumour is part of the organ); BraTS does the
    # same with its whole tumour / tumour core. Reported beside the per-label Dice, never instead of it.
    regions: tuple = ()

    @property
    def downloadable(self):
        return self.url is not None

    def category_classes(self, category):
        """The class names of the labelling ``category``: ("background", "region 1", …), or None if unknown."""
        regions = dict(self.categories).get(category)
        return None if regions is None else ("background",) + tuple(f"region {k}" for k in range(1, regions + 1))


def _medsegbench(name, md5_hex, structure, modality, channels, what, sizes, licence):
    return SegmentationInfo(
        name=name,
        file_name=f"{name}_128.npz",
        url=MEDSEGBENCH_URL.format(name=name),
        md5=md5_hex,
        classes=("background", structure),
        modality=modality,
        channels=channels,
        description=f"MedSegBench {name} (128×128): {what}; binary masks (0/1); train/val/test {sizes} images.",
        licence=licence,
        citation=MEDSEGBENCH_CITATION,
    )


SEGMENTATION = {
    info.name: info
    for info in (
        SegmentationInfo(
            name="liverct117",
            file_name="liverct117.npz",
            url=None,
            md5="94893cdf9520d2096899dbe8a75a7c9d",
            classes=("background", "liver", "tumour"),
            modality="CT",
            channels=1,
            description=(
                "One contrast CT of the abdomen (one patient), a 128×128×128 crop around the liver sliced along "
                "its first axis; int16 Hounsfield units; masks 0 background, 1 liver, 2 tumour; train/val/test "
                "90/14/24 contiguous slices. Not downloadable: it is made from the files img_117.mrc / lab_117.mrc "
                "of the PyPI package liver-ct-segmentation-package 1.6.0 (the case appears to be LiTS volume 117)."
            ),
            licence="LiTS data: research and teaching (CC BY-NC-SA 4.0 as far as known); the package's code is MIT",
            citation='Bilic P et al. "The Liver Tumor Segmentation Benchmark (LiTS)". Medical Image Analysis 84 (2023).',
            regions=(("liver with tumour", (1, 2)),),
        ),
        SegmentationInfo(
            name="colin27_brain",
            file_name="colin27_brain.npz",
            url=None,
            md5="74d2f58935f6b838005521b6338deda2",
            classes=("background", "brain"),
            modality="MR",
            channels=1,
            description=(
                "One healthy adult T1-weighted MRI (the Colin 27 template, 1 mm), axial slices 217×181 holding brain; "
                "uint8; label: brain mask (skull stripping); label_aal: the 116 regions of the AAL atlas; "
                "train/val/test 99/14/29 contiguous slices. Not downloadable: it is made from Debian's package "
                "mricron-data (templates ch2.nii.gz, ch2bet.nii.gz, aal.nii.gz)."
            ),
            licence="BSD-3-Clause (as Debian lists mricron-data)",
            citation=(
                "Holmes CJ et al. J Comput Assist Tomogr 22 (1998) (Colin 27); "
                "Tzourio-Mazoyer N et al. NeuroImage 15 (2002) (AAL)."
            ),
            categories=(("aal", 116),),
        ),
        _medsegbench(
            "covidquex",
            "338a3118801d5cbcbb5986bb5178a7a2",
            "lung",
            "X-ray",
            1,
            "chest X-rays, lungs",
            "1864/466/583",
            "CC BY-SA 4.0",
        ),  # fmt: skip
        _medsegbench(
            "busi",
            "68877751adef0ab639de73946aac0985",
            "lesion",
            "ultrasound",
            1,
            "breast ultrasound, lesions",
            "452/64/131",
            "CC0",
        ),  # fmt: skip
        _medsegbench(
            "drive",
            "39582fd6528bdd7b66ed92c6dd9f26aa",
            "vessel",
            "fundus",
            3,
            "retinal fundus photographs, vessels",
            "18/2/20",
            "CC BY 4.0",
        ),  # fmt: skip
        _medsegbench(
            "isic2016",
            "4fcee7c35a990f25f2c82ad3ed2f4f54",
            "lesion",
            "dermoscopy",
            3,
            "dermoscopy, skin lesions",
            "810/90/379",
            "CC BY-NC 4.0",
        ),  # fmt: skip
        _medsegbench(
            "promise12",
            "879618db3641a09fa6bdec6be93e13c5",
            "prostate",
            "MR",
            1,
            "prostate MRI",
            "1031/147/295",
            "not stated",
        ),  # fmt: skip
        _medsegbench(
            "kvasir",
            "2c703d693d16437a2891f1aec900a1ea",
            "polyp",
            "endoscopy",
            3,
            "colonoscopy, polyps",
            "700/100/200",
            "research and education only",
        ),  # fmt: skip
    )
}

SYNTHETIC_SEGMENTATION_NAMES = ("synthetic", "synthetic-segmentation")


def get_segmentation_info(name):
    """The SEGMENTATION row of ``name``; ValueError listing the known names otherwise."""
    key = str(name).strip().lower()
    if key not in SEGMENTATION:
        raise ValueError(f"unknown segmentation data set {name!r}; known: {', '.join(SEGMENTATION)} (or a path)")
    return SEGMENTATION[key]


# ---------------------------------------------------------------------------- where files live


def segmentation_cache_dir():
    """The user cache folder for segmentation files: beside MedMNIST's, ``<cache>/segmentation``
    (``$TINYDL_CACHE_DIR/segmentation``, else ``$XDG_CACHE_HOME/tinydl/segmentation``, else
    ``~/.cache/tinydl/segmentation``)."""
    return cache_dir().parent / "segmentation"


def segmentation_search_dirs(root=None):
    """[(label, folder or None)] in search order: root, TINYDL_SEGMENTATION_DIR, TINYDL_DATA_DIR, cache."""
    dirs = [("root argument", Path(root).expanduser() if root is not None else None)]
    for variable in ("TINYDL_SEGMENTATION_DIR", "TINYDL_DATA_DIR"):
        value = os.environ.get(variable)
        dirs.append((variable, Path(value).expanduser() if value else None))
    return dirs + [("cache", segmentation_cache_dir())]


def find_segmentation_file(file_name, root=None):
    """(path, source) of the first ``file_name`` in ``segmentation_search_dirs(root)``, or (None, None)."""
    for label, folder in segmentation_search_dirs(root):
        if folder is not None and (folder / file_name).is_file():
            return folder / file_name, f"{label} ({folder})"
    return None, None


def _not_found_error(info, root, hints="python"):
    lines, searched = [f"segmentation file {info.file_name} ({info.name}) not found. Looked in:"], []
    for i, (label, folder) in enumerate(segmentation_search_dirs(root), 1):
        if folder is None:
            lines.append(f"  {i}. {label}: (not set)")
        else:
            searched.append(folder / info.file_name)
            lines.append(f"  {i}. {label}: {folder / info.file_name}")
    lines.append("To get it, either:")
    if info.downloadable:
        target = Path(root).expanduser() if root is not None else segmentation_cache_dir()
        lines += [
            f"  - {hint(hints, 'download')} (saves it to {target}, checked against its MD5), or",
            f"  - download {info.url} (MD5 {info.md5}) yourself and put it in one of the folders above, or",
        ]
    else:
        lines.append(
            f"  - make or copy it (it cannot be downloaded; MD5 {info.md5}): {info.description.split('Not downloadable: ')[-1]}"
        )
        lines.append("    Then put it in one of the folders above, or")
    lines.append("  - set TINYDL_SEGMENTATION_DIR to the folder that already holds it.")
    return DataFileNotFoundError("\n".join(lines), searched)


def download_segmentation(name, root=None, quiet=False):
    """Download one MedSegBench file into ``root`` (default: ``segmentation_cache_dir()``), MD5-checked and
    written atomically (``download_file``); return its path. ValueError for a set that cannot be downloaded."""
    info = get_segmentation_info(name)
    if not info.downloadable:
        raise ValueError(f"{info.name} cannot be downloaded. {info.description}")
    folder = Path(root).expanduser() if root is not None else segmentation_cache_dir()
    return download_file(info.url, folder / info.file_name, info.md5, quiet=quiet)


# ---------------------------------------------------------------------------- intensity


def ct_window(hu, level=50, width=400):
    """Hounsfield units → float32 in [0, 1] through the window [level − width/2, level + width/2].

        x = (clip(hu, lo, hi) − lo) / (hi − lo),   lo = level − width/2,  hi = level + width/2

    Hounsfield units (HU) measure X-ray attenuation relative to water: water 0, air −1000, fat
    about −100, soft tissue +20 … +80 (liver about 40–60 before contrast, more after), bone above
    +700. A CT spans some 3000 HU but a screen (and a network's input) gains nothing from the air
    and bone extremes, so radiologists look through a window: the default W400/L50 (−150 … 250 HU)
    is the usual abdominal soft-tissue window, where liver, vessels and tumours differ.
    """
    if width <= 0:
        raise ValueError(f"ct_window: width must be positive, got {width}")
    low = level - width / 2.0
    values = np.asarray(hu, dtype=np.float32)
    return ((np.clip(values, low, low + width) - np.float32(low)) / np.float32(width)).astype(np.float32)


def mr_normalize(images, low=1, high=99):
    """Each image separately: clip to its own [low, high] percentiles, then rescale to [0, 1].

        x = (clip(v, p_low, p_high) − p_low) / (p_high − p_low),  p_q = the q-th percentile of that image

    MR intensities have no absolute unit (unlike CT's Hounsfield units): the same tissue gives other
    values on another scanner, coil or sequence, even in another scan of the same person. So each
    image is scaled by its own statistics, not by the data set's; the percentiles ignore the few
    very bright or dark pixels (vessels, artefacts) that would squeeze the rest. A constant image → 0.
    ``images`` (N, H, W) or (N, H, W, C); each image's channels are scaled together.
    """
    if not 0 <= low < high <= 100:
        raise ValueError(f"mr_normalize: need 0 <= low < high <= 100, got low={low}, high={high}")
    values = np.asarray(images, dtype=np.float32)
    flat = values.reshape(len(values), -1)
    p_low, p_high = np.percentile(flat, [low, high], axis=1)
    spread = p_high - p_low
    scaled = (np.clip(flat, p_low[:, None], p_high[:, None]) - p_low[:, None]) / np.where(spread > 0, spread, 1)[
        :, None
    ]
    return scaled.reshape(values.shape).astype(np.float32)


def minmax_normalize(images):
    """Each image separately: x = (v − min) / (max − min) → [0, 1]; a constant image → 0."""
    values = np.asarray(images, dtype=np.float32)
    flat = values.reshape(len(values), -1)
    low, high = flat.min(axis=1, keepdims=True), flat.max(axis=1, keepdims=True)
    return ((flat - low) / np.where(high > low, high - low, 1)).reshape(values.shape).astype(np.float32)


INTENSITY_CHOICES = ("auto", "ct", "mr", "uint8", "minmax", "none")
CT_MINIMUM_HU = -500  # images with values this low can only be Hounsfield units (air is −1000)


def resolve_intensity(images, intensity="auto", modality=None):
    """The intensity step for ``images`` as a JSON-ready dict {"method": …, parameters}.

    ``intensity``: "auto"; "ct" (window W400/L50), ("ct", level, width) or {"method": "ct", "level": …,
    "width": …}; "mr" (or {"method": "mr", "low": 1, "high": 99}); "uint8" (/255); "minmax"; "none".
    "auto" decides from the data (never the set's name), in this order:
      1. signed-integer or float images whose minimum is ≤ −500 are CT in Hounsfield units → CT window;
      2. ``modality == "MR"`` (from the catalog) → per-image MR normalisation;
      3. uint8 images → / 255;
      4. anything else → per-image min-max (with a note: the values' meaning is unknown).
    """
    if isinstance(intensity, dict):
        spec = dict(intensity)
        method = str(spec.get("method", "ct" if "level" in spec or "width" in spec else "")).lower()
        spec["method"] = method
    elif isinstance(intensity, (tuple, list)):
        if len(intensity) != 3 or str(intensity[0]).lower() != "ct":
            raise ValueError(f"intensity as a tuple must be ('ct', level, width), got {intensity!r}")
        method, spec = "ct", {"method": "ct", "level": float(intensity[1]), "width": float(intensity[2])}
    elif isinstance(intensity, str):
        method, spec = intensity.strip().lower(), {"method": intensity.strip().lower()}
    else:
        raise TypeError(f"intensity must be a string, a ('ct', level, width) tuple or a dict, got {intensity!r}")
    if method not in INTENSITY_CHOICES:
        raise ValueError(
            f"unknown intensity {intensity!r}; choose one of {', '.join(INTENSITY_CHOICES)}, "
            "('ct', level, width) or a dict {'method': 'ct', 'level': 50, 'width': 400}"
        )
    if method == "auto":
        images = np.asarray(images)
        signed = images.dtype.kind in "if"
        if signed and images.size and float(images.min()) <= CT_MINIMUM_HU:
            spec = {"method": "ct"}
        elif modality == "MR":
            spec = {"method": "mr"}
        elif images.dtype == np.uint8:
            spec = {"method": "uint8"}
        else:
            spec = {"method": "minmax", "note": f"{images.dtype} values of unknown meaning, scaled per image"}
    if spec["method"] == "ct":
        spec = {"method": "ct", "level": float(spec.get("level", 50.0)), "width": float(spec.get("width", 400.0))}
    elif spec["method"] == "mr":
        spec = {"method": "mr", "low": float(spec.get("low", 1.0)), "high": float(spec.get("high", 99.0))}
    return spec


def intensity_text(spec):
    """What an intensity spec does, in words ("CT window [-150, 250] HU → [0, 1]")."""
    method = spec["method"]
    if method == "ct":
        low, width = spec["level"] - spec["width"] / 2, spec["width"]
        return f"CT window [{low:g}, {low + width:g}] HU → [0, 1] (level {spec['level']:g}, width {width:g})"
    if method == "mr":
        return f"MR normalisation per image: percentiles {spec['low']:g}–{spec['high']:g} → [0, 1]"
    if method == "uint8":
        return "8-bit pixels / 255 → [0, 1]"
    if method == "minmax":
        note = spec.get("note")
        return "min-max per image → [0, 1]" + (f" (note: {note})" if note else "")
    return "none (values as stored, as float32)"


def apply_intensity(images, intensity="auto", modality=None):
    """Stored images (N, H, W) or (N, H, W, C) → float32 (N, C, H, W) after the intensity step
    (``intensity`` as for ``resolve_intensity``, e.g. a data set's ``intensity_spec``)."""
    images = np.asarray(images)
    if images.ndim not in (3, 4):
        raise ValueError(f"images must have shape (N, H, W) or (N, H, W, C), got {images.shape}")
    if images.dtype.kind not in "iuf":
        raise TypeError(f"images must hold numbers (integers or floats), got dtype {images.dtype}")
    spec = resolve_intensity(images, intensity, modality)
    method = spec["method"]
    if method == "ct":
        out = ct_window(images, spec["level"], spec["width"])
    elif method == "mr":
        out = mr_normalize(images, spec["low"], spec["high"])
    elif method == "uint8":
        out = np.divide(images, np.float32(255.0), dtype=np.float32)
    elif method == "minmax":
        out = minmax_normalize(images)
    else:
        out = images.astype(np.float32)
    out = out[:, None] if out.ndim == 3 else out.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(out, dtype=np.float32)


# ---------------------------------------------------------------------------- the common data set


def default_classes(n_classes):
    """("background", "class 1", …, "class K−1") for masks whose largest value is K − 1."""
    return ("background",) + tuple(f"class {k}" for k in range(1, max(int(n_classes), 2)))


class SegmentationDataset(ImageDataset):
    """Images with masks in memory: ``len``, ``ds[i]`` → (x_i, y_i), ``arrays()`` → (x, y).

    Sizes (``len``, ``n_classes``, ``n_channels``, ``image_shape``) are those of ``ImageDataset``.

    ``images`` are kept as stored (int16 Hounsfield units, uint8, …), ``masks`` int64 (N, H, W);
    ``arrays()`` applies the intensity step (``intensity`` in words, ``intensity_spec`` as a dict).
    """

    task = "segmentation"
    name = "segmentation"
    split = None
    source = "memory"
    path = None
    modality = None
    md5 = None

    def __init__(self, images, masks, classes, intensity="auto"):
        self.images, self.masks, self.classes = images, np.asarray(masks, dtype=np.int64), tuple(classes)
        self.intensity_spec = resolve_intensity(images, intensity, self.modality)
        self.intensity = intensity_text(self.intensity_spec)

    @property
    def labels(self):
        """The masks, under the name classification data sets use."""
        return self.masks

    @property
    def reference(self):
        """What to pass to ``load_segmentation`` to get this data set again (a run folder saves it):
        the catalog or synthetic name, else the path of the file or folder."""
        if self.source == "synthetic" or getattr(self, "info", None) is not None:
            return self.name
        return str(self.path) if self.path is not None else self.name

    def arrays(self):
        """(x float32 (N, C, H, W) after the intensity step, y int64 (N, H, W))."""
        return apply_intensity(self.images, self.intensity_spec), self.masks

    def __getitem__(self, index):
        """(image float32 (C, H, W), mask int64 (H, W)): one row of ``arrays()`` (every step is per image)."""
        if not isinstance(index, (int, np.integer)):
            raise TypeError(f"{type(self).__name__} index must be an integer, got {type(index).__name__}")
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {self.name} {self.split} with {n} images")
        index = int(index) % n
        return apply_intensity(self.images[index : index + 1], self.intensity_spec)[0], self.masks[index]

    def class_counts(self):
        """{class name: number of pixels with that label}."""
        counts = np.bincount(self.masks.ravel(), minlength=self.n_classes)
        return {name: int(c) for name, c in zip(self.classes, counts)}

    def __repr__(self):
        h, w = self.images.shape[1:3]
        return (
            f"{type(self).__name__}({self.name!r}, split={self.split!r}: {len(self)} images {self.n_channels}×{h}×{w}, "
            f"classes={list(self.classes)}, source={self.source!r}, intensity={self.intensity!r})"
        )


def check_segmentation_arrays(images, masks, where, n_classes=None, image_key="images", mask_key="masks"):
    """Images (N, H, W) or (N, H, W, C ∈ 1..4) of numbers and masks (N, H, W) of whole numbers ≥ 0
    (< n_classes when given) with the same N, H, W; DataFileError naming ``where`` and the key otherwise.
    Returns (images, masks int64)."""
    if images.dtype.kind not in "iuf":
        raise DataFileError(f"{where}: {image_key} must hold numbers (integers or floats), got dtype {images.dtype}")
    if images.ndim not in (3, 4) or (images.ndim == 4 and not 1 <= images.shape[-1] <= 4):
        raise DataFileError(
            f"{where}: {image_key} must have shape (N, H, W) or (N, H, W, C) with C in 1..4, got {images.shape}"
        )
    if masks.ndim != 3 or masks.shape != images.shape[:3]:
        raise DataFileError(
            f"{where}: {mask_key} has shape {masks.shape}, expected {images.shape[:3]} (N, H, W) to match "
            f"{image_key} {images.shape}"
        )
    if masks.dtype.kind == "f":
        if not np.all(np.isfinite(masks) & (masks == np.round(masks))):
            raise DataFileError(f"{where}: {mask_key} holds values that are not whole numbers (labels 0, 1, 2, …)")
    elif masks.dtype.kind not in "biu":
        raise DataFileError(f"{where}: {mask_key} must hold whole-number labels, got dtype {masks.dtype}")
    masks = masks.astype(np.int64)
    if masks.size:
        low, high = int(masks.min()), int(masks.max())
        if low < 0 or (n_classes is not None and high >= n_classes):
            allowed = f"0..{n_classes - 1}" if n_classes is not None else "≥ 0"
            raise DataFileError(
                f"{where}: {mask_key} has labels from {low} to {high}, but they must be {allowed}"
                + ("; binary masks stored as 0/255 need y // 255" if high == 255 else "")
            )
    return images, masks


# ---------------------------------------------------------------------------- .npz files

_UNREADABLE = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError)


def _open_npz(path):
    """np.load of an .npz (never unpickling), with a DataFileError saying what is wrong otherwise."""
    problem = numpy_file_problem(path, "npz")
    if problem:
        raise DataFileError(f"{path} {problem}")
    try:
        archive = np.load(path)  # allow_pickle stays False
    except _UNREADABLE as exc:
        raise DataFileError(f"cannot read {path} as a .npz archive ({type(exc).__name__}: {exc})") from exc
    if not hasattr(archive, "files"):
        raise DataFileError(
            f"{path} is a single .npy array, not a .npz archive with {{split}}_images and {{split}}_label"
        )
    return archive


def _read(archive, path, key):
    if key not in archive.files:
        raise DataFileError(f"{path} has no array {key!r}; it holds {sorted(archive.files)}")
    try:
        return archive[key]
    except ValueError as exc:
        if "pickle" in str(exc):
            raise DataFileError(pickle_refusal(path, key)) from None
        raise DataFileError(f"cannot read {key!r} of {path} ({exc})") from exc
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise DataFileError(f"cannot read {key!r} of {path} (truncated or corrupt?): {exc}") from exc


class SegmentationNPZ(SegmentationDataset):
    """One split of a segmentation ``.npz`` in the MedSegBench layout: a catalog name or a path.

    ``category``: read ``{split}_label_{category}`` instead of ``{split}_label`` (e.g. "aal").
    ``classes``: names for a file given by path (default ("background", "class 1", …) up to the
    largest label of that labelling in ALL splits of the file, so train and test agree).
    ``intensity``: see ``resolve_intensity``. ``check_md5``: compare a catalog file with its
    published MD5 (once per file per process). ``hints``: "python" or "cli" wording of the advice.
    """

    def __init__(
        self,
        name_or_path,
        split="train",
        root=None,
        download=False,
        category=None,
        intensity="auto",
        check_md5=True,
        hints="python",
        classes=None,
    ):
        self.split = check_split(split)
        self.category = category
        key = str(name_or_path).strip().lower()
        self.info = SEGMENTATION.get(key) if not isinstance(name_or_path, Path) else None
        if self.info is not None:
            self._find_catalog_file(root, download, check_md5, hints)
        else:
            path = Path(name_or_path).expanduser()
            if path.suffix.lower() != ".npz":
                raise ValueError(
                    f"{name_or_path!r} is neither a known segmentation set ({', '.join(SEGMENTATION)}) nor a path "
                    "to an .npz file"
                )
            if not path.is_file():
                raise DataFileNotFoundError(f"segmentation file not found: {path}", [path])
            self.path, self.name, self.source, self._md5 = path, path.stem, f"file ({path})", None
            self.modality = None
        image_key = f"{self.split}_images"
        mask_key = f"{self.split}_label" + (f"_{category}" if category else "")
        with _open_npz(self.path) as archive:
            images, masks = _read(archive, self.path, image_key), _read(archive, self.path, mask_key)
            classes = self._classes(classes, archive, mask_key)
        images, masks = check_segmentation_arrays(images, masks, self.path, len(classes), image_key, mask_key)
        self.image_key, self.mask_key = image_key, mask_key
        super().__init__(images, masks, classes, intensity)

    def _find_catalog_file(self, root, download, check_md5, hints):
        info = self.info
        self.name, self.modality = info.name, info.modality
        path, source = find_segmentation_file(info.file_name, root)
        if path is None:
            if not (download and info.downloadable):
                raise _not_found_error(info, root, hints)
            path = download_segmentation(info.name, root)
            source = f"download ({info.url})"
        self.path, self.source, self._md5 = Path(path), source, None
        if check_md5:
            get = f"get {info.url}" if info.downloadable else "make it again"
            self._md5 = verify_md5(
                self.path,
                info.md5,
                f"The file is damaged or not the expected {info.file_name}: delete it and {get}; "
                f"{hint(hints, 'skip_md5')}.",
            )

    def _classes(self, classes, archive, mask_key):
        if classes is not None:
            return tuple(classes)
        if self.info is not None:
            if not self.category:
                return self.info.classes
            known = self.info.category_classes(self.category)
            if known is not None:
                return known
        # The largest label of this labelling in every split of the file: the same classes for each split.
        suffix = mask_key[len(self.split) :]
        highest = 0
        for split in SPLITS:
            if f"{split}{suffix}" in archive.files:
                values = _read(archive, self.path, f"{split}{suffix}")
                if values.size and values.dtype.kind in "biuf":
                    highest = max(highest, int(np.nanmax(values)))
        return default_classes(highest + 1)

    @property
    def md5(self):
        """MD5 of the file used (computed on first access when it was not checked)."""
        if self._md5 is None:
            self._md5 = md5(self.path)
        return self._md5


# ---------------------------------------------------------------------------- folders

FOLDER_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".npy")
FOLDER_MASK_EXTENSIONS = (".png", ".npy")
MAX_FOLDER_LABEL = 100  # larger mask values (without classes=) are taken as a mistake: grey levels, not labels


def _read_picture(path, mask):
    """A PNG/JPEG/TIFF → its pixels as stored: uint8 (H, W) / (H, W, 3), or the raw values of 16-bit files."""
    from PIL import Image, UnidentifiedImageError  # Pillow only when a picture is read

    try:
        with Image.open(path) as image:
            if mask:
                if image.mode in ("RGB", "RGBA"):
                    pixels = np.asarray(image)[..., :3]
                    if not (np.all(pixels[..., 0] == pixels[..., 1]) and np.all(pixels[..., 1] == pixels[..., 2])):
                        raise DataFileError(
                            f"{path}: a mask must be a single-channel label map (class index per pixel), "
                            "not a colour image"
                        )
                    return pixels[..., 0]
                return np.asarray(image.convert("L") if image.mode == "LA" else image)  # "P": the palette indices
            if image.mode in ("1", "L", "LA", "P"):
                return np.asarray(image.convert("L"))
            if image.mode.startswith("I") or image.mode == "F":
                return np.asarray(image)
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise DataFileError(f"cannot read {path} as an image ({exc})") from exc


def _read_npy(path):
    problem = numpy_file_problem(path, "npy")
    if problem:
        raise DataFileError(f"{path} {problem}")
    try:
        array = np.load(path)  # allow_pickle stays False
    except ValueError as exc:
        if "pickle" in str(exc):
            raise DataFileError(pickle_refusal(path)) from None
        raise DataFileError(f"cannot read {path} as a .npy array: {exc}") from exc
    if not isinstance(array, np.ndarray):
        getattr(array, "close", lambda: None)()
        raise DataFileError(f"{path} is not a single .npy array")
    return array


def _by_stem(folder, extensions):
    files = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.name.startswith(".") and path.suffix.lower() in extensions:
            if path.stem in files:
                raise DataFileError(
                    f"{folder} holds two files named {path.stem!r}: {files[path.stem].name}, {path.name}"
                )
            files[path.stem] = path
    return files


class SegmentationFolder(SegmentationDataset):
    """Images with masks from a folder: ``root/images/x.png`` with ``root/masks/x.png`` (same stem).

    With split folders (``root/train/images``, ``root/train/masks``, …) pass ``split``. Images may
    be .png .jpg .jpeg .tif .npy (an .npy keeps its values, e.g. Hounsfield units); masks .png or
    .npy (JPEG would blur labels). Binary masks stored as 0/255 become 0/1; other masks must hold
    small class indices 0, 1, 2, … ``size``: resize images (bilinear) and masks (nearest) to
    size × size (an int or (h, w)); without it all files must have one size.
    Attributes as ``SegmentationNPZ``, plus ``files``: [(image path, mask path)].
    """

    def __init__(self, root, split=None, classes=None, size=None, intensity="auto"):
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise DataFileNotFoundError(f"segmentation folder not found: {self.root}", [self.root])
        if split is not None:
            check_split(split)
            base = self.root / split
            if not (base / "images").is_dir():
                flat = (self.root / "images").is_dir()
                raise DataFileNotFoundError(
                    f"no folder {base / 'images'} for split {split!r}"
                    + (
                        f"; {self.root} has no split folders: pass split=None to read {self.root / 'images'}"
                        if flat
                        else ""
                    ),
                    [base / "images"],
                )
        else:
            base = self.root
            if not (base / "images").is_dir():
                splits = [s for s in SPLITS if (self.root / s / "images").is_dir()]
                raise DataFileNotFoundError(
                    f"no folder {base / 'images'} (expected root/images/x.png with root/masks/x.png)"
                    + (f"; it has split folders {splits}: pass split=" if splits else ""),
                    [base / "images"],
                )
        for sub in ("images", "masks"):
            if not (base / sub).is_dir():
                raise DataFileNotFoundError(
                    f"no folder {base / sub} (expected {base}/images and {base}/masks)", [base / sub]
                )
        self.split, self.name, self.path = split, self.root.name, self.root
        self.source = f"image folder ({base})"
        images_by_stem = _by_stem(base / "images", FOLDER_IMAGE_EXTENSIONS)
        masks_by_stem = _by_stem(base / "masks", FOLDER_MASK_EXTENSIONS)
        if not images_by_stem:
            raise DataFileError(f"{base / 'images'} holds no images ({', '.join(FOLDER_IMAGE_EXTENSIONS)})")
        for missing, have, lack in ((sorted(set(images_by_stem) - set(masks_by_stem)), "images", "masks"),
                                    (sorted(set(masks_by_stem) - set(images_by_stem)), "masks", "images")):  # fmt: skip
            if missing:
                more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
                raise DataFileError(
                    f"{base}: {len(missing)} of the {have} have no file of the same name in {base / lack}: "
                    f"{', '.join(missing[:5])}{more}"
                )
        self.files = [(images_by_stem[stem], masks_by_stem[stem]) for stem in sorted(images_by_stem)]
        images = [_read_npy(p) if p.suffix.lower() == ".npy" else _read_picture(p, mask=False) for p, _ in self.files]
        masks = [_read_npy(m) if m.suffix.lower() == ".npy" else _read_picture(m, mask=True) for _, m in self.files]
        images, masks = self._to_arrays(images, masks, size)
        masks = self._labels(masks, classes)
        highest = int(masks.max()) if masks.size else 0
        names = tuple(classes) if classes is not None else default_classes(highest + 1)
        images, masks = check_segmentation_arrays(images, masks, base, len(names), "images", "masks")
        super().__init__(images, masks, names, intensity)

    def _to_arrays(self, images, masks, size):
        for (image_path, mask_path), image, mask in zip(self.files, images, masks):
            if image.ndim == 3 and image.shape[0] in (1, 3, 4) and image.shape[-1] not in (1, 3, 4):
                raise DataFileError(f"{image_path}: store .npy images as (H, W) or (H, W, C), got {image.shape}")
            if image.ndim not in (2, 3) or mask.ndim != 2:
                raise DataFileError(
                    f"{image_path} / {mask_path}: images must be (H, W) or (H, W, C), masks (H, W); "
                    f"got {image.shape} and {mask.shape}"
                )
            if mask.dtype.kind not in "biuf" or (
                mask.dtype.kind == "f" and not np.all(np.isfinite(mask) & (mask == np.round(mask)))
            ):
                raise DataFileError(
                    f"{mask_path}: a mask must hold small whole numbers (class indices 0, 1, 2, …), got "
                    f"{mask.dtype} values that are not"
                )
            if image.shape[:2] != mask.shape:
                raise DataFileError(
                    f"{image_path} is {image.shape[:2]} but its mask {mask_path} is {mask.shape} (H, W)"
                )
        if any(image.ndim == 3 for image in images):  # some colour: all colour (grey repeated in R, G, B)
            images = [image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=-1) for image in images]
            if len({image.shape[-1] for image in images}) > 1:
                raise DataFileError(f"{self.root}: images have different numbers of channels")
        if size is not None:
            size = (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))
            if min(size) < 1:
                raise ValueError(f"size must be positive, got {size}")
            # uint8 pictures stay uint8 after resizing (rounded), so "auto" still divides them by 255.
            images = [
                np.clip(np.round(_resize_one(image, size)), 0, 255).astype(np.uint8)
                if image.dtype == np.uint8
                else _resize_one(image, size)
                for image in images
            ]
            masks = [resize_masks(np.asarray(mask)[None].astype(np.int64), size)[0] for mask in masks]
        shapes = {image.shape for image in images}
        if len(shapes) > 1:
            raise DataFileError(f"{self.root}: images differ in size ({sorted(shapes)[:3]}); pass size= to resize them")
        return np.stack(images), np.stack(masks)

    def _labels(self, masks, classes):
        values = np.unique(masks)
        if values.size and values.min() < 0:
            raise DataFileError(f"{self.root}: masks hold negative values {values[values < 0][:5].tolist()}")
        if classes is None and set(values.tolist()) <= {0, 255} and 255 in values:
            return (masks == 255).astype(np.int64)  # binary masks saved for display: 255 = the structure
        if classes is None and values.size and values.max() > MAX_FOLDER_LABEL:
            raise DataFileError(
                f"{self.root}: masks hold values up to {values.max()} ({len(values)} distinct values); masks must "
                "hold small whole numbers, one class index per pixel (0 background, 1, 2, …), or 0/255 for binary "
                "masks. Grey levels between them come from a resized or JPEG-saved mask; pass classes= for more "
                f"than {MAX_FOLDER_LABEL} classes"
            )
        return masks.astype(np.int64)


def _resize_one(image, size):
    """One stored image (H, W) or (H, W, C) → float32 of ``size`` (bilinear), channels kept last."""
    batch = image[None, None] if image.ndim == 2 else image.transpose(2, 0, 1)[None]
    out = resize_images(batch.astype(np.float32), size)[0]
    return out[0] if image.ndim == 2 else out.transpose(1, 2, 0)


# ---------------------------------------------------------------------------- synthetic shapes

SYNTHETIC_SEGMENTATION_CLASSES = ("background", "organ", "lesion")
SYNTHETIC_SEGMENTATION_SIZES = {"train": 256, "val": 64, "test": 64}  # images per split unless n= says otherwise


def make_organ_images(n, rng, size=64):
    """(images uint8 (n, size, size), masks int64 (n, size, size)) drawn with the numpy Generator ``rng``.

    Each image: a noisy background (level ~0.2) holding a bright "organ", an ellipse of random size,
    position and angle (level ~0.65, with a smooth texture), inside which sit zero to two darker
    "lesions" (discs, level organ − 0.35). Edges are soft in the image (a logistic ramp), hard in the mask:

        inside_organ(r, c) = ((u/a)² + (v/b)² ≤ 1),  (u, v) = the point turned by −φ about the centre
        image = background + contrast·σ((1 − ρ)·b/1.2) − depth·Σ lesion discs + 0.05·ε,  ρ² = (u/a)² + (v/b)²
        mask  = 1 inside the organ, 2 inside a lesion (always inside the organ), else 0.
    """
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    shape = (n, 1, 1)

    def uniform(low, high):
        return rng.uniform(low, high, size=shape).astype(np.float32)

    a, b = uniform(0.22, 0.36) * size, uniform(0.16, 0.28) * size  # semi-axes
    centre_r, centre_c = uniform(0.38, 0.62) * size, uniform(0.38, 0.62) * size
    angle = uniform(0.0, np.pi)
    dr, dc = rows - centre_r, cols - centre_c
    u = dc * np.cos(angle) + dr * np.sin(angle)
    v = -dc * np.sin(angle) + dr * np.cos(angle)
    rho = np.sqrt((u / a) ** 2 + (v / b) ** 2)
    organ = rho <= 1.0
    soft_organ = 1.0 / (1.0 + np.exp(-(1.0 - rho) * b / 1.2))  # an edge about one pixel wide

    texture = np.zeros((n, size, size), np.float32)
    for _ in range(2):
        freq, direction, phase = uniform(0.15, 0.45), uniform(0.0, np.pi), uniform(0.0, 2 * np.pi)
        texture += 0.04 * np.sin(freq * (rows * np.sin(direction) + cols * np.cos(direction)) + phase)
    images = uniform(0.15, 0.25) + uniform(0.4, 0.5) * soft_organ + texture * soft_organ

    # Two lesions drawn for every image (the random stream does not depend on how many are kept),
    # placed at up to half the organ's radius from its centre so that they stay inside it.
    masks = organ.astype(np.int64)
    n_lesions = rng.integers(0, 3, size=n)
    for k in range(2):
        t, s = uniform(0.0, 2 * np.pi), uniform(0.0, 0.5)
        lu, lv = s * a * np.cos(t), s * b * np.sin(t)
        lesion_r = centre_r + lu * np.sin(angle) + lv * np.cos(angle)
        lesion_c = centre_c + lu * np.cos(angle) - lv * np.sin(angle)
        radius = np.minimum(uniform(0.05, 0.09) * size, 0.45 * b)
        distance = np.sqrt((rows - lesion_r) ** 2 + (cols - lesion_c) ** 2)
        active = (n_lesions > k)[:, None, None]
        lesion = (distance <= radius) & organ & active
        soft = 1.0 / (1.0 + np.exp((distance - radius) / 0.7))
        images = images - uniform(0.3, 0.4) * soft * active * soft_organ
        masks[lesion] = 2
    images = images + 0.05 * rng.standard_normal((n, size, size), dtype=np.float32)
    return np.round(np.clip(images, 0.0, 1.0) * 255).astype(np.uint8), masks


class SyntheticSegmentation(SegmentationDataset):
    """Made-up organs with lesions, for tests and a first run offline: classes background, organ, lesion.

    NOT medical data (see ``make_organ_images``). ``n`` images per split (default 256/64/64) of
    ``size``×``size`` pixels (uint8, so the intensity step is / 255); each split has its own
    random stream from (``seed``, split), so the same arguments give the same images, bit for bit.
    """

    name = "synthetic-segmentation"
    source = "synthetic"
    modality = "synthetic"

    def __init__(self, split="train", n=None, size=64, seed=0, intensity="auto"):
        self.split = check_split(split)
        n = SYNTHETIC_SEGMENTATION_SIZES[self.split] if n is None else int(n)
        if n < 1 or int(size) < 8:
            raise ValueError(f"SyntheticSegmentation: need n >= 1 and size >= 8, got n={n}, size={size}")
        self.seed, self.fallback_reason = seed, None
        rng = np.random.default_rng([int(seed), SPLITS.index(self.split), 18])
        images, masks = make_organ_images(n, rng, int(size))
        super().__init__(images, masks, SYNTHETIC_SEGMENTATION_CLASSES, intensity)


# ---------------------------------------------------------------------------- one call for all


def load_segmentation(name, split, root=None, download=False, fallback_synthetic=False, hints="python", **options):
    """One split of a segmentation data set, whatever ``name`` is:

    * "synthetic" / "synthetic-segmentation" → ``SyntheticSegmentation`` (options n, size, seed, intensity);
    * a catalog name (``SEGMENTATION``) or a path to an ``.npz`` → ``SegmentationNPZ`` (options category,
      intensity, check_md5, classes);
    * a path to a folder → ``SegmentationFolder`` (options classes, size, intensity).

    With ``fallback_synthetic=True`` a missing file (or a failed download) gives the synthetic set instead,
    with a ``SyntheticFallbackWarning`` and the reason in ``ds.fallback_reason``; off by default, since
    results on made-up shapes must never pass for results on patients.
    """
    from .load import SyntheticFallbackWarning  # here: load.py is about classification and imports more

    text = str(name).strip()
    if text.lower() in SYNTHETIC_SEGMENTATION_NAMES:
        return SyntheticSegmentation(split, **options)
    try:
        if text.lower() not in SEGMENTATION and Path(text).expanduser().is_dir():
            return SegmentationFolder(Path(text), split, **options)
        return SegmentationNPZ(name, split, root=root, download=download, hints=hints, **options)
    except (DataFileNotFoundError, DownloadError) as exc:
        if not fallback_synthetic:
            raise
        keep = {k: options[k] for k in ("intensity",) if k in options}
        dataset = SyntheticSegmentation(split, **keep)
        if isinstance(exc, DownloadError):
            dataset.fallback_reason = f"{name} is not on this machine and the download failed ({exc})"
        else:
            places = ", ".join(str(path.parent) for path in exc.searched) or "(nowhere)"
            file_name = exc.searched[-1].name if exc.searched else str(name)
            dataset.fallback_reason = f"{file_name} not found in {places}"
        warnings.warn(
            f"{dataset.fallback_reason}; using SYNTHETIC segmentation shapes instead (organs and lesions drawn "
            "by tinydl, not medical data).",
            SyntheticFallbackWarning,
            stacklevel=2,
        )
        return dataset


def segmentation_table(root=None):
    """The known segmentation sets as a text table: name, modality, classes, and where the file was found."""
    header = ("name", "modality", "ch", "classes", "local file")
    rows = []
    for info in SEGMENTATION.values():
        path, source = find_segmentation_file(info.file_name, root)
        if path is not None:
            where = f"{path}  [{source.split(' (')[0]}]"
        else:
            where = "missing" + ("" if info.downloadable else " (not downloadable)")
        classes = ", ".join(info.classes) + "".join(f" (+{c}: {k} regions)" for c, k in info.categories)
        rows.append((info.name, info.modality, str(info.channels), classes, where))
    rows.append((SyntheticSegmentation.name, "synthetic", "1", ", ".join(SYNTHETIC_SEGMENTATION_CLASSES), "built-in"))
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header) - 1)]

    def fmt(r):
        return "  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1]

    lines = [fmt(header), fmt(tuple("-" * len(h) for h in header))] + [fmt(r) for r in rows]
    places = "; ".join(
        f"{label}: {folder if folder is not None else '(not set)'}" for label, folder in segmentation_search_dirs(root)
    )
    return "\n".join(lines) + "\n\nSearched, in order: " + places + "."
