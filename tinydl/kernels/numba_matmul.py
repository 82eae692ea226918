"""Matrix multiplication in Numba, four ways: a ladder from slow to fast.

All four compute the same thing, C = A·B, i.e. C[i, j] = Σ_k A[i, k] · B[k, j]
for A of shape (M, K) and B of shape (K, N). They differ only in the *order*
in which they visit memory, and that alone makes a 100× difference:

1. ``matmul_naive``  — the textbook i-j-k triple loop. The inner loop walks
   down a column of B, one element per cache line: the CPU waits for memory
   most of the time. About 2 GFLOP/s.
2. ``matmul_ikj``    — swap the two inner loops. Now the inner loop walks
   along a row of B and a row of C, contiguous memory the compiler turns into
   SIMD instructions (8 or 16 floats at a time); rows of C are split between
   the cores. About 60 GFLOP/s.
3. ``matmul_blocked`` — cut the matrices into tiles that fit the caches, copy
   ("pack") each tile into a small contiguous buffer, and compute a 6×4 block
   of C at a time in registers, so that every number loaded from memory is
   used many times. 250-300 GFLOP/s on 2 cores with AVX-512: about 0.7 of
   what a tuned BLAS (OpenBLAS, MKL) reaches at 1024², and about 0.5 when
   LLVM uses only 256-bit registers (see "SIMD width" below).
4. ``matmul_simd`` — the micro-kernel turned around, as BLAS has it: a tile of
   C (8 rows × 32 columns in float32 with AVX-512, 16 with AVX2) in 16 vector registers, and per step k
   two vectors of a row of B times 8 broadcast numbers of A, added in as 16
   vector multiply-adds ("outer products"; no horizontal sums). Written on
   the small vector type of ``tinydl.kernels.simd``, because Numba does not
   keep such a tile in registers from plain loops. It reads A through its
   strides (a transposed view costs nothing), and the Numba convolutions use
   the same tile with A = an im2col matrix that is never built. Measured:
   220–240 GFLOP/s at 1024²–2048² (BLAS ~400), 95–115 on the dense layers of
   the article's CNN (BLAS 190–310); but in that CNN's training step it beats
   BLAS, because it shares Numba's threads instead of fighting OpenBLAS's
   (see _FASTEST_FIRST in tinydl/kernels/__init__.py).

GFLOP/s = 2·M·N·K / seconds / 10⁹ (one multiply and one add per term).
``benchmarks/bench.py`` measures all of them against NumPy and PyTorch.

Each public function accepts any 2-D float32/float64 arrays (also
non-contiguous views such as ``x.T``) and returns a new C-contiguous array of
dtype ``np.result_type(a, b)``. The ``@njit`` kernels behind them are compiled
on first use (``cache=True`` keeps the machine code on disk for later
processes) and run as plain Python under ``NUMBA_DISABLE_JIT=1``.

SIMD width: on many AVX-512 CPUs LLVM prefers 256-bit vectors (8 float32) to
512-bit ones (16 float32), to avoid the lower clock speed older chips ran at
with 512-bit code. The blocked kernel is limited by arithmetic, so it runs
~1.4× faster with 512-bit vectors. Numba takes the choice from the environment
variable ``NUMBA_CPU_FEATURES`` (the CPU's feature list plus ``-prefer-256-bit``),
which must be set before Numba is imported; the other two kernels wait for
memory and hardly care.
"""

import numpy as np

from ._numba import njit, numba, prange
from .simd import VECTOR_BYTES, lanes, vbroadcast, vfma, vload, vstore, vzeros
from .workspace import SHARED_WORKSPACE

