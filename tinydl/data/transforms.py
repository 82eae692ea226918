"""Transforms: scaling, standardising and random augmentation of image batches, in NumPy.

Every transform is a callable object: ``x_out = t(x)``, where ``x`` is a batch
(N, C, H, W) — or one image (C, H, W) — and ``x_out`` a new float32 array of the
same shape (the input is never changed). They work on whole batches at once
because one vectorised NumPy call per batch is far faster than a Python loop
over images.

Random transforms take ``seed``: an int (reproducible), a ``numpy.random.Generator``
(shared, e.g. one for the whole pipeline), or None (fresh randomness). Each
call draws new random numbers, so every epoch sees different augmented images,
yet a run repeated with the same seed sees the same ones.

Why augment? A small training set lets a network memorise images instead of
learning what matters. Showing it slightly rotated, shifted and noisy versions
— changes that do not change the diagnosis — teaches it to ignore them.
"""

import numpy as np


def _as_batch(x):
    """(batch (N, C, H, W), was_single): one image (C, H, W) becomes a batch of one."""
    x = np.asarray(x)
    if x.ndim == 3:
        return x[None], True
    if x.ndim != 4:
        raise ValueError(f"expected images (N, C, H, W) or one image (C, H, W), got shape {x.shape}")
    return x, False


def _float32(x):
    return np.asarray(x, dtype=np.float32)


class Transform:
    """Base class: subclasses implement ``apply(batch)`` on a float32 (N, C, H, W) batch."""

    def __call__(self, x):
        batch, single = _as_batch(x)
        out = self.apply(batch)
        return out[0] if single else out

    def apply(self, batch):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "rng")
        return f"{type(self).__name__}({fields})"


class RandomTransform(Transform):
    """A transform that draws random numbers from ``self.rng`` (from ``seed``: int, Generator or None)."""

    def __init__(self, seed=None):
        self.rng = np.random.default_rng(seed)  # a Generator passed in is used as is (shared)


class Rescale(Transform):
    """x = pixel · scale, default scale = 1/255: uint8 0…255 → float32 0…1.

    Networks train best on inputs of order 1; raw 0–255 values would make the
    first layer's outputs (and gradients) about 255 times too large.
    """

    def __init__(self, scale=1 / 255):
        self.scale = scale

    def apply(self, batch):
        return np.multiply(batch, np.float32(self.scale), dtype=np.float32)


def channel_mean_std(x):
    """Per-channel mean and standard deviation of a batch (N, C, H, W), over N, H and W: two float32 (C,).

    Compute them on the TRAINING split only and reuse them for val/test: statistics
    taken from the test images would leak information about them into the model.
    """
    batch, _ = _as_batch(x)
    values = batch.astype(np.float64)  # float64 sums: no rounding drift over millions of pixels
    return values.mean(axis=(0, 2, 3)).astype(np.float32), values.std(axis=(0, 2, 3)).astype(np.float32)


class Standardize(Transform):
    """x' = (x − mean) / std, per channel: inputs centred at 0 with spread 1.

    ``mean``/``std``: a number or one per channel. ``Standardize.fit(x_train)``
    takes them from the training data (see ``channel_mean_std``).
    """

    def __init__(self, mean, std):
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float32))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float32))
        if np.any(self.std <= 0):
            raise ValueError(f"Standardize: std must be positive, got {self.std} (a constant channel?)")

    @classmethod
    def fit(cls, x_train):
        return cls(*channel_mean_std(x_train))

    def apply(self, batch):
        c = batch.shape[1]
        if self.mean.size not in (1, c) or self.std.size not in (1, c):
            raise ValueError(
                f"Standardize has {self.mean.size} mean(s) / {self.std.size} std(s) but the images have {c} channel(s)"
            )
        return (_float32(batch) - self.mean.reshape(1, -1, 1, 1)) / self.std.reshape(1, -1, 1, 1)


