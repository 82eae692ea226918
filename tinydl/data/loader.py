"""DataLoader: cut whole arrays into mini-batches, optionally shuffled and augmented.

    loader = DataLoader(train, batch_size=64, shuffle=True, seed=0, transform=augment)
    for epoch in range(10):
        for xb, yb in loader:            # NumPy arrays: xb float32 (64, C, H, W), yb int64
            loss = loss_fn(model(td.tensor(xb)), td.tensor(yb))

Why shuffle? Stochastic gradient descent assumes each mini-batch is a random
sample of the data. Without shuffling, batches keep the file's order (maybe
all of one class first) and every epoch repeats the same batches.
"""

import math

import numpy as np


def as_arrays(data, where="data", model_inputs=False):
    """(x, y) arrays from a data set with ``arrays()`` or an (x, y) tuple; float x becomes float32.

    ``model_inputs=True`` (what ``td.train.Trainer`` asks for): x must also be what
    a model takes, images (N, C, H, W) or feature vectors (N, F), and becomes
    float32 whatever its dtype (uint8 pixels too).
    """
    if hasattr(data, "arrays"):
        x, y = data.arrays()
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = data
    else:
        raise TypeError(
            f"{where} needs a data set with .arrays() or a tuple (x, y) of arrays, got {type(data).__name__}"
        )
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"{where}: x has {len(x)} samples but y has {len(y)}")
    if model_inputs:
        if x.ndim not in (2, 4):
            raise ValueError(
                f"inputs must have shape (N, C, H, W) for images or (N, features), got {x.shape}"
                + ("; add the channel axis: x[:, None]" if x.ndim == 3 else "")
            )
        return x.astype(np.float32, copy=False), y
    if np.issubdtype(x.dtype, np.floating) and x.dtype != np.float32:
        x = x.astype(np.float32)  # the framework computes in float32
    return x, y


class DataLoader:
    """Iterate over (x, y) mini-batches of NumPy arrays.

    ``data``: a data set with ``arrays()`` (``MedMNIST``, ``ImageFolder``,
    ``SyntheticLesions``) or a tuple ``(x, y)`` of arrays of equal length.
    ``shuffle``: a new random order every epoch, drawn from ``seed`` — the
    same seed gives the same sequence of epochs. ``drop_last``: skip a last
    batch smaller than ``batch_size`` (keeps batch statistics steady).
    ``transform``: applied to each x batch (e.g. ``default_augmentation()``); a paired transform
    (``transform.paired``, e.g. ``segmentation_augmentation()``) gets and returns both: ``xb, yb = t(xb, yb)``.
    """

    def __init__(self, data, batch_size=32, shuffle=False, seed=None, drop_last=False, transform=None):
        x, y = as_arrays(data, "DataLoader")
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        self.x, self.y = x, y
        self.batch_size, self.shuffle, self.drop_last = int(batch_size), shuffle, drop_last
        self.transform = transform
        self.rng = np.random.default_rng(seed)
        self.epoch = 0  # epochs started so far

    def __len__(self):
        """Number of batches per epoch: ⌈N / batch_size⌉, or ⌊N / batch_size⌋ with drop_last."""
        n = len(self.x)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        n = len(self.x)
        order = self.rng.permutation(n) if self.shuffle else None
        self.epoch += 1
        for b in range(len(self)):
            start, stop = b * self.batch_size, min((b + 1) * self.batch_size, n)
            if order is None:
                xb, yb = self.x[start:stop], self.y[start:stop]  # views: no copy
            else:
                index = order[start:stop]
                xb, yb = self.x[index], self.y[index]
            if getattr(self.transform, "paired", False):
                xb, yb = self.transform(xb, yb)  # segmentation: one geometry for image and mask
            elif self.transform is not None:
                xb = self.transform(xb)
            yield xb, yb

    def __repr__(self):
        return (
            f"DataLoader({len(self.x)} samples, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"drop_last={self.drop_last}, {len(self)} batches)"
        )