# ---------------------------------------------------------------- tile sizes of matmul_blocked
# The register block: the micro-kernel computes ROWS_A × ROWS_BT = 6 × 4 = 24 entries of C
# at once, each accumulated in a SIMD register (24 of the 32 vector registers of AVX-512;
# the remaining ones hold the 4 + 1 values loaded per step). CPUs with AVX2 only have 16
# registers, so some sums wait in the L1 cache; smaller tiles measured no faster there.
ROWS_A = 6
ROWS_BT = 4
# The cache blocks (sizes for float32; Bᵀ is stored transposed, see below):
#   6 rows of A × BLOCK_K   = 24 KiB  stay in L1 while they meet ...
#   PANEL_COLUMNS rows of Bᵀ × BLOCK_K = 512 KiB, which stay in L2, 4 rows at a time;
#   the packed block of A, BLOCK_ROWS × BLOCK_K = 512 KiB, also stays in L2.
# A long BLOCK_K matters: each block of K ends with 24 "horizontal" sums of the SIMD
# lanes of the accumulators (slow shuffles), so the longer the block, the rarer they are.
BLOCK_K = 1024
BLOCK_ROWS = 128
PANEL_COLUMNS = 128  # a multiple of ROWS_BT, or tiles would straddle two panels
assert PANEL_COLUMNS % ROWS_BT == 0
# Packed rows are padded by 16 numbers (one cache line of float32): with a row length of
# a power of two (K = 1024), the 6 + 4 rows read together would otherwise fall into the
# same few L1 cache sets and evict each other.
ROW_PADDING = 16
# Waking the other threads for a parallel loop costs some 0.1 ms; below this many
# floating-point operations (a 250² product), one thread finishes sooner alone.
PARALLEL_MIN_FLOPS = 3e7

# Packing buffers come from the shared workspace (kernels/workspace.py) and are reused between calls.


# ---------------------------------------------------------------- shared input handling
def _prepare(a, b):
    """Check shapes, pick the result dtype, and make both inputs C-contiguous in it."""
    a = np.asarray(a)
    b = np.asarray(b)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"matmul: expected two 2-D arrays, got shapes {a.shape} and {b.shape}")
    if a.shape[1] != b.shape[0]:
        raise ValueError(
            f"matmul: inner dimensions differ: A is {a.shape[0]}×{a.shape[1]}, B is {b.shape[0]}×{b.shape[1]}"
        )
    dtype = np.result_type(a, b)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"matmul: the Numba kernels take float32 or float64 arrays, got {a.dtype} and {b.dtype}")
    # Transposed views (x.T) have columns, not rows, next to each other in memory; every
    # kernel below assumes rows, so copy once here (a no-op for arrays already in shape).
    return np.ascontiguousarray(a, dtype=dtype), np.ascontiguousarray(b, dtype=dtype), dtype


# ---------------------------------------------------------------- 1. naive: i-j-k
@njit(cache=True)
def _naive_kernel(a, b, c):
    """C[i, j] = Σ_k A[i, k] · B[k, j]: one dot product per entry of C, in the textbook order.

    Why it is slow: the inner loop reads B[k, j], B[k+1, j], ... — a column of a
    row-major matrix, N numbers apart in memory. Each read fetches a whole 64-byte
    cache line to use 4 bytes of it, and the chain of additions into ``total`` must
    happen one after the other (no SIMD, no reordering), so it runs at a few GFLOP/s
    on one core.
    """
    m, inner = a.shape
    n = b.shape[1]
    for i in range(m):
        for j in range(n):
            total = c.dtype.type(0)
            for k in range(inner):
                total += a[i, k] * b[k, j]
            c[i, j] = total


def matmul_naive(a, b):
    """C = A·B by the i-j-k triple loop (slow: the teaching baseline)."""
    a, b, dtype = _prepare(a, b)
    c = np.empty((a.shape[0], b.shape[1]), dtype=dtype)
    _naive_kernel(a, b, c)
    return c


# ---------------------------------------------------------------- 2. loop order i-k-j
@njit(parallel=True, cache=True)
def _ikj_kernel(a, b, c):
    """Row i of C = Σ_k A[i, k] · (row k of B): the same sum, with the j and k loops swapped.

    Why it is fast(er): the inner loop now runs along row k of B and row i of C,
    both contiguous, and its iterations are independent (each j is its own sum), so
    LLVM turns it into SIMD multiply-adds on 8-16 numbers at once. Rows of C are
    split between the cores (``prange``): each thread writes only its own rows, so
    there is no race. What still limits it: every multiply-add loads and stores
    C[i, j] from the L1 cache instead of keeping it in a register, and a row of B
    is used for one row of A only before it is evicted again.
    """
    m, inner = a.shape
    for i in prange(m):
        c_row = c[i]
        a_row = a[i]
        for j in range(c_row.shape[0]):
            c_row[j] = 0
        for k in range(inner):
            a_ik = a_row[k]
            b_row = b[k]
            for j in range(c_row.shape[0]):
                c_row[j] += a_ik * b_row[j]


