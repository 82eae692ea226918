"""Paired augmentation for segmentation: one random geometry per image, applied to the image AND its mask.

A mask says which pixel is liver; if the image is rotated and the mask is not, the
labels point at the wrong pixels and the network learns nonsense. So a paired
transform is called with both::

    x2, y2 = t(x, y)      # x float32 (N, C, H, W), y int64 (N, H, W) → same shapes

and draws ONE random flip / rotation / scaling / shift (or displacement field) per
image, used for both. The image is read with bilinear interpolation (smooth values);
the mask with nearest neighbour, because a label is a category, not a number:
halfway between liver (1) and tumour (2) is not "1.5", and rounding it would invent
borders that were never drawn. So a transformed mask only ever holds labels it had,
plus background (0) where the new geometry looks outside the image.

``td.data.DataLoader`` calls ``xb, yb = transform(xb, yb)`` for transforms with
``paired = True``. Each transform has an ``rng`` (a ``numpy.random.Generator``) that the
Trainer's checkpoints save, and ``PairedCompose`` keeps its steps in ``.transforms``.

Also here: ``resize_images`` (bilinear) and ``resize_masks`` (nearest), which
``SegmentationFolder`` uses, built on the same sampling functions.
"""

import numpy as np

from .transforms import RandomBrightnessContrast

# ---------------------------------------------------------------------------- sampling


def sample_bilinear(images, src_rows, src_cols, fill=0.0):
    """out[n, c, i, j] = images[n, c] read at the real position (src_rows[n, i, j], src_cols[n, i, j]).

    With r0 = ⌊r⌋, c0 = ⌊c⌋, a = r − r0, b = c − c0:
        out = (1−a)(1−b)·P[r0, c0] + (1−a)b·P[r0, c0+1] + a(1−b)·P[r0+1, c0] + ab·P[r0+1, c0+1],
    where a pixel outside the image counts as ``fill``. ``images`` (N, C, H, W); positions (N, h, w)
    (any output size). Returns float32 (N, C, h, w).
    """
    images = np.asarray(images, dtype=np.float32)
    n, _, h, w = images.shape
    pixels = images.transpose(0, 2, 3, 1)  # channels last: one fancy index picks every channel
    r0, c0 = np.floor(src_rows).astype(np.intp), np.floor(src_cols).astype(np.intp)
    a = (src_rows - r0).astype(np.float32)[..., None]
    b = (src_cols - c0).astype(np.float32)[..., None]
    which = np.arange(n)[:, None, None]

    def corner(r, c):
        inside = ((r >= 0) & (r < h) & (c >= 0) & (c < w))[..., None]
        return np.where(inside, pixels[which, np.clip(r, 0, h - 1), np.clip(c, 0, w - 1)], np.float32(fill))

    out = (1 - a) * (1 - b) * corner(r0, c0) + (1 - a) * b * corner(r0, c0 + 1)
    out = out + a * (1 - b) * corner(r0 + 1, c0) + a * b * corner(r0 + 1, c0 + 1)
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2), dtype=np.float32)


def sample_nearest(masks, src_rows, src_cols, fill=0):
    """out[n, i, j] = masks[n] at the pixel nearest to (src_rows, src_cols)[n, i, j]; ``fill`` outside.

    Nearest neighbour, ⌊r + ½⌋, never mixes two labels, so no new label can appear
    (only ``fill`` where the position is outside the image). ``masks`` (N, H, W) → int64 (N, h, w).
    """
    masks = np.asarray(masks)
    n, h, w = masks.shape
    r, c = np.floor(src_rows + 0.5).astype(np.intp), np.floor(src_cols + 0.5).astype(np.intp)
    inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
    values = masks[np.arange(n)[:, None, None], np.clip(r, 0, h - 1), np.clip(c, 0, w - 1)]
    return np.where(inside, values, fill).astype(np.int64)


