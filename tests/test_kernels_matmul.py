"""Matrix-multiplication kernels: parity with the reference loops, and the registry API.

Every implementation of the op "matmul" (``td.kernels.available("matmul")``) must
compute the same C = A·B as ``tinydl.kernels.reference.matmul``, for any shape
(including sizes that are not multiples of the blocked kernel's 6×4 tiles),
float32 and float64, and non-contiguous inputs such as transposed views.
"""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinydl as td
import tinydl.kernels  # noqa: F401  (td.kernels, also where tinydl/__init__ does not import it)
from tinydl.kernels import reference

MATMUL_IMPLS = td.kernels.available("matmul")
NUMBA_IMPLS = [name for name in MATMUL_IMPLS if name.startswith("numba")]
RTOL = {np.float32: 1e-5, np.float64: 1e-12}

# Sizes 1..40, with the edges of the blocked kernel's 6×4 register tiles drawn more often.
sizes = st.one_of(st.integers(1, 40), st.sampled_from([1, 3, 4, 5, 6, 7, 11, 12, 13, 23, 24, 25]))
# How the operands are laid out in memory: the kernels must copy what is not C-contiguous.
layouts = st.sampled_from(["contiguous", "a transposed", "b transposed", "both transposed", "strided"])


def _operands(m, k, n, dtype, layout, seed):
    """A (m×k) and B (k×n) with the requested memory layout (same values whatever the layout)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    if layout in ("a transposed", "both transposed"):
        a = np.ascontiguousarray(a.T).T  # a view with strides of a transpose
    if layout in ("b transposed", "both transposed"):
        b = np.ascontiguousarray(b.T).T
    if layout == "strided":  # every other column of a wider array
        a = np.repeat(a, 2, axis=1)[:, ::2]
        b = np.repeat(b, 2, axis=1)[:, ::2]
    return a, b


def _assert_matmul_close(c, a, b, expected, rtol):
    """|C − expected| ≤ rtol · (|A|·|B|) entrywise: the error scale of a sum of products.

    A plain relative tolerance would fail where the sum cancels to nearly zero;
    the rounding error of Σ_k a_ik b_kj is proportional to Σ_k |a_ik b_kj|.
    """
    scale = np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64)
    error = np.abs(c.astype(np.float64) - expected)
    worst = np.unravel_index(np.argmax(error - rtol * scale), error.shape) if error.size else None
    assert np.all(error <= rtol * scale + np.finfo(np.float64).tiny), (
        f"largest error {error[worst]:.3g} at {worst}, allowed {rtol * scale[worst]:.3g}"
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("impl", MATMUL_IMPLS)
@given(m=sizes, k=sizes, n=sizes, layout=layouts, seed=st.integers(0, 2**16))
def test_matmul_matches_reference(impl, dtype, m, k, n, layout, seed):
    a, b = _operands(m, k, n, dtype, layout, seed)
    expected = reference.matmul(a.astype(np.float64), b.astype(np.float64))
    c = td.kernels.get("matmul", impl).matmul(a, b)
    assert c.shape == (m, n)
    assert c.dtype == dtype
    assert c.flags.c_contiguous
    _assert_matmul_close(c, a, b, expected, RTOL[dtype])


@pytest.mark.skipif("numba_blocked" not in MATMUL_IMPLS, reason="numba is not installed")
@pytest.mark.parametrize("kernel", ["matmul_blocked", "matmul_simd"])
@pytest.mark.parametrize("path", ["one thread", "parallel"])
@given(
    m=sizes,
    k=sizes,
    n=sizes,
    layout=layouts,
    seed=st.integers(0, 2**16),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_blocked_matmul_both_paths_match_reference(kernel, path, m, k, n, layout, seed, dtype):
    """Small products run on one thread; force each path, so that both are tested on small shapes."""
    from tinydl.kernels import numba_matmul

    a, b = _operands(m, k, n, dtype, layout, seed)
    # below parallel_min_flops a product runs on one thread: inf forces that path, 0 the parallel one
    c = getattr(numba_matmul, kernel)(a, b, parallel_min_flops=math.inf if path == "one thread" else 0)
    _assert_matmul_close(c, a, b, reference.matmul(a.astype(np.float64), b.astype(np.float64)), RTOL[dtype])


@pytest.mark.parametrize("impl", MATMUL_IMPLS)
def test_matmul_on_transposed_views(impl):
    """x.T is not C-contiguous: the kernels copy it first instead of reading it as if it were."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((37, 29)).astype(np.float32)
    y = rng.standard_normal((37, 13)).astype(np.float32)
    assert not x.T.flags.c_contiguous
    matmul = td.kernels.get("matmul", impl).matmul
    _assert_matmul_close(matmul(x.T, y), x.T, y, x.T.astype(np.float64) @ y, RTOL[np.float32])
    _assert_matmul_close(matmul(y.T, x), y.T, x, y.T.astype(np.float64) @ x, RTOL[np.float32])


