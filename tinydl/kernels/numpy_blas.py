"""Matrix multiplication by BLAS (registered as matmul "numpy", the CPU default).

    C[i, j] = Σ_k A[i, k] · B[k, j]

NumPy's ``@`` hands the product to the BLAS library it was built with
(OpenBLAS or MKL): hand-tuned micro-kernels in assembly, cache blocking and
threads. It is the yardstick the Numba ladder in numba_matmul.py is measured
against. Measured on 2 cores it was faster than every rung, so it is the
default (see _FASTEST_FIRST in kernels/__init__.py, also for the one
exception, a whole CNN training step).
"""


def matmul(a, b):
    """A @ B for 2-D float arrays, by BLAS (OpenBLAS or MKL, through NumPy's @)."""
    return a @ b
