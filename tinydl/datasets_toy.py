"""Small two-dimensional classification problems, generated with NumPy in a few lines.

They are the "hello world" of neural networks: a straight line cannot
separate the classes, so a model that learns them must have learnt a
non-linear function — and in 2-D we can *see* what it learnt by colouring
the plane with its predictions (see :mod:`tinydl.demo`).

Both generators are deterministic: the same ``seed`` gives the same points,
bit for bit, on every machine. They return ``(X, y)`` with ``X`` a float32
array of shape (N, 2) and ``y`` an int64 array of shape (N,) holding the
class index (0 or 1) of each point, in shuffled order.
"""

import numpy as np


def make_spirals(n_per_class=200, turns=1.5, noise=0.03, seed=0):
    """Two interleaved spirals, one per class: the classic hard 2-D problem.

    Point i of class k sits at radius r = t and angle θ = 2π·turns·t + kπ, for
    t spread evenly from near the centre (0.1, where the arms would otherwise
    touch) out to 1, plus Gaussian noise of standard deviation ``noise``. Adding
    π to the angle of class 1 rotates the spiral by half a turn, so each arm
    runs between two arms of the other class.
    """
    if n_per_class < 1:
        raise ValueError(f"make_spirals: n_per_class must be at least 1, got {n_per_class}")
    rng = np.random.default_rng(seed)
    t = np.linspace(0.1, 1.0, n_per_class)
    points, labels = [], []
    for k in (0, 1):
        angle = 2 * np.pi * turns * t + k * np.pi
        arm = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1)
        points.append(arm + noise * rng.standard_normal(arm.shape))
        labels.append(np.full(n_per_class, k))
    return _shuffled(np.concatenate(points), np.concatenate(labels), rng)


def make_moons(n_per_class=200, noise=0.1, seed=0):
    """Two interlocking half circles ("moons"), as in scikit-learn's ``make_moons``.

    Class 0 is the upper half of the unit circle; class 1 is the lower half,
    shifted right by 1 and up by 0.5 so that its tips reach into the other
    moon's hollow. Gaussian noise of standard deviation ``noise`` blurs both.
    """
    if n_per_class < 1:
        raise ValueError(f"make_moons: n_per_class must be at least 1, got {n_per_class}")
    rng = np.random.default_rng(seed)
    angle = np.linspace(0.0, np.pi, n_per_class)
    upper = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    lower = np.stack([1.0 - np.cos(angle), 0.5 - np.sin(angle)], axis=1)
    points = np.concatenate([upper, lower])
    points = points + noise * rng.standard_normal(points.shape)
    labels = np.repeat([0, 1], n_per_class)
    return _shuffled(points, labels, rng)


def _shuffled(points, labels, rng):
    # Shuffle so that a mini-batch or a train/test split taken from the front
    # holds both classes, not 200 points of class 0 first.
    order = rng.permutation(len(labels))
    return points[order].astype(np.float32), labels[order].astype(np.int64)
