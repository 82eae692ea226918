# BEGIN SOLUTION assignment=3 remove
"""The automatic Numba convolution (registered as "numba", the CPU default): for each layer, the fastest strategy.

Three strategies, each a module of its own, registered under its own name and
tested against ``reference``:

    numba_im2col          im2col + BLAS (any stride and padding; also the fused op, chunk by chunk)
    numba_implicit_gemm   the same matrix product without building the matrix (stride 1, many taps)
    numba_direct          the fused conv → ReLU → max-pool, window by window (small filters)

``numba`` runs, for each call, the one :func:`fastest_strategy` picks for the
layer's shape, and adds nothing of its own. To run one strategy everywhere:
``td.kernels.use("conv2d", "numba_implicit_gemm")``. Max pooling has only one
Numba kernel: numba_pool.py, registered as "numba" itself.
"""

from . import numba_direct, numba_im2col, numba_implicit_gemm

IMPLICIT_GEMM_MIN_TAPS = 64  # min(C, O)·KH·KW from which conv2d is an implicit GEMM (see fastest_strategy)
DIRECT_MAX_TAPS = 64  # C·KH·KW up to which the fused op convolves directly (see fastest_strategy)


def fastest_strategy(op, w_shape, stride, padding):
    """The strategy module that runs ``op`` ("conv2d" or "conv2d_relu_maxpool2d") fastest for
    filters of shape ``w_shape`` = (O, C, KH, KW) with this stride and padding (as measured on 2 cores).

    conv2d: ``numba_implicit_gemm`` when the stride is 1, the padding is smaller than
    the kernel, and min(C, O)·KH·KW ≥ IMPLICIT_GEMM_MIN_TAPS; else ``numba_im2col``.
      * Below 64 taps (C·KH·KW, and O·KH·KW for the input gradient) a register tile's
        loop is too short to pay for loading and storing its 16 sums. Measured at
        (64, 1→32, 28², pad 1), 9 taps: im2col + BLAS 1.4 / 1.1 / 0.8 ms (forward / weight /
        input gradient) against 1.4–1.8 / 1.6–2.8 / 1.4–3.3 implicit.
      * Its input gradient is an implicit GEMM only with stride 1 and padding < kernel
        (a convolution of ∂L/∂y padded by KH − 1 − ph).
      * All three roles take the same strategy, never a mix: a Numba kernel that runs
        right after a BLAS call is slowed down by OpenBLAS's threads, which keep spinning
        for a while (docs/performance.md). Measured on (64, 64→64, 32², pad 1), forward +
        both gradients (before the SIMD kernels; now ~48 ms implicit): 93 ms all implicit,
        107 ms all BLAS, 141 ms mixed (implicit forward and input gradient, BLAS weight gradient).
    conv2d_relu_maxpool2d: ``numba_direct`` up to DIRECT_MAX_TAPS taps C·KH·KW, else
    ``numba_im2col``. The direct kernel was written for small filters such as the
    article's first layer (1·3·3 = 9 taps), where a matrix product is too thin to pay
    for building its matrix; deeper filters go to im2col, whose product BLAS runs.
    (Where between 9 and 64 taps the two cross is not recorded as measured.)
    """
    n_filters, channels, kh, kw = w_shape
    (ph, pw) = padding
    if op == "conv2d_relu_maxpool2d":
        return numba_direct if channels * kh * kw <= DIRECT_MAX_TAPS else numba_im2col
    if op != "conv2d":
        raise ValueError(f"fastest_strategy: op must be 'conv2d' or 'conv2d_relu_maxpool2d', got {op!r}")
    if tuple(stride) == (1, 1) and ph < kh and pw < kw and min(channels, n_filters) * kh * kw >= IMPLICIT_GEMM_MIN_TAPS:
        return numba_implicit_gemm
    return numba_im2col


# ------------------------------------------------------------------ the registry's roles: each passed on as it is
def conv2d_forward(x, w, bias, stride, padding):
    return fastest_strategy("conv2d", w.shape, stride, padding).conv2d_forward(x, w, bias, stride, padding)


def conv2d_backward_input(grad_y, w, x_shape, stride, padding):
    return fastest_strategy("conv2d", w.shape, stride, padding).conv2d_backward_input(
        grad_y, w, x_shape, stride, padding
    )


def conv2d_backward_weight(grad_y, x, w_shape, stride, padding):
    return fastest_strategy("conv2d", w_shape, stride, padding).conv2d_backward_weight(
        grad_y, x, w_shape, stride, padding
    )


def conv2d_relu_maxpool2d_forward(x, w, bias, stride, padding, pool_kernel, pool_stride):
    strategy = fastest_strategy("conv2d_relu_maxpool2d", w.shape, stride, padding)
    return strategy.conv2d_relu_maxpool2d_forward(x, w, bias, stride, padding, pool_kernel, pool_stride)


def conv2d_relu_maxpool2d_backward(grad_y, y, argmax, x, w, stride, padding, pool_kernel, pool_stride, need_input_grad):
    strategy = fastest_strategy("conv2d_relu_maxpool2d", w.shape, stride, padding)
    return strategy.conv2d_relu_maxpool2d_backward(
        grad_y, y, argmax, x, w, stride, padding, pool_kernel, pool_stride, need_input_grad
    )


# END SOLUTION
