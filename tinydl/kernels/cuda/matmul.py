"""Launchers of matmul.cu: the GPU matmul ladder (naive → tiled → blocked), and cuBLAS.

Each function takes two 2-D arrays (CuPy on a GPU; NumPy inside the CPU
emulation) and returns ``a @ b``. The ``plan_*`` functions compute the launch
configuration from the tile edges written in ``matmul.cu``; the tests check
the kernels through these very launchers.
"""

import numpy as np

from ...backend import array_module
from . import launch as _launch
from .launch import ceil_div, check_index_range, empty, launch, suffix


def tiles():
    """The tile edges of matmul.cu (NAIVE_BLOCK, TILE, BM, BN, BK, TM, TN, BLOCKED_THREADS)."""
    return _launch.tiles("matmul")


def plan_naive(m, n):
    """(grid, block): one thread per output, in 16×16 blocks; x runs along C's columns."""
    b = tiles().NAIVE_BLOCK
    return (ceil_div(n, b), ceil_div(m, b), 1), (b, b, 1)


def plan_tiled(m, n):
    """(grid, block): one 16×16 block per 16×16 tile of C."""
    t = tiles().TILE
    return (ceil_div(n, t), ceil_div(m, t), 1), (t, t, 1)


def plan_blocked(m, n):
    """(grid, block): one 256-thread block per 128×128 tile of C."""
    t = tiles()
    return (ceil_div(n, t.BN), ceil_div(m, t.BM), 1), (t.BLOCKED_THREADS, 1, 1)


def _operands(a, b, where):
    xp = array_module(a, b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"{where}: needs matrices (M, K) and (K, N), got {a.shape} and {b.shape}")
    dtype = xp.result_type(a.dtype, b.dtype)
    if dtype.kind != "f":
        dtype = np.dtype(np.float64)
    a, b = xp.ascontiguousarray(a, dtype=dtype), xp.ascontiguousarray(b, dtype=dtype)
    check_index_range(where, a.size, b.size, a.shape[0] * b.shape[1])
    return xp, a, b


def _run(kind, plan, a, b, extra_args=lambda a, b: ()):
    """Check the operands, allocate C and launch matmul_<kind>_f32/_f64 with the grid of ``plan``."""
    xp, a, b = _operands(a, b, f"matmul_{kind}")
    (m, k), n = a.shape, b.shape[1]
    c = empty(xp, (m, n), a.dtype)
    if m and n:
        if k == 0:
            c[...] = 0
        else:
            grid, block = plan(m, n)
            launch(
                "matmul",
                f"matmul_{kind}{suffix(a.dtype)}",
                grid,
                block,
                (a, b, c, np.int32(m), np.int32(n), np.int32(k)) + tuple(np.int32(e) for e in extra_args(a, b)),
            )
    return c


def matmul_naive(a, b):
    """C = A·B, one thread per output (matmul.cu, rung 1)."""
    return _run("naive", plan_naive, a, b)


def matmul_tiled(a, b):
    """C = A·B with 16×16 tiles of A and B in shared memory (rung 2)."""
    return _run("tiled", plan_tiled, a, b)


def _vector_loads(a, b):
    """float4 loads need rows of A and B that are whole 16-byte groups, starting 16-byte aligned."""
    k, n = a.shape[1], b.shape[1]
    aligned = all(_address(x) % 16 == 0 for x in (a, b))
    return (int(k % 4 == 0 and n % 4 == 0 and aligned),)


def _address(x):
    return x.data.ptr if hasattr(x.data, "ptr") else x.ctypes.data


def matmul_blocked(a, b):
    """C = A·B with 128×128 block tiles and an 8×8 register tile per thread (rung 3)."""
    return _run("blocked", plan_blocked, a, b, _vector_loads)


def matmul(a, b):
    """cuBLAS, through CuPy's ``@`` (the default on CUDA tensors, like BLAS on the CPU)."""
    return a @ b
