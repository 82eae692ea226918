"""Which array library holds a tensor's data.

Every op is written once against ``xp``, the array module of its inputs
(Chainer's ``get_array_module`` idea): NumPy on the CPU, CuPy on the GPU.
CuPy is never imported here; an array is recognised as CuPy's by the module
its type comes from, so this file works on machines without CuPy.
"""

import numpy as np


def array_module(*arrays):
    """Return ``numpy`` or ``cupy``: the module that owns ``arrays``.

    >>> array_module(np.zeros(3)) is np
    True
    """
    for a in arrays:
        if type(a).__module__.startswith("cupy"):
            import cupy  # only reached when a CuPy array already exists

            return cupy
    return np
