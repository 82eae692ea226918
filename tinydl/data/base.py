"""What every tinydl image data set has in common, and the errors the data package raises.

A data set here is small enough to live in memory as two NumPy arrays:

* ``images`` — ``uint8``, shape (N, H, W) for grey or (N, H, W, 3) for colour,
  exactly as stored on disk (what you would show with ``plt.imshow``);
* ``labels`` — ``int64``, shape (N,) for one label per image, or (N, K) for
  multi-label tasks (ChestMNIST: one 0/1 column per finding).

``ds.arrays()`` turns them into what a model eats: ``x`` float32 in [0, 1],
shape (N, C, H, W) ("NCHW", channels first, as ``nn.Conv2d`` expects), and
``y`` int64. Training works from these whole arrays (see ``DataLoader``).
"""

import numpy as np

# --- errors ----------------------------------------------------------------------------------
# Each one names the file and what was wrong with it, so that the message alone says what to do.


class DataFileNotFoundError(FileNotFoundError):
    """A data file (or any image) was not found; the message lists every place that was searched."""

    def __init__(self, message, searched=()):
        super().__init__(message)
        self.searched = list(searched)  # the paths that were tried, in order


class DataFileError(ValueError):
    """A data file exists but cannot be used: not an .npz, truncated, missing key, bad shape/dtype/labels."""


class ChecksumError(DataFileError):
    """A file's MD5 is not the published one: damaged, truncated, or a different version."""

    def __init__(self, path, expected, actual, hint=""):
        message = f"MD5 mismatch for {path}: expected {expected}, got {actual}."
        if hint:
            message += " " + hint
        super().__init__(message)
        self.path, self.expected, self.actual = path, expected, actual


class DownloadError(OSError):
    """A download failed or was cut short; no partial file was left behind."""


# --- the common data set --------------------------------------------------------------------


def images_to_nchw(images):
    """uint8 images (N, H, W) or (N, H, W, C) → float32 (N, C, H, W) in [0, 1], i.e. x = pixel / 255."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[:, None, :, :]  # grey: add the channel axis
    elif images.ndim == 4:
        images = images.transpose(0, 3, 1, 2)  # colour: channels last → channels first
    else:
        raise ValueError(f"images must have shape (N, H, W) or (N, H, W, C), got {images.shape}")
    return np.divide(images, np.float32(255.0), dtype=np.float32)


class ImageDataset:
    """Base class: ``images`` + ``labels`` in memory, with ``len``, ``ds[i]`` and ``arrays()``.

    Subclasses fill in ``images``, ``labels``, ``classes``, ``task``, ``name``,
    ``split`` and ``source`` (where the data came from, for the user to see).
    """

    name = "dataset"
    split = None
    task = "multi-class"
    source = "memory"
    path = None

    def __init__(self, images, labels, classes, transform=None, target_transform=None):
        self.images = images
        self.labels = labels
        self.classes = list(classes)
        self.transform = transform
        self.target_transform = target_transform

    # --- sizes -------------------------------------------------------------------------------
    def __len__(self):
        return len(self.images)

    @property
    def n_classes(self):
        return len(self.classes)

    @property
    def n_channels(self):
        return 1 if self.images.ndim == 3 else self.images.shape[-1]

    @property
    def image_shape(self):
        """(C, H, W) of one image as the model sees it."""
        return (self.n_channels,) + tuple(self.images.shape[1:3])

    # --- access ------------------------------------------------------------------------------
    def __getitem__(self, index):
        """(image, label): image float32 (C, H, W) in [0, 1] — one row of ``arrays()`` — and its label.

        ``transform`` (if any) is applied to the image, ``target_transform`` to the label.
        The raw stored image is ``ds.images[index]``.
        """
        if not isinstance(index, (int, np.integer)):
            raise TypeError(
                f"{type(self).__name__} index must be an integer, got {type(index).__name__}; "
                "use ds.arrays() for the whole split"
            )
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {self.name} {self.split} with {n} images")
        image = images_to_nchw(self.images[index][None])[0]
        label = self.labels[index]
        label = label.copy() if np.ndim(label) else np.int64(label)
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label

    def arrays(self):
        """The whole split, ready for a model: (x float32 (N, C, H, W) in [0, 1], y int64).

        ``transform`` is *not* applied here: random augmentation frozen once into
        the arrays would show the model the same "random" images every epoch; give
        it to the ``DataLoader`` instead, which draws new ones for every batch.
        """
        return images_to_nchw(self.images), np.array(self.labels, dtype=np.int64)

    def class_counts(self):
        """{class name: number of images} (multi-label: number of images with that finding)."""
        if self.labels.ndim == 2:
            counts = self.labels.sum(axis=0)
        else:
            counts = np.bincount(self.labels, minlength=self.n_classes)
        return {name: int(c) for name, c in zip(self.classes, counts)}

    def __repr__(self):
        h, w = self.images.shape[1:3]
        return (
            f"{type(self).__name__}({self.name!r}, split={self.split!r}: {len(self)} images "
            f"{self.n_channels}×{h}×{w}, {self.n_classes} classes, task={self.task!r}, "
            f"source={self.source!r})"
        )