def _resize_grid(n, h, w, size):
    """Source positions for resizing (h, w) → size, pixel centres aligned (PyTorch's align_corners=False):
    src = (dst + ½)·(h / h_out) − ½, kept inside the image (edge pixels repeat, as Pillow and PyTorch do)."""
    out_h, out_w = size
    rows = np.clip((np.arange(out_h) + 0.5) * (h / out_h) - 0.5, 0, h - 1)
    cols = np.clip((np.arange(out_w) + 0.5) * (w / out_w) - 0.5, 0, w - 1)
    return np.broadcast_to(rows[None, :, None], (n, out_h, out_w)), np.broadcast_to(
        cols[None, None, :], (n, out_h, out_w)
    )


def resize_images(images, size):
    """Images (N, C, H, W) → float32 (N, C, size[0], size[1]), bilinear."""
    images = np.asarray(images)
    n, _, h, w = images.shape
    if (h, w) == tuple(size):
        return images.astype(np.float32)
    return sample_bilinear(images, *_resize_grid(n, h, w, size))


def resize_masks(masks, size):
    """Masks (N, H, W) → int64 (N, size[0], size[1]), nearest neighbour (labels stay labels)."""
    masks = np.asarray(masks)
    n, h, w = masks.shape
    if (h, w) == tuple(size):
        return masks.astype(np.int64)
    return sample_nearest(masks, *_resize_grid(n, h, w, size))


# ---------------------------------------------------------------------------- the transforms


def _check_pair(x, y):
    """(x float32 (N, C, H, W), y (N, H, W), was_single); one image (C, H, W) with its mask (H, W) is a batch of one."""
    x, y = np.asarray(x), np.asarray(y)
    single = x.ndim == 3 and y.ndim == 2
    if single:
        x, y = x[None], y[None]
    if x.ndim != 4 or y.ndim != 3:
        raise ValueError(
            f"a paired transform takes images x (N, C, H, W) and masks y (N, H, W), got x {x.shape} and y {y.shape}"
        )
    if len(x) != len(y) or x.shape[2:] != y.shape[1:]:
        raise ValueError(f"images x {x.shape} and masks y {y.shape} do not match in N, H and W")
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"masks y must hold integer class labels, got dtype {y.dtype}")
    return x.astype(np.float32, copy=False), y, single


class PairedTransform:
    """Base class: ``t(x, y)`` → (x', y'); subclasses implement ``apply(x, y)`` on batches."""

    paired = True  # what DataLoader looks for to call transform(xb, yb)

    def __init__(self, seed=None):
        self.rng = np.random.default_rng(seed)  # a Generator passed in is used as is (shared)

    def __call__(self, x, y):
        x, y, single = _check_pair(x, y)
        x2, y2 = self.apply(x, y)
        return (x2[0], y2[0]) if single else (x2, y2)

    def apply(self, x, y):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k not in ("rng", "transforms"))
        return f"{type(self).__name__}({fields})"


class PairedRandomFlip(PairedTransform):
    """Mirror each image and its mask together with probability ``p``: left↔right (``horizontal``),
    top↔bottom (``vertical``), each drawn separately. Exact: pixels move, no value is interpolated.

    On by default horizontally, unlike ``RandomFlip``: for many segmentation targets (lesions,
    polyps, vessels) a mirrored image is still a realistic one. Turn it off where side matters
    (a liver is on the right of the body: ``flip=False`` in ``segmentation_augmentation``).
    """

    def __init__(self, horizontal=True, vertical=False, p=0.5, seed=None):
        super().__init__(seed)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"PairedRandomFlip: p must be in [0, 1], got {p}")
        self.horizontal, self.vertical, self.p = bool(horizontal), bool(vertical), float(p)

    def apply(self, x, y):
        x, y = x.copy(), y.astype(np.int64)  # copies: the inputs are never changed
        for enabled, axis in ((self.horizontal, -1), (self.vertical, -2)):
            if enabled:
                chosen = self.rng.random(len(x)) < self.p  # drawn once: the same images for x and y
                x[chosen] = np.flip(x[chosen], axis=axis)
                y[chosen] = np.flip(y[chosen], axis=axis)
        return x, y