def matmul_ikj(a, b):
    """C = A·B by the i-k-j loop order: contiguous, vectorised inner loop, rows in parallel."""
    a, b, dtype = _prepare(a, b)
    c = np.empty((a.shape[0], b.shape[1]), dtype=dtype)
    _ikj_kernel(a, b, c)
    return c


# ---------------------------------------------------------------- 3. cache-blocked
# The blocked product reads B by columns, so it first stores Bᵀ (one transposed copy):
# then C[i, j] = Σ_k A[i, k] · Bᵀ[j, k] is a dot product of two contiguous rows.
#
# fastmath=True on the kernels that add up products: it allows LLVM to *reassociate*
# the sums, i.e. to add the terms of a dot product in 8 or 16 interleaved partial sums
# (one per SIMD lane) and combine them at the end. Without it, LLVM must add the terms
# strictly one after the other, as written, and cannot use SIMD for them at all. The
# result differs from the sequential sum only by rounding (BLAS reorders sums too).
# error_model="numpy" drops Python's division-by-zero checks from the index arithmetic.


@njit(cache=True, error_model="numpy")
def _pack_transposed_rows(b, bt, j0, j1):
    """Rows j0..j1 of Bᵀ: Bᵀ[j, k] = B[k, j], taking 16 rows of B at a time so that the reads stay in cache.

    Reading a column of B means one cache line (16 float32) per number, N numbers
    apart (as in the naive kernel). With 16 rows of B at a time, the 16 lines read
    for column j also hold columns j+1 … j+15, which are copied next while those
    lines are still in L1, and each row of Bᵀ receives 16 contiguous numbers.
    Rows of ``bt`` beyond N (padding up to a whole group of 4) are set to zero.
    """
    inner, n = b.shape
    strip = 16
    for k0 in range(0, inner, strip):
        k1 = min(k0 + strip, inner)
        for j in range(j0, min(j1, n)):
            for k in range(k0, k1):
                bt[j, k] = b[k, j]
    for j in range(max(j0, n), j1):
        bt[j, :inner] = 0


