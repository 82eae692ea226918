"""SyntheticLesions: a made-up medical-looking image set, built in, for when no real data is at hand.

Each 28×28 grey image is "tissue" — a mid-grey level, a smooth random texture
(a sum of three random plane waves) and pixel noise — and half of them also
hold a "lesion": a round, brighter spot with a soft edge. The task is binary:
class 0 "normal", class 1 "lesion". It lets tests, tutorials and a first
training run work offline, with the same interface as ``MedMNIST``.

It is NOT medical data: a model trained on it has learnt to find bright discs,
nothing about patients. ``load_dataset`` says so loudly when it falls back to it.

Generation is vectorised and deterministic: the same ``seed`` and ``split``
give the same images, bit for bit (a few thousand images take a few ms).
"""

import numpy as np

from .base import ImageDataset
from .catalog import SPLITS, SYNTHETIC_INFO, SYNTHETIC_SIZES, check_split

DEFAULT_SIZES = SYNTHETIC_SIZES  # images per split unless n= says otherwise


def make_lesion_images(n, rng, lesion_fraction=0.5, size=28):
    """(images uint8 (n, size, size), labels int64 (n,)) drawn with the numpy Generator ``rng``.

    Pixel value before rounding, for an image with label y ∈ {0, 1}:

        tissue(r, c) = base + Σₖ aₖ·sin(fₖ·(r·sin φₖ + c·cos φₖ) + ψₖ) + 0.04·ε
        image(r, c)  = tissue(r, c) + y · contrast · σ((radius − d(r, c)) / 0.8)

    with d the distance from the lesion centre and σ the logistic function
    (a disc with a soft edge, like a real lesion rather than a hard stamp).
    """
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    labels = (rng.permutation(n) < round(lesion_fraction * n)).astype(np.int64)

    # Tissue: the base level varies more between images than the lesion changes the mean,
    # so overall brightness alone does not give the answer away.
    images = rng.uniform(0.25, 0.45, size=(n, 1, 1)).astype(np.float32)
    for _ in range(3):
        freq = rng.uniform(0.2, 0.8, size=(n, 1, 1)).astype(np.float32)
        angle = rng.uniform(0.0, np.pi, size=(n, 1, 1)).astype(np.float32)
        phase = rng.uniform(0.0, 2 * np.pi, size=(n, 1, 1)).astype(np.float32)
        amplitude = rng.uniform(0.02, 0.06, size=(n, 1, 1)).astype(np.float32)
        images = images + amplitude * np.sin(freq * (rows * np.sin(angle) + cols * np.cos(angle)) + phase)
    images = images + 0.04 * rng.standard_normal((n, size, size), dtype=np.float32)

    # Lesion: drawn for every image (so the random stream does not depend on the labels),
    # added only where label = 1.
    margin = size / 4
    centre_r = rng.uniform(margin, size - 1 - margin, size=(n, 1, 1)).astype(np.float32)
    centre_c = rng.uniform(margin, size - 1 - margin, size=(n, 1, 1)).astype(np.float32)
    radius = rng.uniform(2.5, 5.0, size=(n, 1, 1)).astype(np.float32)
    contrast = rng.uniform(0.2, 0.4, size=(n, 1, 1)).astype(np.float32)
    distance = np.sqrt((rows - centre_r) ** 2 + (cols - centre_c) ** 2)
    disc = 1.0 / (1.0 + np.exp((distance - radius) / 0.8))
    images = images + labels[:, None, None].astype(np.float32) * contrast * disc

    return np.round(np.clip(images, 0.0, 1.0) * 255).astype(np.uint8), labels


class SyntheticLesions(ImageDataset):
    """One split of the synthetic lesion set: same interface as ``MedMNIST``.

    ``n`` images (default 2000 train, 500 val, 500 test); ``seed`` fixes them.
    Each split has its own random stream, so train and test never share images.
    """

    def __init__(self, split="train", n=None, seed=0, transform=None, target_transform=None, lesion_fraction=0.5):
        self.split = check_split(split)
        n = DEFAULT_SIZES[split] if n is None else int(n)
        if n < 1:
            raise ValueError(f"SyntheticLesions: n must be at least 1, got {n}")
        # Seed with (seed, split number): one reproducible, independent stream per split.
        rng = np.random.default_rng([int(seed), SPLITS.index(split)])
        images, labels = make_lesion_images(n, rng, lesion_fraction)
        super().__init__(images, labels, SYNTHETIC_INFO.classes, transform, target_transform)
        self.info = SYNTHETIC_INFO
        self.name, self.task, self.seed = SYNTHETIC_INFO.name, SYNTHETIC_INFO.task, seed
        self.source = "synthetic"
        self.path = None
        self.md5 = None