class RandomFlip(RandomTransform):
    """Mirror each image with probability ``p``: left↔right if ``horizontal``, top↔bottom if ``vertical``.

    Both are OFF by default, so ``RandomFlip()`` changes nothing: in chest X-rays
    left and right matter (the heart is on the left; a mirrored film is a
    different, rare anatomy), and most medical images have a fixed orientation.
    Turn a flip on only where a mirrored image is still a realistic one
    (e.g. skin lesions, cell microscopy).
    """

    def __init__(self, horizontal=False, vertical=False, p=0.5, seed=None):
        super().__init__(seed)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomFlip: p must be in [0, 1], got {p}")
        self.horizontal, self.vertical, self.p = horizontal, vertical, p

    def apply(self, batch):
        out = _float32(batch).copy()
        for enabled, axis in ((self.horizontal, 3), (self.vertical, 2)):
            if enabled:
                chosen = self.rng.random(len(out)) < self.p
                out[chosen] = np.flip(out[chosen], axis=axis)
        return out


def _gather(batch, src_rows, src_cols, fill):
    """Bilinear sampling: out[n, c, i, j] = batch[n, c] read at the real position (src_rows, src_cols)[n, i, j].

    With r0 = ⌊r⌋, c0 = ⌊c⌋, a = r − r0, b = c − c0 the value is the weighted mean of
    the four surrounding pixels,
        (1−a)(1−b)·P[r0, c0] + (1−a)b·P[r0, c0+1] + a(1−b)·P[r0+1, c0] + ab·P[r0+1, c0+1],
    where a pixel outside the image counts as ``fill``. All images are done at once
    by fancy indexing; the batch is made channels-last so one index picks all channels.
    """
    n, _, h, w = batch.shape
    pixels = _float32(batch).transpose(0, 2, 3, 1)  # (N, H, W, C)
    r0 = np.floor(src_rows).astype(np.intp)
    c0 = np.floor(src_cols).astype(np.intp)
    a = (src_rows - r0).astype(np.float32)[..., None]
    b = (src_cols - c0).astype(np.float32)[..., None]
    image_index = np.arange(n)[:, None, None]

    def corner(r, c):
        inside = ((r >= 0) & (r < h) & (c >= 0) & (c < w))[..., None]
        values = pixels[image_index, np.clip(r, 0, h - 1), np.clip(c, 0, w - 1)]
        return np.where(inside, values, np.float32(fill))

    out = (
        (1 - a) * (1 - b) * corner(r0, c0)
        + (1 - a) * b * corner(r0, c0 + 1)
        + a * (1 - b) * corner(r0 + 1, c0)
        + a * b * corner(r0 + 1, c0 + 1)
    )
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2), dtype=np.float32)


def rotate(x, degrees, fill=0.0):
    """Rotate each image counter-clockwise (as displayed) by ``degrees`` (one number or one per image).

    Each output pixel looks up where it came from: relative to the centre
    (cy, cx) = ((H−1)/2, (W−1)/2), with u = col − cx to the right and
    v = cy − row upwards, the source point is the output point turned back by θ:
        u_src = cos θ · u + sin θ · v,    v_src = −sin θ · u + cos θ · v,
    read with bilinear interpolation (``_gather``); outside the image reads ``fill``.
    ``rotate(x, 90)`` equals ``np.rot90(x, axes=(-2, -1))`` on square images.
    """
    batch, single = _as_batch(x)
    n, _, h, w = batch.shape
    theta = np.deg2rad(np.broadcast_to(np.asarray(degrees, dtype=np.float64), (n,)))
    cos, sin = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float64)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    u, v = cols - cx, cy - rows
    u_src = cos * u + sin * v
    v_src = -sin * u + cos * v
    # Round away float noise (cos 90° = 6e-17) so that exact grid positions stay exact.
    src_rows, src_cols = np.round(cy - v_src, 6), np.round(u_src + cx, 6)
    out = _gather(batch, src_rows, src_cols, fill)
    return out[0] if single else out


class RandomRotation(RandomTransform):
    """Rotate each image by an angle drawn uniformly from [−degrees, +degrees] (bilinear, see ``rotate``).

    Patients are never positioned exactly the same way; small rotations (±10°)
    teach the network that a slight tilt does not change the diagnosis.
    Corners that come from outside the image are set to ``fill``.
    """

    def __init__(self, degrees=10.0, fill=0.0, seed=None):
        super().__init__(seed)
        self.degrees, self.fill = float(degrees), fill

    def apply(self, batch):
        angles = self.rng.uniform(-self.degrees, self.degrees, size=len(batch))
        return rotate(batch, angles, self.fill)


