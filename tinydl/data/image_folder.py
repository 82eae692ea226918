"""Your own images: a folder of class sub-folders, and single image files for prediction.

The layout is the one Keras' ``flow_from_directory`` and torchvision's
``ImageFolder`` read::

    root/
      normal/     img001.png  img002.jpg ...
      pneumonia/  img101.png ...

Class names are the sub-folder names, sorted, so the label numbers do not
depend on the order the file system lists them in. Images are converted to
grey or RGB and resized (bilinear) to one size, then held in memory like
MedMNIST. Pillow (``PIL``, installed with matplotlib) reads the files; it is
imported only when an image is read.
"""

from pathlib import Path

import numpy as np

from .base import DataFileError, DataFileNotFoundError, ImageDataset, images_to_nchw
from .checks import numpy_file_problem, pickle_refusal

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
_GREY_MODES = {"1", "L", "LA", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"}


def _pil():
    try:
        from PIL import Image, ImageOps, UnidentifiedImageError
    except ImportError as exc:  # pragma: no cover - Pillow comes with matplotlib
        raise ImportError("reading PNG/JPEG images needs Pillow: pip install pillow") from exc
    return Image, ImageOps, UnidentifiedImageError


def _open(path):
    """A Pillow image of ``path`` (header read, pixels not yet decoded); DataFileError if unreadable."""
    Image, ImageOps, UnidentifiedImageError = _pil()
    try:
        return Image.open(path)
    except FileNotFoundError:
        raise DataFileNotFoundError(f"image not found: {path}", [Path(path)]) from None
    except (UnidentifiedImageError, OSError) as exc:
        raise DataFileError(f"cannot read {path} as an image ({exc}); supported: PNG, JPEG, .npy") from exc


def _mode(path):
    with _open(path) as image:
        return image.mode


def _to_uint8(image, channels, size, path):
    """Pillow image → uint8 array (H, W) for channels=1 or (H, W, 3) for channels=3, resized to ``size``."""
    Image, ImageOps, _ = _pil()
    try:
        image = ImageOps.exif_transpose(image)  # photos from phones: apply the camera's rotation flag
        if image.mode.startswith("I;16") or image.mode in ("I", "F"):
            # 16-bit (or 32-bit) grey, common for medical PNGs: Pillow's convert("L") would clip at
            # 255 instead of scaling, so scale to 0..255 ourselves (65535 / 257 = 255).
            values = np.asarray(image, dtype=np.float64)
            if image.mode.startswith("I;16") or values.max(initial=0) > 255:
                values = values / 257.0
            image = Image.fromarray(np.clip(np.round(values), 0, 255).astype(np.uint8))  # → mode "L"
        image = image.convert("L" if channels == 1 else "RGB")  # RGB → grey: 0.299 R + 0.587 G + 0.114 B
        if size is not None and image.size != (size[1], size[0]):
            image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)  # Pillow wants (W, H)
        return np.asarray(image, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError) as exc:  # decoding errors show up only now
        raise DataFileError(f"cannot decode image {path} ({type(exc).__name__}: {exc})") from exc


def _check_channels(channels):
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")


def _check_size(size):
    if size is None:
        return None
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"size must be (height, width) with positive sizes, or None, got {size!r}")
    return (int(size[0]), int(size[1]))


class ImageFolder(ImageDataset):
    """All images under ``root/<class name>/``, loaded into memory.

    ``grayscale``: True → 1 channel, False → 3 (RGB), None → 1 if every file is
    grey, else 3. ``size``: (height, width) to resize to (bilinear), or None to
    keep the files' own size (then they must all match). Attributes as for
    ``MedMNIST``, plus ``class_to_idx`` and ``samples`` [(path, label)].
    """

    def __init__(
        self, root, grayscale=None, size=(28, 28), transform=None, target_transform=None, extensions=IMAGE_EXTENSIONS
    ):
        self.root = Path(root).expanduser()
        size = _check_size(size)
        if not self.root.is_dir():
            raise DataFileNotFoundError(
                f"image folder not found: {self.root} (expected root/<class>/<image>)", [self.root]
            )
        extensions = tuple(e.lower() for e in extensions)
        class_dirs = sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not class_dirs:
            raise DataFileError(
                f"{self.root} has no class sub-folders; expected root/<class name>/<image> "
                f"with {', '.join(extensions)} images"
            )
        self.class_to_idx = {d.name: i for i, d in enumerate(class_dirs)}
        self.samples = [
            (path, label)
            for label, folder in enumerate(class_dirs)
            for path in sorted(folder.rglob("*"))
            if path.is_file() and path.suffix.lower() in extensions and not path.name.startswith(".")
        ]
        if not self.samples:
            raise DataFileError(
                f"no images ({', '.join(extensions)}) found in the class folders of "
                f"{self.root}: {', '.join(self.class_to_idx)}"
            )
        empty = sorted(set(self.class_to_idx) - {class_dirs[lab].name for _, lab in self.samples})
        if empty:
            import warnings

            # An empty class folder is kept so that label numbers match other folders with the
            # same classes (train/ and test/), but it is probably a mistake: say so.
            warnings.warn(f"{self.root}: class folder(s) without images: {', '.join(empty)}", stacklevel=2)

        if grayscale is None:  # a first pass reads only the file headers (cheap)
            grayscale = all(_mode(path) in _GREY_MODES for path, _ in self.samples)
        channels = 1 if grayscale else 3
        arrays = []
        for path, _ in self.samples:  # one file open at a time: folders may hold thousands
            with _open(path) as image:
                arrays.append(_to_uint8(image, channels, size, path))
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:  # only possible with size=None
            first = arrays[0].shape
            odd = next(path for a, (path, _) in zip(arrays, self.samples) if a.shape != first)
            raise DataFileError(
                f"images differ in size ({self.samples[0][0]} is {first}, {odd} is not); "
                "pass size=(height, width) to resize them all"
            )
        super().__init__(
            np.stack(arrays),
            np.array([lab for _, lab in self.samples], dtype=np.int64),
            [d.name for d in class_dirs],
            transform,
            target_transform,
        )
        self.name, self.split = self.root.name, None
        self.task = "binary-class" if len(class_dirs) == 2 else "multi-class"
        self.source = f"image folder ({self.root})"
        self.path = self.root

    @property
    def paths(self):
        return [path for path, _ in self.samples]