@njit(parallel=True, cache=True, error_model="numpy")
def _pack_transposed(b, bt):
    """All of Bᵀ, 16 rows per task; threads write different rows, so no two write the same place."""
    rows = bt.shape[0]
    for task in prange((rows + 15) // 16):
        _pack_transposed_rows(b, bt, task * 16, min(task * 16 + 16, rows))


@njit(fastmath=True, cache=True, error_model="numpy")
def _micro_kernel(a_block, i, bt, j, k0, k1, out, r, col):
    """out[r : r+6, col : col+4] += A_block[i : i+6, :] · Bᵀ[j : j+4, k0:k1]ᵀ, the 24 sums in registers.

    C[i, j] = Σ_k A[i, k] · Bᵀ[j, k]. Every step k loads 6 numbers of A and 4 of Bᵀ
    and does 6·4 = 24 multiply-adds with them: 2.4 multiply-adds per number loaded,
    against 1 in the i-k-j kernel. The 24 partial sums are 24 local variables, which
    LLVM keeps in 24 vector registers (each holds 8 or 16 consecutive k, thanks to
    fastmath), so C is read and written once per block of K, not once per k.

    The rows are taken as 1-D slices and indexed from 0 on purpose: then LLVM can
    prove that every index is ≥ 0 and the loads contiguous. With a[i, k0 + k] it
    must keep Numba's negative-index wrap-around and falls back to slow gathers.
    """
    depth = k1 - k0
    a0 = a_block[i, :depth]
    a1 = a_block[i + 1, :depth]
    a2 = a_block[i + 2, :depth]
    a3 = a_block[i + 3, :depth]
    a4 = a_block[i + 4, :depth]
    a5 = a_block[i + 5, :depth]
    b0 = bt[j, k0:k1]
    b1 = bt[j + 1, k0:k1]
    b2 = bt[j + 2, k0:k1]
    b3 = bt[j + 3, k0:k1]
    # The sums start from zero and are added to ``out`` at the end: values loaded from
    # ``out`` here would stay alive through the loop and push sums out of the registers.
    zero = out.dtype.type(0)
    c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = zero
    c20 = c21 = c22 = c23 = c30 = c31 = c32 = c33 = zero
    c40 = c41 = c42 = c43 = c50 = c51 = c52 = c53 = zero
    for k in range(depth):
        y0 = b0[k]
        y1 = b1[k]
        y2 = b2[k]
        y3 = b3[k]
        # One row of the 6×4 register tile per line: kept as a grid, the formatter leaves it alone.
        # fmt: off
        x = a0[k]
        c00 += x * y0; c01 += x * y1; c02 += x * y2; c03 += x * y3  # noqa: E702
        x = a1[k]
        c10 += x * y0; c11 += x * y1; c12 += x * y2; c13 += x * y3  # noqa: E702
        x = a2[k]
        c20 += x * y0; c21 += x * y1; c22 += x * y2; c23 += x * y3  # noqa: E702
        x = a3[k]
        c30 += x * y0; c31 += x * y1; c32 += x * y2; c33 += x * y3  # noqa: E702
        x = a4[k]
        c40 += x * y0; c41 += x * y1; c42 += x * y2; c43 += x * y3  # noqa: E702
        x = a5[k]
        c50 += x * y0; c51 += x * y1; c52 += x * y2; c53 += x * y3  # noqa: E702
        # fmt: on
    # fmt: off
    out[r, col] += c00; out[r, col + 1] += c01; out[r, col + 2] += c02; out[r, col + 3] += c03  # noqa: E702
    out[r + 1, col] += c10; out[r + 1, col + 1] += c11; out[r + 1, col + 2] += c12; out[r + 1, col + 3] += c13  # noqa: E702
    out[r + 2, col] += c20; out[r + 2, col + 1] += c21; out[r + 2, col + 2] += c22; out[r + 2, col + 3] += c23  # noqa: E702
    out[r + 3, col] += c30; out[r + 3, col + 1] += c31; out[r + 3, col + 2] += c32; out[r + 3, col + 3] += c33  # noqa: E702
    out[r + 4, col] += c40; out[r + 4, col + 1] += c41; out[r + 4, col + 2] += c42; out[r + 4, col + 3] += c43  # noqa: E702
    out[r + 5, col] += c50; out[r + 5, col + 1] += c51; out[r + 5, col + 2] += c52; out[r + 5, col + 3] += c53  # noqa: E702
    # fmt: on


@njit(cache=True, error_model="numpy")
def _blocked_rows(a, bt, c, a_block, i0, i1):
    """Rows i0..i1 of C = A·B, with A (M, K), Bᵀ (N rounded up to a multiple of 4, K): cache blocks around the micro-kernel.

    ``a_block`` is this block's packing buffer, (rows, BLOCK_K + padding). Loops, outside in:
      blocks of K of length BLOCK_K
        copy ("pack") rows i0..i1 of this block of A into ``a_block``  → stays in L2
        panels of PANEL_COLUMNS rows of Bᵀ                           → stay in L2
          groups of 6 rows of the A block                             → stay in L1 ...
            groups of 4 rows of the Bᵀ panel                          → ... while these pass
              micro-kernel: 6×4 entries of C, in registers
    Why it is fast: every number loaded from memory is used many times while it is in
    a cache close to the core (a row of Bᵀ for all the rows of the A block, 6 rows of
    A for a whole panel of Bᵀ), and the 24 sums stay in registers for a whole block
    of K. The simpler kernels wait for memory; this one keeps the multiply-add units busy.

    Edges: when M or N is not a multiple of 6 or 4, the last group is padded with rows
    of zeros (in ``a_block`` and in ``bt``) and its 6×4 result goes to a small scratch
    tile, from which only the entries that exist are added to C.
    """
    inner = a.shape[1]
    n = c.shape[1]
    rows = i1 - i0
    tile = np.empty((ROWS_A, ROWS_BT), dtype=c.dtype)
    # The rows of C are zeroed by the thread that computes them: if the memory is fresh
    # from the system, the page faults of its first touch then happen in parallel too.
    c[i0:i1, :] = 0
    for k0 in range(0, inner, BLOCK_K):
        k1 = min(k0 + BLOCK_K, inner)
        depth = k1 - k0
        for i in range(rows):
            a_block[i, :depth] = a[i0 + i, k0:k1]
        for i in range(rows, (rows + ROWS_A - 1) // ROWS_A * ROWS_A):
            a_block[i, :depth] = 0
        for j0 in range(0, n, PANEL_COLUMNS):
            j1 = min(j0 + PANEL_COLUMNS, n)
            for i in range(0, rows, ROWS_A):
                for j in range(j0, j1, ROWS_BT):
                    if i + ROWS_A <= rows and j + ROWS_BT <= n:
                        _micro_kernel(a_block, i, bt, j, k0, k1, c, i0 + i, j)
                    else:  # a tile on the edge of C
                        tile[:, :] = 0
                        _micro_kernel(a_block, i, bt, j, k0, k1, tile, 0, 0)
                        for r in range(min(ROWS_A, rows - i)):
                            for s in range(min(ROWS_BT, n - j)):
                                c[i0 + i + r, j + s] += tile[r, s]


@njit(parallel=True, cache=True, error_model="numpy")
def _blocked_kernel(a, bt, c, packed_a):
    """All of C = A·B: blocks of rows split evenly between the threads (``prange``).

    ``packed_a`` holds one packing buffer per block, so its first axis sets the number
    of blocks (a multiple of the thread count). A thread writes only its own rows of
    C, so no two threads write the same place.
    """
    m = a.shape[0]
    n_blocks = packed_a.shape[0]
    groups = (m + ROWS_A - 1) // ROWS_A  # groups of 6 rows; the last one may be shorter
    for block in prange(n_blocks):
        # An equal number of 6-row groups per block, so that no thread waits for the other.
        i0 = min(block * groups // n_blocks * ROWS_A, m)
        i1 = min((block + 1) * groups // n_blocks * ROWS_A, m)
        _blocked_rows(a, bt, c, packed_a[block], i0, i1)


def matmul_blocked(a, b, parallel_min_flops=PARALLEL_MIN_FLOPS):
    """C = A·B by cache blocking, packing and a 6×4 register-blocked micro-kernel (the fast one).

    Products of fewer than ``parallel_min_flops`` floating-point operations run on one thread.
    """
    a, b, dtype = _prepare(a, b)
    m, inner = a.shape
    n = b.shape[1]
    if m == 0 or n == 0 or inner == 0:
        return np.zeros((m, n), dtype=dtype)
    c = np.empty((m, n), dtype=dtype)  # zeroed by the kernel
    # Bᵀ with its rows padded to whole groups of 4 and to a length of K + ROW_PADDING.
    bt = SHARED_WORKSPACE.scratch("bt", (-(-n // ROWS_BT) * ROWS_BT, inner + ROW_PADDING), dtype)
    groups = -(-m // ROWS_A)
    block_k = min(BLOCK_K, inner)
    if 2.0 * m * n * inner < parallel_min_flops:
        # Small product: one thread does it all, without waking the others.
        _pack_transposed_rows(b, bt, 0, bt.shape[0])
        _blocked_rows(a, bt, c, SHARED_WORKSPACE.scratch("a", (groups * ROWS_A, block_k + ROW_PADDING), dtype), 0, m)
        return c
    _pack_transposed(b, bt)
    # Blocks of at most about BLOCK_ROWS rows (whole groups of 6), as many for each thread.
    threads = numba.get_num_threads()
    n_blocks = threads * -(-m // (BLOCK_ROWS * threads))
    rows_per_block = -(-groups // n_blocks) * ROWS_A
    packed_a = SHARED_WORKSPACE.scratch("a", (n_blocks, rows_per_block, block_k + ROW_PADDING), dtype)
    _blocked_kernel(a, bt, c, packed_a)
    return c


# ---------------------------------------------------------------- 4. SIMD: an outer-product micro-kernel
# The blocked kernel above computes each entry of its 6×4 tile as a dot product along K,
# vectorised by LLVM; every block of K then ends with 24 horizontal sums of SIMD lanes. A BLAS
# micro-kernel works the other way round, as a sum of *outer products*: per step k it loads a
# few numbers of A and a vector of a row of B and adds their products into a tile of C held in
# vector registers. Numba only writes that with an explicit vector type: see tinydl.kernels.simd.
TILE_ROWS = 8  # the register tile: 8 rows of C × 2 vectors of columns = 16 vector registers of sums
TILE_VECTORS = 2
SIMD_BLOCK_K = 256  # a block of K: the strip of B it meets (256 × 2 vectors = 32 KiB, AVX-512) stays in L1
SIMD_ROW_GROUPS = 16  # 128 rows of C at a time: their part of C (and of A) stays in L2


@njit(fastmath=True, cache=True, error_model="numpy", inline="always")
def outer_product_tile(a, a_rows, r, a_columns, b, b_rows, o, c, accumulate=True):
    """c[r + m, o : o + 2L] += Σ_k A[r + m, k] · B[k, o : o + 2L]   for m < 8 (L numbers per vector),
    where A[i, k] = a[a_rows[i] + a_columns[k]] and B[k, j] = b[b_rows[k] + j] (a, b flat);
    with accumulate=False, = instead of +=.

    Neither A nor B is stored as a matrix: the index arrays say where each of their numbers
    is in the flat arrays. For matrices in memory they are multiples of the strides (so a
    transposed A costs nothing); the convolutions in numba_implicit_gemm use the same tile with an
    im2col matrix that is never built: its rows are runs of the image that start at
    ``offsets[t] + position`` (see there).
    Per step k: 2 vector loads of B's row k, 8 numbers of A broadcast, 16 fused
    multiply-adds into the 16 sums c<m><v>, which stay in registers for the whole loop.
    """
    L = VECTOR_BYTES // c.itemsize  # numbers per vector (the L of the docstring)
    out0, out1, out2, out3 = c[r], c[r + 1], c[r + 2], c[r + 3]
    out4, out5, out6, out7 = c[r + 4], c[r + 5], c[r + 6], c[r + 7]
    f0, f1, f2, f3 = a_rows[r], a_rows[r + 1], a_rows[r + 2], a_rows[r + 3]
    f4, f5, f6, f7 = a_rows[r + 4], a_rows[r + 5], a_rows[r + 6], a_rows[r + 7]
    if accumulate:
        c00, c01 = vload(out0, o), vload(out0, o + L)
        c10, c11 = vload(out1, o), vload(out1, o + L)
        c20, c21 = vload(out2, o), vload(out2, o + L)
        c30, c31 = vload(out3, o), vload(out3, o + L)
        c40, c41 = vload(out4, o), vload(out4, o + L)
        c50, c51 = vload(out5, o), vload(out5, o + L)
        c60, c61 = vload(out6, o), vload(out6, o + L)
        c70, c71 = vload(out7, o), vload(out7, o + L)
    else:  # (not read: c may be fresh memory, and reading it would cost as much as writing)
        c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = vzeros(c)
        c40 = c41 = c50 = c51 = c60 = c61 = c70 = c71 = vzeros(c)
    for k in range(a_columns.shape[0]):
        i, j = a_columns[k], b_rows[k] + o
        b0, b1 = vload(b, j), vload(b, j + L)
        # One row of the register tile per line: kept as a grid, the formatter leaves it alone.
        # fmt: off
        x = vbroadcast(a, f0 + i); c00 = vfma(x, b0, c00); c01 = vfma(x, b1, c01)  # noqa: E702
        x = vbroadcast(a, f1 + i); c10 = vfma(x, b0, c10); c11 = vfma(x, b1, c11)  # noqa: E702
        x = vbroadcast(a, f2 + i); c20 = vfma(x, b0, c20); c21 = vfma(x, b1, c21)  # noqa: E702
        x = vbroadcast(a, f3 + i); c30 = vfma(x, b0, c30); c31 = vfma(x, b1, c31)  # noqa: E702
        x = vbroadcast(a, f4 + i); c40 = vfma(x, b0, c40); c41 = vfma(x, b1, c41)  # noqa: E702
        x = vbroadcast(a, f5 + i); c50 = vfma(x, b0, c50); c51 = vfma(x, b1, c51)  # noqa: E702
        x = vbroadcast(a, f6 + i); c60 = vfma(x, b0, c60); c61 = vfma(x, b1, c61)  # noqa: E702
        x = vbroadcast(a, f7 + i); c70 = vfma(x, b0, c70); c71 = vfma(x, b1, c71)  # noqa: E702
        # fmt: on
    # One row of the register tile per line: kept as a grid, the formatter leaves it alone.
    # fmt: off
    vstore(out0, o, c00); vstore(out0, o + L, c01)  # noqa: E702
    vstore(out1, o, c10); vstore(out1, o + L, c11)  # noqa: E702
    vstore(out2, o, c20); vstore(out2, o + L, c21)  # noqa: E702
    vstore(out3, o, c30); vstore(out3, o + L, c31)  # noqa: E702
    vstore(out4, o, c40); vstore(out4, o + L, c41)  # noqa: E702
    vstore(out5, o, c50); vstore(out5, o + L, c51)  # noqa: E702
    vstore(out6, o, c60); vstore(out6, o + L, c61)  # noqa: E702
    vstore(out7, o, c70); vstore(out7, o + L, c71)  # noqa: E702
    # fmt: on


@njit(parallel=True, fastmath=True, cache=True, error_model="numpy")
def _simd_kernel(a, a_rows, a_columns, b, b_rows, c, n_parts):
    """c = A·B, A[i, k] = a[a_rows[i] + a_columns[k]], B[k, j] = b[b_rows[k] + j]; c has whole tiles
    of rows and columns (see matmul_simd).

    Groups of 8 rows of C are split evenly between ``n_parts`` threads, each writing only
    its own rows. Each thread takes SIMD_ROW_GROUPS groups at a time (their rows of C stay in
    L2), and for those, K in blocks whose strip of b (2 vectors wide) stays in L1 while the
    groups pass by. The first block of K writes C, the others add to it.
    """
    rows, columns = c.shape
    span = TILE_VECTORS * (VECTOR_BYTES // c.itemsize)
    groups = rows // TILE_ROWS
    depth = a_columns.shape[0]
    for part in prange(n_parts):
        first, last = part * groups // n_parts, (part + 1) * groups // n_parts
        for g0 in range(first, last, SIMD_ROW_GROUPS):
            g1 = min(g0 + SIMD_ROW_GROUPS, last)
            for k0 in range(0, depth, SIMD_BLOCK_K):
                k1 = min(k0 + SIMD_BLOCK_K, depth)
                for o in range(0, columns, span):
                    for g in range(g0, g1):
                        outer_product_tile(a, a_rows, g * TILE_ROWS, a_columns[k0:k1], b, b_rows[k0:k1], o, c, k0 > 0)


def matmul_simd(a, b, parallel_min_flops=PARALLEL_MIN_FLOPS):
    """C = A·B with the outer-product micro-kernel (outer_product_tile), A read where it lies.

    Products of fewer than ``parallel_min_flops`` floating-point operations run on one thread.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0] or np.result_type(a, b) not in (np.float32, np.float64):
        _prepare(a, b)  # raises the error that says what is wrong (shapes, dtypes)
    dtype = np.result_type(a, b)
    m, depth = a.shape
    n = b.shape[1]
    if m == 0 or n == 0 or depth == 0:
        return np.zeros((m, n), dtype=dtype)
    span = TILE_VECTORS * lanes(dtype)
    rows, columns = -(-m // TILE_ROWS) * TILE_ROWS, -(-n // span) * span
    # A through its strides (in numbers; rows past M read row 0 and are thrown away)
    if a.dtype != dtype or a.strides[0] % a.itemsize or a.strides[1] % a.itemsize or min(a.strides) < 0:
        a = np.ascontiguousarray(a, dtype=dtype)
    row_stride, column_stride = a.strides[0] // a.itemsize, a.strides[1] // a.itemsize
    a_rows = np.zeros(rows, dtype=np.intp)
    a_rows[:m] = np.arange(m) * row_stride
    a_columns = np.arange(depth) * column_stride
    base = (
        a.reshape(-1)
        if a.flags.c_contiguous
        else np.lib.stride_tricks.as_strided(
            a, shape=((m - 1) * row_stride + (depth - 1) * column_stride + 1,), strides=(a.itemsize,)
        )
    )
    # b needs contiguous rows of whole spans: copy (pack) it unless it has them
    if not (b.dtype == dtype and b.flags.c_contiguous and n == columns):
        packed = SHARED_WORKSPACE.scratch("b_packed", (depth, columns), dtype)
        packed[:, :n] = b
        packed[:, n:] = 0
        b = packed
    c = np.empty((rows, columns), dtype=dtype)
    b_rows = np.arange(depth) * columns
    parts = max(1, min(rows // TILE_ROWS, numba.get_num_threads() if 2.0 * m * n * depth >= parallel_min_flops else 1))
    _simd_kernel(base, a_rows, a_columns, b.reshape(-1), b_rows, c, parts)
    return c if (rows, columns) == (m, n) else np.ascontiguousarray(c[:m, :n])
