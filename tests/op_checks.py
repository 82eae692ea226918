"""The two checks every op's tests make, shared by the op test files (tests/test_ops_*.py).

``check``: the forward in float64 equals a NumPy reference, then ``td.gradcheck`` (central differences).
``compare``: the same function in tinydl and in PyTorch, float64 and float32, values and gradients, to

    relative error = max|tinydl − torch| / max(max|torch|, 1)   <  1e-10 (float64), 1e-5 (float32)

(the scale of at least 1 is explained in tests/test_ops_torch.py's docstring).
"""

import numpy as np

import tinydl as td


def check(fn, ref, *arrays, **gradcheck_kwargs):
    """Forward of ``fn`` on float64 tensors must equal the NumPy ``ref``; then gradcheck every input."""
    out = fn(*[td.tensor(a) for a in arrays])  # float64 arrays stay float64
    expected = np.asarray(ref(*arrays))
    assert out.dtype == np.float64
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    report = td.gradcheck(fn, *arrays, **gradcheck_kwargs)  # raises GradcheckError on a mismatch
    assert report.passed and len(report.inputs) == len(arrays)


TOLERANCE = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-5}
DTYPES = (np.float64, np.float32)


def relative_error(actual, expected):
    """max|actual − expected| / max(max|expected|, 1): see the module docstring."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    if expected.size == 0:
        return 0.0
    return float(np.max(np.abs(actual - expected))) / max(float(np.max(np.abs(expected))), 1.0)


def assert_matches(actual, expected, dtype, what):
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} vs torch {expected.shape}"
    assert np.all(np.isfinite(actual)) == np.all(np.isfinite(expected)), f"{what}: non-finite values"
    err = relative_error(actual, expected)
    assert err < TOLERANCE[np.dtype(dtype)], f"{what} ({np.dtype(dtype)}): relative error {err:.3e} against torch"


def compare(torch, td_fn, torch_fn, *arrays, dtypes=DTYPES, seed=0):
    """Run ``td_fn`` and ``torch_fn`` on the same float ``arrays`` (each cast to each dtype) and compare.

    Every array becomes a leaf with ``requires_grad=True`` in both libraries.
    Outputs must match; then the same random upstream gradient is
    back-propagated through both and every input's gradient must match.
    Non-differentiable arguments (labels, masks, options) go in the closures.
    """
    for dtype in dtypes:
        xs = [np.asarray(a, dtype=dtype) for a in arrays]
        ours = [td.tensor(x, requires_grad=True) for x in xs]
        theirs = [torch.tensor(x, requires_grad=True) for x in xs]
        out, ref = td_fn(*ours), torch_fn(*theirs)
        assert out.dtype == np.dtype(dtype), f"output dtype {out.dtype} for {np.dtype(dtype)} inputs"
        assert_matches(out.numpy(), ref.detach().numpy(), dtype, "forward")

        upstream = np.random.default_rng(seed).standard_normal(out.shape).astype(dtype)
        out.backward(upstream)
        ref.backward(torch.from_numpy(upstream))
        for i, (t, th) in enumerate(zip(ours, theirs)):
            expected = th.grad.numpy() if th.grad is not None else np.zeros(th.shape, dtype)
            assert t.grad is not None, f"input {i} got no gradient"
            assert t.grad.dtype == np.dtype(dtype), f"input {i}: gradient dtype {t.grad.dtype}"
            assert_matches(t.grad.numpy(), expected, dtype, f"gradient of input {i}")
