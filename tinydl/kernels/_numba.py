"""Numba, imported on first use by the numba kernel modules (never by ``import tinydl``).

Why the threading settings: on a 2-core machine, OpenMP worker threads keep
spinning after a parallel kernel returns and starve the BLAS threads of the
matrix product that usually follows (im2col then GEMM ran 5× slower).
Numba's default OpenMP layer shares ``libgomp`` with PyTorch when torch was
imported first, and then our ``OMP_WAIT_POLICY=PASSIVE`` comes too late (the
article's CNN trained 2.5× slower just because ``import torch`` came first).
So tinydl asks Numba for its own ``workqueue`` thread pool, whose idle
threads sleep: measured as fast as OpenMP-with-passive-waiting, whatever was
imported before. Both must be set before Numba starts its threads, i.e.
here; values the user has set (``NUMBA_THREADING_LAYER``) win.

Why the CPU features: on AVX-512 CPUs LLVM prefers 256-bit vectors by
default; the arithmetic-bound blocked matmul runs ~1.4× faster with 512-bit
ones (0.5 → 0.7 of BLAS at 1024²). ``NUMBA_CPU_FEATURES`` is read before
Numba's first compile, so it is set here too (again, a user's value wins).

Every kernel is ``@njit(cache=True)``: compiled on its first call, then
loaded from the on-disk cache in later processes. ``NUMBA_DISABLE_JIT=1``
turns every kernel into the plain Python function it is written as, for
debugging with print and pdb.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

if "NUMBA_CPU_FEATURES" not in os.environ:
    import llvmlite.binding as _llvm

    _features = _llvm.get_host_cpu_features()
    if _features.get("avx512f"):
        os.environ["NUMBA_CPU_FEATURES"] = _features.flatten() + ",-prefer-256-bit"

import numba  # noqa: E402
from numba import njit, prange  # noqa: E402,F401

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"

__all__ = ["numba", "njit", "prange"]