@pytest.mark.parametrize(
    "m, k, n",
    [
        (300, 257, 129),  # several row blocks, edges in every direction
        (263, 1100, 70),  # K longer than one block of K of the blocked kernel
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("impl", [name for name in MATMUL_IMPLS if name != "reference"])
def test_matmul_bigger_case_matches_numpy(impl, dtype, m, k, n):
    rng = np.random.default_rng(7)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    c = td.kernels.get("matmul", impl).matmul(a, b)
    assert c.dtype == dtype and c.shape == (m, n)
    _assert_matmul_close(c, a, b, a.astype(np.float64) @ b.astype(np.float64), RTOL[dtype])


@pytest.mark.parametrize("impl", NUMBA_IMPLS)
def test_numba_matmul_mixed_dtypes_and_inputs_untouched(impl):
    """float32 @ float64 gives float64, like NumPy; the inputs are not modified."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal((9, 14)).astype(np.float32)
    b = rng.standard_normal((14, 5))
    a0, b0 = a.copy(), b.copy()
    c = td.kernels.get("matmul", impl).matmul(a, b)
    assert c.dtype == np.float64
    _assert_matmul_close(c, a, b, a.astype(np.float64) @ b, RTOL[np.float64])
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)


@pytest.mark.parametrize("impl", NUMBA_IMPLS)
def test_numba_matmul_rejects_bad_shapes_and_dtypes(impl):
    matmul = td.kernels.get("matmul", impl).matmul
    with pytest.raises(ValueError, match="inner dimensions differ"):
        matmul(np.ones((3, 4)), np.ones((5, 2)))
    with pytest.raises(ValueError, match="2-D"):
        matmul(np.ones(3), np.ones((3, 2)))
    with pytest.raises(TypeError, match="float32 or float64"):
        matmul(np.ones((2, 2), dtype=np.int64), np.ones((2, 2), dtype=np.int64))


@pytest.mark.parametrize("impl", NUMBA_IMPLS)
def test_numba_matmul_empty_dimensions(impl):
    matmul = td.kernels.get("matmul", impl).matmul
    assert matmul(np.ones((0, 3)), np.ones((3, 4))).shape == (0, 4)
    np.testing.assert_array_equal(matmul(np.ones((2, 0)), np.ones((0, 4))), np.zeros((2, 4)))


def test_numba_matmul_runs_as_plain_python_with_jit_disabled():
    """NUMBA_DISABLE_JIT=1 turns the kernels into Python functions (for pdb); they must still be right."""
    if not NUMBA_IMPLS:
        pytest.skip("numba is not installed")
    code = (
        "import numpy as np, numba\n"
        "assert numba.config.DISABLE_JIT\n"
        "from tinydl.kernels import numba_matmul as nm\n"
        "rng = np.random.default_rng(0)\n"
        "a, b = rng.standard_normal((7, 13)), rng.standard_normal((13, 5)).astype(np.float32)\n"
        "for f in (nm.matmul_naive, nm.matmul_ikj, nm.matmul_blocked, nm.matmul_simd):\n"
        "    np.testing.assert_allclose(f(a, b.T.copy().T), a @ b, rtol=1e-12)\n"
        # matmul_simd's vector loads check bounds here (not compiled): shapes that end tiles anywhere
        "for m, k, n in [(1, 1, 1), (9, 17, 33), (16, 300, 2), (3, 5, 40)]:\n"
        "    a, b = rng.standard_normal((k, m)).T, rng.standard_normal((k, n)).astype(np.float32)\n"
        "    np.testing.assert_allclose(nm.matmul_simd(a, b), a @ b, rtol=1e-12, atol=1e-12)\n"
    )
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- the registry API, for "matmul"
@pytest.fixture
def restore_matmul_choice():
    """Leave the registry as it was found, whatever a test selects."""
    previous = td.kernels._selected.get(("matmul", "cpu"))  # None when the default is in use
    yield
    td.kernels._selected[("matmul", "cpu")] = previous


def test_registry_lists_the_matmul_implementations():
    names = td.kernels.available("matmul")
    assert names[:2] == ["reference", "numpy"]
    if NUMBA_IMPLS:
        assert {"numba_naive", "numba_ikj", "numba_blocked"} <= set(names)
    assert td.kernels.default("matmul") in names


def test_registry_use_current_and_get(restore_matmul_choice):
    from tinydl.kernels import numba_matmul

    td.kernels.use("matmul", None)
    assert td.kernels.current("matmul") == td.kernels.default("matmul")
    td.kernels.use("matmul", "numba_blocked")
    assert td.kernels.current("matmul") == "numba_blocked"
    kernel_set = td.kernels.get("matmul")
    assert kernel_set.name == "numba_blocked"
    assert kernel_set.matmul is numba_matmul.matmul_blocked
    assert td.kernels.get("matmul", "numba_ikj").matmul is numba_matmul.matmul_ikj
    td.kernels.use("matmul", None)  # back to the default
    assert td.kernels.current("matmul") == td.kernels.default("matmul")


def test_registry_using_restores_the_previous_choice(restore_matmul_choice):
    td.kernels.use("matmul", "numba_ikj")
    with td.kernels.using("matmul", "reference"):
        assert td.kernels.current("matmul") == "reference"
        with td.kernels.using("matmul", "numba_naive"):
            assert td.kernels.current("matmul") == "numba_naive"
        assert td.kernels.current("matmul") == "reference"
    assert td.kernels.current("matmul") == "numba_ikj"
    with pytest.raises(RuntimeError, match="boom"):
        with td.kernels.using("matmul", "numpy"):
            raise RuntimeError("boom")
    assert td.kernels.current("matmul") == "numba_ikj"


@pytest.mark.parametrize("impl", MATMUL_IMPLS)
def test_td_matmul_goes_through_the_selected_kernel(impl, restore_matmul_choice):
    """Forward and backward of td.matmul (backward multiplies by transposes) agree for every kernel."""
    rng = np.random.default_rng(3)
    x_np, w_np = rng.standard_normal((10, 7)), rng.standard_normal((7, 6))

    def run():
        x = td.tensor(x_np, requires_grad=True)
        w = td.tensor(w_np, requires_grad=True)
        y = td.matmul(x, w)
        (y * y).sum().backward()
        return y.numpy(), x.grad.numpy(), w.grad.numpy()

    with td.kernels.using("matmul", "reference"):
        expected = run()
    with td.kernels.using("matmul", impl):
        got = run()
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)


def test_registry_errors_name_the_problem(restore_matmul_choice):
    td.kernels.use("matmul", None)
    with pytest.raises(ValueError, match=r"unknown kernel op 'matmull'.*'matmul'"):
        td.kernels.available("matmull")
    with pytest.raises(ValueError, match="unknown kernel op 'matmull'"):
        td.kernels.use("matmull", "numpy")
    with pytest.raises(ValueError, match="unknown kernel op 'matmull'"):
        td.kernels.current("matmull")
    with pytest.raises(ValueError, match=r"no implementation 'blas' of 'matmul'; choose one of \[.*'numpy'"):
        td.kernels.use("matmul", "blas")
    with pytest.raises(ValueError, match="no implementation 'blas' of 'matmul'"):
        td.kernels.get("matmul", "blas")
    with pytest.raises(ValueError, match="no implementation 'blas' of 'matmul'"):
        with td.kernels.using("matmul", "blas"):
            pass  # pragma: no cover
    assert td.kernels.current("matmul") == td.kernels.default("matmul")  # a failed use changes nothing
