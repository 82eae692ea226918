"""tinydl's GPU kernels: CUDA C source (``*.cu``, one file per family) and their Python launchers.

    matmul.cu    / matmul.py     the matmul ladder: naive, shared-memory tiled, register-blocked (+ cuBLAS)
    conv.cu      / conv.py       im2col / col2im (+ cuBLAS) and a tiled implicit GEMM with three index
                                 maps (forward, input gradient, split-K weight gradient)
    pool.cu      / pool.py       max-pool (argmax as on the CPU) and average pool, forward and backward
    batchnorm.cu / batchnorm.py  training-mode batch norm: one block per channel, tree reductions
    optim.cu     / optim.py      fused Adam/AdamW and SGD-with-momentum updates
    launch.py                    the one place that talks to CuPy (RawModule) or to the CPU emulation

Nothing here imports CuPy at import time; :mod:`.launch` does, the first time a
CuPy array is launched on. The same sources run on the CPU through
:mod:`tinydl.testing.cuda_emulator` — how the tests prove them right on
machines without a GPU — and compile with NVRTC without one
(:mod:`tinydl.testing.nvrtc`). README.md in this folder says more.
"""
