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

Checks every image passes (a bad file is named in a DataFileError):

* at least 2×2 pixels: an empty (0×0) or 1-pixel image carries nothing to
  classify, yet resizing would turn it into a plausible-looking input;
  a constant (blank) image is accepted, with a UserWarning naming it;
* no more pixels than Pillow's decompression-bomb limit
  (``PIL.Image.MAX_IMAGE_PIXELS``), which guards against a tiny file that
  unpacks to gigabytes.

16-bit images (and 32-bit grey ones) are scaled to 0..255 by the bit depth
their values show, since medical scanners often store 12-bit values in 16-bit
PNGs: dividing those by 257 would leave them nearly black. The rule
(:func:`bit_depth_of`): largest value ≤ 4095 → 12-bit (× 255/4095), else 16-bit
(× 255/65535); 32-bit grey images (Pillow modes "I", "F") with values ≤ 255
are taken as 8-bit. An ``ImageFolder`` applies one depth to all its files (from
their largest value), so that images of one scanner are scaled alike; it says
which in ``.bit_depth`` and ``.scaling``. ``load_image(..., bit_depth=12)``
forces a depth (e.g. the one a model was trained with) and
``return_info=True`` returns which was used.
"""

import warnings
from pathlib import Path

import numpy as np

from .base import DataFileError, DataFileNotFoundError, ImageDataset, images_to_nchw
from .checks import numpy_file_problem, pickle_refusal

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
_GREY_MODES = {"1", "L", "LA", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"}
MIN_IMAGE_SIDE = 2  # pixels; smaller images (0×0, 1×N) are refused
BIT_DEPTHS = (8, 12, 16)


def _is_high_depth(mode):
    """True for Pillow modes holding more than 8 bits per pixel: 16-bit ("I;16…") and 32-bit grey ("I", "F")."""
    return mode.startswith("I;16") or mode in ("I", "F")


def bit_depth_of(peak, mode="I;16"):
    """The bit depth (8, 12 or 16) that a grey image of Pillow ``mode`` whose largest value is ``peak`` uses.

    Largest value ≤ 4095 → 12 (a 12-bit scan stored in 16 bits), else 16; a 32-bit
    mode ("I", "F") with values ≤ 255 → 8. A 10-bit image counts as 12-bit (it
    comes out darker, but consistently so). Above 65535 → ValueError.
    """
    if mode in ("I", "F") and peak <= 255:
        return 8
    if peak <= 4095:
        return 12
    if peak <= 65535:
        return 16
    raise ValueError(f"pixel values up to {peak:g} are beyond 16 bits")


def scaling_text(bit_depth):
    """How pixel values of ``bit_depth`` become 0..255, in words ("12-bit: × 255/4095")."""
    return "8-bit: as stored" if bit_depth == 8 else f"{bit_depth}-bit: × 255/{2**bit_depth - 1}"


def _check_side(path, width, height):
    if min(width, height) < MIN_IMAGE_SIDE:
        raise DataFileError(
            f"{path} is {height}×{width} pixels (H×W): too small to be an image (empty or damaged?); "
            f"images need at least {MIN_IMAGE_SIDE}×{MIN_IMAGE_SIDE} pixels"
        )


def _warn_if_blank(path, pixels):
    if pixels.size and pixels.min() == pixels.max():
        warnings.warn(
            f"{path}: every pixel is {pixels.flat[0]}: a blank image carries nothing to classify", stacklevel=3
        )


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
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:  # the warning if made an error
        raise DataFileError(
            f"{path} is too large to decode safely ({exc}): Pillow's limit against decompression bombs is "
            f"{Image.MAX_IMAGE_PIXELS} pixels (PIL.Image.MAX_IMAGE_PIXELS); shrink the image, or raise the "
            "limit if you trust the file"
        ) from None
    except (UnidentifiedImageError, OSError) as exc:
        raise DataFileError(f"cannot read {path} as an image ({exc}); supported: PNG, JPEG, .npy") from exc


def _mode(path):
    with _open(path) as image:
        return image.mode


def _decode(image, channels, size, path):
    """Pillow image → (pixels, peak), resized to ``size``.

    8-bit images: uint8 (H, W) for channels=1 or (H, W, 3) for channels=3, peak None.
    High-depth grey images: their raw values as float32 (H, W), peak = the largest
    value, for :func:`_high_to_uint8` to scale once the bit depth is known.
    """
    Image, ImageOps, _ = _pil()
    try:
        image = ImageOps.exif_transpose(image)  # photos from phones: apply the camera's rotation flag
        _check_side(path, *image.size)
        if _is_high_depth(image.mode):
            # Pillow's convert("L") would clip at 255 instead of scaling: keep the values, resize them
            # as floats, and scale when the bit depth is known.
            values = np.asarray(image, dtype=np.float32)
            low, peak = float(values.min()), float(values.max())
            if not (np.isfinite(low) and np.isfinite(peak)) or low < 0 or peak > 65535:
                raise DataFileError(f"{path}: pixel values {low:g} to {peak:g} are not 0..65535 (8- to 16-bit)")
            _warn_if_blank(path, values)
            raw = Image.fromarray(values)  # mode "F"
            if size is not None and raw.size != (size[1], size[0]):
                raw = raw.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            return np.asarray(raw, dtype=np.float32), peak
        image = image.convert("L" if channels == 1 else "RGB")  # RGB → grey: 0.299 R + 0.587 G + 0.114 B
        _warn_if_blank(path, np.asarray(image))
        if size is not None and image.size != (size[1], size[0]):
            image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)  # Pillow wants (W, H)
        return np.asarray(image, dtype=np.uint8), None
    except (OSError, ValueError, SyntaxError) as exc:  # decoding errors show up only now
        if isinstance(exc, DataFileError):
            raise
        raise DataFileError(f"cannot decode image {path} ({type(exc).__name__}: {exc})") from exc


def _high_to_uint8(values, bit_depth, channels):
    """Raw high-depth grey values → uint8 0..255 by ``bit_depth`` ((H, W), or (H, W, 3) for channels=3)."""
    pixels = np.clip(np.round(values * (255.0 / (2**bit_depth - 1))), 0, 255).astype(np.uint8)
    return np.repeat(pixels[..., None], 3, axis=-1) if channels == 3 else pixels


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
    ``MedMNIST``, plus ``class_to_idx``, ``samples`` [(path, label)], and
    ``bit_depth`` (8, 12 or 16) with ``scaling`` (in words): how the pixel
    values of 16-bit files were brought to 0..255 (see the module docstring).
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
        decoded = []
        for path, _ in self.samples:  # one file open at a time: folders may hold thousands
            with _open(path) as image:
                decoded.append((*_decode(image, channels, size, path), image.mode))
        # One bit depth for all high-depth files, from their largest value, so that the images of one
        # scanner are scaled alike (a darker 16-bit scan is not mistaken for a 12-bit one).
        high = [(peak, mode) for _, peak, mode in decoded if peak is not None]
        self.bit_depth = bit_depth_of(*max(high)) if high else 8
        self.scaling = scaling_text(self.bit_depth)
        arrays = [
            pixels if peak is None else _high_to_uint8(pixels, self.bit_depth, channels) for pixels, peak, _ in decoded
        ]
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


def load_image(path, channels=1, size=(28, 28), resize=True, convert=True, bit_depth=None, return_info=False):
    """One image file → float32 (C, H, W) in [0, 1], ready for a model (add the batch axis yourself).

    Reads PNG/JPEG (Pillow) and ``.npy`` (``np.load`` without pickle). A ``.npy``
    array may be (H, W), (C, H, W) or (H, W, C) with C = 1 or 3, uint8 (0–255)
    or float in [0, 1]. With ``resize=False`` the image must already be ``size``,
    and with ``convert=False`` it must already have ``channels`` channels —
    otherwise a ValueError names what differs. ``size=None`` keeps the file's size.
    Images smaller than 2×2 pixels are refused (DataFileError naming the file).

    16-bit images are scaled by ``bit_depth`` (8, 12 or 16), or by the depth their
    values show when None (:func:`bit_depth_of`). ``return_info=True`` returns
    ``(image, info)`` with info = {"bit_depth", "scaling"}: what was used, for
    the output to say (bit_depth 8 for 8-bit files and ``.npy`` arrays).
    """
    _check_channels(channels)
    size = _check_size(size)
    if bit_depth is not None and bit_depth not in BIT_DEPTHS:
        raise ValueError(f"bit_depth must be None or one of {BIT_DEPTHS}, got {bit_depth!r}")
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataFileNotFoundError(f"image not found: {path}", [path])
    if path.suffix.lower() == ".npy":
        image, used = _load_npy(path, channels, size, resize, convert), 8
    else:
        image, used = _load_picture(path, channels, size, resize, convert, bit_depth)
    if return_info:
        return image, {"bit_depth": used, "scaling": scaling_text(used)}
    return image


def _load_picture(path, channels, size, resize, convert, bit_depth):
    """A PNG/JPEG file → (float32 (C, H, W) in [0, 1], the bit depth used)."""
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
        pixels, peak = _decode(image, channels, size, path)
        used = 8
        if peak is not None:
            used = bit_depth if bit_depth is not None else bit_depth_of(peak, image.mode)
            pixels = _high_to_uint8(pixels, used, channels)
    return images_to_nchw(pixels[None])[0], used


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
    _check_side(path, array.shape[2], array.shape[1])  # a (0, 0) array is no image
    _warn_if_blank(path, array)
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


def load_images(paths, channels=1, size=(28, 28), bit_depth=None):
    """Image files → (float32 (N, C, H, W) in [0, 1], [bit depth used, per file]): what ``tinydl predict`` reads.

    Each file passes :func:`load_image`'s checks (a bad one is named);
    ``bit_depth`` as there (pass the depth a model was trained with, when known).
    """
    paths = list(paths)
    if not paths:
        raise ValueError("no image files given")
    loaded = [load_image(p, channels=channels, size=size, bit_depth=bit_depth, return_info=True) for p in paths]
    return np.stack([image for image, _ in loaded]), [info["bit_depth"] for _, info in loaded]
