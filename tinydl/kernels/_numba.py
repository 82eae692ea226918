"""Numba, imported on first use by the numba kernel modules (never by ``import tinydl``).

Why the environment settings: on a 2-core machine, Numba's OpenMP worker
threads keep spinning after a parallel kernel returns and starve the BLAS
threads of the matrix product that usually follows (im2col then GEMM ran
5× slower). ``OMP_WAIT_POLICY=PASSIVE`` makes idle workers sleep instead.
It must be set before Numba starts its thread pool, i.e. here; a value the
user has set wins.

Every kernel is ``@njit(cache=True)``: compiled on its first call, then
loaded from the on-disk cache in later processes. ``NUMBA_DISABLE_JIT=1``
turns every kernel into the plain Python function it is written as, for
debugging with print and pdb.
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba  # noqa: E402
from numba import njit, prange  # noqa: E402,F401

__all__ = ["numba", "njit", "prange"]