def affine_grid(shape, degrees, scale, shift_rows, shift_cols):
    """Source positions (rows, cols), each (N, H, W), for rotating by ``degrees`` (counter-clockwise as
    displayed), scaling by ``scale`` about the centre and then moving by (shift_rows, shift_cols) pixels.

    The forward map of a point p (relative to the centre c = ((H−1)/2, (W−1)/2), with u = col − cx to
    the right and v = cy − row upwards) is p' = s·R(θ)·p + t. Each output pixel looks up where it came
    from, the inverse map p = R(−θ)·(p' − t) / s:
        u_src = ( cos θ·u + sin θ·v) / s,    v_src = (−sin θ·u + cos θ·v) / s,   with (u, v) = p' − t.
    One grid for image and mask: that is what keeps them aligned. Parameters: one number or one per image.
    """
    n, h, w = shape
    per_image = [np.broadcast_to(np.asarray(v, dtype=np.float64), (n,))[:, None, None] for v in (degrees, scale)]
    theta, s = np.deg2rad(per_image[0]), per_image[1]
    dy = np.broadcast_to(np.asarray(shift_rows, dtype=np.float64), (n,))[:, None, None]
    dx = np.broadcast_to(np.asarray(shift_cols, dtype=np.float64), (n,))[:, None, None]
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float64)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    u, v = cols - cx - dx, cy - (rows - dy)
    u_src = (np.cos(theta) * u + np.sin(theta) * v) / s
    v_src = (-np.sin(theta) * u + np.cos(theta) * v) / s
    # Round away float noise (cos 90° = 6e-17) so that exact grid positions stay exact.
    return np.round(cy - v_src, 6), np.round(u_src + cx, 6)


class PairedRandomAffine(PairedTransform):
    """Rotation by θ ~ U[−degrees, degrees], scaling by s ~ U[scale], shift by t ~ U[−shift, shift]·(H, W),
    drawn per image, as ONE inverse-mapped sampling grid (``affine_grid``) for image and mask.

    The image is read bilinearly (0 outside), the mask by nearest neighbour (label 0, background,
    outside). Patients lie a little turned, organs differ in size: this teaches the network both.
    """

    def __init__(self, degrees=10, scale=(0.9, 1.1), shift=0.05, seed=None):
        super().__init__(seed)
        low, high = (float(scale), float(scale)) if np.isscalar(scale) else (float(scale[0]), float(scale[1]))
        if degrees < 0 or shift < 0 or not 0 < low <= high:
            raise ValueError(
                f"PairedRandomAffine: need degrees >= 0, shift >= 0 and 0 < scale[0] <= scale[1], "
                f"got degrees={degrees}, scale={scale}, shift={shift}"
            )
        self.degrees, self.scale, self.shift = float(degrees), (low, high), float(shift)

    def apply(self, x, y):
        n, _, h, w = x.shape
        angle = self.rng.uniform(-self.degrees, self.degrees, size=n)
        scale = self.rng.uniform(*self.scale, size=n)
        shift_rows = self.rng.uniform(-self.shift, self.shift, size=n) * h
        shift_cols = self.rng.uniform(-self.shift, self.shift, size=n) * w
        rows, cols = affine_grid((n, h, w), angle, scale, shift_rows, shift_cols)
        return sample_bilinear(x, rows, cols, 0.0), sample_nearest(y, rows, cols, 0)


def gaussian_matrix(size, sigma):
    """The (size × size) matrix G with (G·f)[i] = Σⱼ g(i − j)·f[j] / Σⱼ g(i − j), g(d) = exp(−d²/2σ²):
    a Gaussian blur of a 1-D signal, renormalised at the edges. Blurring a 2-D field is G_H · F · G_Wᵀ."""
    d = np.arange(size)[:, None] - np.arange(size)[None, :]
    g = np.exp(-(d**2) / (2.0 * sigma**2))
    return g / g.sum(axis=1, keepdims=True)


