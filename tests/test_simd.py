"""tinydl.kernels.simd: the vector operations mean the same compiled (Numba) and as plain NumPy."""

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinydl.kernels import simd


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_vector_fills_one_register(dtype):
    assert simd.lanes(dtype) * np.dtype(dtype).itemsize == simd.VECTOR_BYTES
    assert simd.VECTOR_BYTES in (32, 64)


def test_numpy_versions_refuse_accesses_outside_the_array():
    a = np.zeros(2 * simd.lanes(np.float32), np.float32)
    simd.vload(a, simd.lanes(np.float32))  # the last whole vector: fine
    with pytest.raises(IndexError, match="outside"):
        simd.vload(a, simd.lanes(np.float32) + 1)
    with pytest.raises(IndexError, match="outside"):
        simd.vstore(a, -1, simd.vzeros(a))
    with pytest.raises(IndexError, match="outside"):
        simd.vbroadcast(a, a.size)


def _axpy_then_broadcast(a, b, out):
    """out[i : i + L] = a[i] · a[i : i + L] + b[i : i + L] for each whole vector, then + b[0] (all lanes)."""
    n = simd.VECTOR_BYTES // out.itemsize
    for i in range(0, out.shape[0] - n + 1, n):
        v = simd.vfma(simd.vsplat(a[i]), simd.vload(a, i), simd.vload(b, i))
        v = simd.vfma(simd.vbroadcast(b, 0), simd.vsplat(out.dtype.type(1)), v)
        simd.vstore(out, i, simd.vfma(simd.vzeros(out), v, v))  # 0·v + v


@functools.cache
def _compiled():
    from tinydl.kernels._numba import njit

    return njit(_axpy_then_broadcast)  # compiled once per dtype, on first use


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=25)
@given(vectors=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_compiled_operations_match_their_numpy_meaning(dtype, vectors, seed):
    n = simd.lanes(dtype)
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(vectors * n).astype(dtype), rng.standard_normal(vectors * n).astype(dtype)
    expected = np.empty_like(a)
    _axpy_then_broadcast(a, b, expected)  # plain NumPy
    assert np.allclose(expected, np.repeat(a[::n], n) * a + b + b[0])
    compiled = np.empty_like(a)
    _compiled()(a, b, compiled)
    # vfma rounds once where NumPy's a·b + c rounds twice: equal up to one rounding of the terms
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(compiled, expected, rtol=4 * eps, atol=16 * eps)


def test_wrong_arguments_get_errors_that_name_them():
    """Compiled and plain, a 2-D array or an integer dtype is refused with a message that says what is needed."""
    from numba.core.errors import TypingError

    from tinydl.kernels._numba import njit

    square = np.zeros((4, 4 * simd.lanes(np.float32)), np.float32)
    with pytest.raises(TypeError, match="1-D C-contiguous"):
        simd.vload(square, 0)
    with pytest.raises(TypeError, match="float32 or float64"):
        simd.vzeros(np.zeros(64, np.int32))
    with pytest.raises(TypingError, match="1-D C-contiguous"):
        njit(lambda a: simd.vload(a, 0))(square)
    with pytest.raises(TypingError, match="float32/float64"):
        njit(lambda a: simd.vzeros(a))(np.zeros(64, np.int32))