class RandomShift(RandomTransform):
    """Move each image by whole pixels, dy, dx drawn uniformly from {−max_pixels, …, +max_pixels}.

    out[i, j] = x[i − dy, j − dx] (``fill`` where that is outside the image):
    the organ or lesion need not sit in the same place in every image.
    """

    def __init__(self, max_pixels=2, fill=0.0, seed=None):
        super().__init__(seed)
        self.max_pixels, self.fill = int(max_pixels), fill

    def apply(self, batch):
        n, _, h, w = batch.shape
        dy = self.rng.integers(-self.max_pixels, self.max_pixels + 1, size=n)[:, None, None]
        dx = self.rng.integers(-self.max_pixels, self.max_pixels + 1, size=n)[:, None, None]
        rows = np.broadcast_to(np.arange(h)[None, :, None] - dy, (n, h, w))
        cols = np.broadcast_to(np.arange(w)[None, None, :] - dx, (n, h, w))
        return _gather(batch, rows, cols, self.fill)  # whole-pixel positions: the weights are 0 or 1


class GaussianNoise(RandomTransform):
    """x' = x + std · ε with ε ~ N(0, 1) drawn for every pixel; optional ``clip=(low, high)``.

    Real images carry sensor and quantisation noise; a little added noise keeps
    the network from relying on exact pixel values.
    """

    def __init__(self, std=0.02, clip=None, seed=None):
        super().__init__(seed)
        if std < 0:
            raise ValueError(f"GaussianNoise: std must be >= 0, got {std}")
        self.std, self.clip = float(std), clip

    def apply(self, batch):
        out = _float32(batch) + np.float32(self.std) * self.rng.standard_normal(batch.shape, dtype=np.float32)
        return np.clip(out, *self.clip) if self.clip is not None else out


class RandomBrightnessContrast(RandomTransform):
    """x' = m + c · (x − m) + b per image, m its mean, c ~ U[1 − contrast, 1 + contrast], b ~ U[−brightness, brightness].

    X-rays from another hospital or machine are brighter, darker, flatter or
    harsher; varying exposure and contrast in training keeps the network from
    keying on them. Optional ``clip=(low, high)``.
    """

    def __init__(self, brightness=0.1, contrast=0.1, clip=(0.0, 1.0), seed=None):
        super().__init__(seed)
        if brightness < 0 or not 0 <= contrast < 1:
            raise ValueError(
                f"RandomBrightnessContrast: need brightness >= 0 and 0 <= contrast < 1, got {brightness}, {contrast}"
            )
        self.brightness, self.contrast, self.clip = float(brightness), float(contrast), clip

    def apply(self, batch):
        n = len(batch)
        shape = (n,) + (1,) * (batch.ndim - 1)
        c = self.rng.uniform(1 - self.contrast, 1 + self.contrast, size=n).astype(np.float32).reshape(shape)
        b = self.rng.uniform(-self.brightness, self.brightness, size=n).astype(np.float32).reshape(shape)
        batch = _float32(batch)
        mean = batch.mean(axis=tuple(range(1, batch.ndim)), keepdims=True)
        out = mean + c * (batch - mean) + b
        return np.clip(out, *self.clip) if self.clip is not None else out


class Compose(Transform):
    """Apply transforms in order: Compose([a, b, c])(x) = c(b(a(x)))."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self):
        return "Compose([" + ", ".join(map(repr, self.transforms)) + "])"


def default_augmentation(
    flip=False, degrees=10.0, max_shift=2, noise_std=0.02, brightness=0.0, contrast=0.0, seed=None
):
    """The standard set for 28×28 medical images: small rotation, shift and noise (and flip only if asked).

    ``brightness``/``contrast`` > 0 add RandomBrightnessContrast (exposure changes between machines).

    ``flip=True`` adds random horizontal flips — leave it off for chest X-rays,
    where left and right matter. All transforms share one generator from ``seed``.
    Expects x in [0, 1] (the noise is clipped back to it): augment first, then ``Standardize``.
    """
    rng = np.random.default_rng(seed)
    steps = [RandomRotation(degrees, seed=rng), RandomShift(max_shift, seed=rng)]
    if flip:
        steps.append(RandomFlip(horizontal=True, seed=rng))
    if brightness or contrast:
        steps.append(RandomBrightnessContrast(brightness, contrast, seed=rng))
    steps.append(GaussianNoise(noise_std, clip=(0.0, 1.0), seed=rng))
    return Compose(steps)