class PairedElastic(PairedTransform):
    """Elastic deformation (Simard, Steinkraus & Platt 2003): each pixel moves by a smooth random field.

    Per image, with probability ``p``: draw U[−1, 1] for every pixel, twice (rows, columns), blur it with a
    Gaussian of standard deviation ``sigma`` pixels and scale it so that ``alpha`` is the largest move in pixels
    (Simard et al. multiply the blurred field by alpha directly; normalising makes alpha mean the same for any σ):
        Δ = alpha · (G_σ * U) / max|G_σ * U|,    out(r, c) = in(r + Δ_r(r, c), c + Δ_c(r, c)).
    Small σ gives a jagged, unrealistic warp; large σ almost a shift. Soft tissue deforms like this
    from patient to patient, which rigid rotations cannot show. Image bilinear, mask nearest.
    """

    def __init__(self, alpha=30.0, sigma=5.0, p=0.5, seed=None):
        super().__init__(seed)
        if alpha < 0 or sigma <= 0 or not 0.0 <= p <= 1.0:
            raise ValueError(f"PairedElastic: need alpha >= 0, sigma > 0 and p in [0, 1], got {alpha}, {sigma}, {p}")
        self.alpha, self.sigma, self.p = float(alpha), float(sigma), float(p)

    def apply(self, x, y):
        n, _, h, w = x.shape
        chosen = self.rng.random(n) < self.p
        noise = self.rng.uniform(-1.0, 1.0, size=(2, n, h, w))
        blur_rows, blur_cols = gaussian_matrix(h, self.sigma), gaussian_matrix(w, self.sigma)
        # The blur shrinks the noise by a factor that depends on sigma: rescale to a largest value of 1.
        field = blur_rows @ noise @ blur_cols.T
        peak = np.abs(field).max(axis=(2, 3), keepdims=True)
        field = self.alpha * field / np.where(peak > 0, peak, 1.0) * chosen[None, :, None, None]
        rows, cols = np.mgrid[0:h, 0:w].astype(np.float64)
        src_rows, src_cols = np.round(rows + field[0], 6), np.round(cols + field[1], 6)
        return sample_bilinear(x, src_rows, src_cols, 0.0), sample_nearest(y, src_rows, src_cols, 0)


class ImageOnly(PairedTransform):
    """Apply a one-image transform of ``tinydl.data.transforms`` (brightness, contrast, noise) to x only.

    Intensity changes move no pixel, so the mask stays as it is.
    """

    def __init__(self, transform):
        if not callable(transform):
            raise TypeError(f"ImageOnly needs a transform (a callable x → x'), got {type(transform).__name__}")
        self.transform = transform
        self.transforms = [transform]  # so the Trainer finds its generator
        self.rng = getattr(transform, "rng", None)

    def apply(self, x, y):
        return np.asarray(self.transform(x), dtype=np.float32), y

    def __repr__(self):
        return f"ImageOnly({self.transform!r})"


class PairedCompose(PairedTransform):
    """Apply paired transforms in order: PairedCompose([a, b])(x, y) = b(*a(x, y)).

    A one-image transform in the list (without ``paired``) is wrapped in ``ImageOnly``.
    ``rng`` is the generator its steps share, when they share one (else None).
    """

    def __init__(self, transforms):
        self.transforms = [t if getattr(t, "paired", False) else ImageOnly(t) for t in transforms]
        generators = {id(t.rng): t.rng for t in self.transforms if getattr(t, "rng", None) is not None}
        self.rng = next(iter(generators.values())) if len(generators) == 1 else None

    def __call__(self, x, y):
        for t in self.transforms:
            x, y = t(x, y)
        return x, y

    def __repr__(self):
        return "PairedCompose([" + ", ".join(map(repr, self.transforms)) + "])"


def segmentation_augmentation(
    flip=True, degrees=10, scale=(0.9, 1.1), shift=0.05, brightness=0.1, contrast=0.1, seed=0
):
    """The default augmentation for segmentation: flip (if ``flip``), rotation + scaling + shift, then
    brightness/contrast on the image only. All steps share one generator from ``seed``.

    ``degrees=0, scale=(1, 1), shift=0`` leaves out the affine step; ``brightness=contrast=0`` the intensity one.
    """
    rng = np.random.default_rng(seed)
    steps = []
    if flip:
        steps.append(PairedRandomFlip(horizontal=True, seed=rng))
    if degrees or shift or tuple(np.broadcast_to(scale, (2,))) != (1, 1):
        steps.append(PairedRandomAffine(degrees, scale, shift, seed=rng))
    if brightness or contrast:
        # No clipping: the images may be windowed CT in [0, 1] or normalised values beyond it.
        steps.append(ImageOnly(RandomBrightnessContrast(brightness, contrast, clip=None, seed=rng)))
    return PairedCompose(steps)
