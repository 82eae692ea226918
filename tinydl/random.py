"""One seedable random generator for everything tinydl draws (initial weights, dropout, shuffling).

``td.manual_seed(0)`` makes a run repeatable, as ``torch.manual_seed`` does.
The generator is NumPy's PCG64; code that needs random numbers calls
:func:`generator` rather than keeping its own, so one seed controls all.
"""

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed):
    """Reset tinydl's random generator to a fixed ``seed`` (an int ≥ 0); returns it."""
    global _generator
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed expects a non-negative integer, got {seed!r}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def get_state():
    """The global generator's state (a dict of numbers, JSON-ready): a checkpoint saves it."""
    return _generator.bit_generator.state


def set_state(state):
    """Put the global generator back in ``state`` (from :func:`get_state`): the same numbers follow."""
    _generator.bit_generator.state = state


def generator():
    """The current global ``numpy.random.Generator``."""
    return _generator


def rand(*shape, dtype=None, requires_grad=False):
    """Uniform samples in [0, 1) as a Tensor."""
    from .tensor import DEFAULT_DTYPE, Tensor

    return Tensor._from_array(_generator.random(shape).astype(dtype or DEFAULT_DTYPE), requires_grad)


def randn(*shape, dtype=None, requires_grad=False):
    """Standard normal samples as a Tensor."""
    from .tensor import DEFAULT_DTYPE, Tensor

    return Tensor._from_array(_generator.standard_normal(shape).astype(dtype or DEFAULT_DTYPE), requires_grad)
