"""tinydl's GPU kernels: CUDA C source (``*.cu``, one file per family) and their Python launchers.

    matmul.cu / matmul.py   the matmul ladder: naive, shared-memory tiled, register-blocked (+ cuBLAS)

Nothing here imports CuPy at import time; :mod:`.launch` does, the first time a
CuPy array is launched on. The same sources run on the CPU through
:mod:`tinydl.testing.cuda_emulator` (how the tests prove them right without a GPU).
"""