def load_image(path, channels=1, size=(28, 28), resize=True, convert=True):
    """One image file → float32 (C, H, W) in [0, 1], ready for a model (add the batch axis yourself).

    Reads PNG/JPEG (Pillow) and ``.npy`` (``np.load`` without pickle). A ``.npy``
    array may be (H, W), (C, H, W) or (H, W, C) with C = 1 or 3, uint8 (0–255)
    or float in [0, 1]. With ``resize=False`` the image must already be ``size``,
    and with ``convert=False`` it must already have ``channels`` channels —
    otherwise a ValueError names what differs. ``size=None`` keeps the file's size.
    """
    _check_channels(channels)
    size = _check_size(size)
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataFileNotFoundError(f"image not found: {path}", [path])
    if path.suffix.lower() == ".npy":
        return _load_npy(path, channels, size, resize, convert)

    image = _open(path)
    with image:
        file_channels = 1 if image.mode in _GREY_MODES else 3
        if not convert and file_channels != channels:
            raise ValueError(
                f"{path} has {file_channels} channel(s) ({image.mode}), expected {channels}; "
                "pass convert=True to convert"
            )
        if not resize and size is not None and image.size != (size[1], size[0]):
            raise ValueError(
                f"{path} is {image.size[1]}×{image.size[0]} (H×W), expected {size[0]}×{size[1]}; "
                "pass resize=True to resize"
            )
        pixels = _to_uint8(image, channels, size, path)
    return images_to_nchw(pixels[None])[0]


def _load_npy(path, channels, size, resize, convert):
    problem = numpy_file_problem(path, "npy")  # e.g. a web page saved under a .npy name
    if problem:
        raise DataFileError(f"{path} {problem}")
    try:
        array = np.load(path)  # allow_pickle stays False
    except ValueError as exc:
        if "pickle" in str(exc):  # an object array: say so, without NumPy's advice to allow pickles
            raise DataFileError(pickle_refusal(path)) from None
        raise DataFileError(f"cannot read {path} as a .npy array (truncated or corrupt?): {exc}") from exc
    except (OSError, EOFError) as exc:
        raise DataFileError(f"cannot read {path} as a .npy array (truncated or corrupt?): {exc}") from exc
    if not isinstance(array, np.ndarray):  # an .npz archive under a .npy name: close it, then refuse
        getattr(array, "close", lambda: None)()
        raise DataFileError(f"{path} is not a single .npy array")
    # Shape → (C, H, W).
    if array.ndim == 2:
        array = array[None]
    elif array.ndim == 3 and array.shape[0] in (1, 3):
        pass
    elif array.ndim == 3 and array.shape[-1] in (1, 3):
        array = array.transpose(2, 0, 1)
    else:
        raise ValueError(
            f"{path}: array of shape {array.shape} is not an image; expected (H, W), "
            "(C, H, W) or (H, W, C) with C = 1 or 3"
        )
    # Values → float32 in [0, 1].
    if array.dtype == np.uint8:
        image = array.astype(np.float32) / np.float32(255)
    elif np.issubdtype(array.dtype, np.floating):
        image = array.astype(np.float32)
        low, high = float(image.min()), float(image.max())
        if not (np.isfinite(low) and np.isfinite(high) and low >= 0.0 and high <= 1.0):
            raise ValueError(
                f"{path}: float pixel values must lie in [0, 1], got {low} to {high} (scale them, or save uint8 0-255)"
            )
    else:
        raise ValueError(f"{path}: dtype {array.dtype} not supported; save uint8 (0-255) or float in [0, 1]")
    # Channels.
    if image.shape[0] != channels:
        if not convert:
            raise ValueError(
                f"{path} has {image.shape[0]} channel(s), expected {channels}; pass convert=True to convert"
            )
        if channels == 3:
            image = np.repeat(image, 3, axis=0)  # grey → RGB: the same value in R, G and B
        else:  # RGB → grey with the ITU-R 601 weights Pillow uses too
            image = np.tensordot(np.array([0.299, 0.587, 0.114], np.float32), image, axes=1)[None]
    # Size.
    if size is not None and image.shape[1:] != size:
        if not resize:
            raise ValueError(
                f"{path} is {image.shape[1]}×{image.shape[2]} (H×W), expected "
                f"{size[0]}×{size[1]}; pass resize=True to resize"
            )
        Image, _, _ = _pil()
        image = np.stack(
            [
                np.asarray(Image.fromarray(plane).resize((size[1], size[0]), Image.Resampling.BILINEAR))
                for plane in np.ascontiguousarray(image)
            ]
        )
    return np.ascontiguousarray(np.clip(image, 0.0, 1.0), dtype=np.float32)
