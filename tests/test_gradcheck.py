"""td.gradcheck itself: it must pass correct gradients and catch wrong ones, saying where."""

import re

import numpy as np
import pytest

import tinydl as td
from tinydl.testing import GradcheckError, GradcheckReport, numerical_gradient


class SquareMissingFactor2(td.Function):
    """y = x², with a deliberately wrong backward: x instead of 2x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return grad * x  # wrong: should be 2 * grad * x


class MulWrongSecondInput(td.Function):
    """z = a·b, with the gradient of b wrong (sign flipped) and that of a right."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        return grad * b, -grad * a


class SlightlyOff(td.Function):
    """y = 3x with a backward that is 1e-4 too large (relative)."""

    @staticmethod
    def forward(ctx, x):
        return 3 * x

    @staticmethod
    def backward(ctx, grad):
        return grad * 3 * (1 + 1e-4)


class NoGradient(td.Function):
    """y = 2x whose backward forgets the input entirely."""

    @staticmethod
    def forward(ctx, x):
        return 2 * x

    @staticmethod
    def backward(ctx, grad):
        return None


# ------------------------------------------------------------------ passes
def test_passes_on_correct_functions():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    report = td.gradcheck(lambda x, y: td.tanh(x @ y).sum(axis=0), a, b)
    assert isinstance(report, GradcheckReport) and report and report.passed
    assert [c.position for c in report.inputs] == [0, 1]
    assert [c.shape for c in report.inputs] == [(3, 4), (4, 2)]
    assert all(c.failures == 0 and c.max_abs_error < 1e-7 for c in report.inputs)
    assert "passed" in str(report)


def test_does_not_modify_the_callers_arrays():
    x = np.array([1.0, 2.0, 3.0])
    td.gradcheck(lambda t: (t * t).sum(), x)
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])


def test_float32_inputs_are_checked_in_float64():
    x = np.array([0.5, -1.5], dtype=np.float32)
    seen = []

    def fn(t):
        seen.append(t.dtype)
        return td.exp(t)

    td.gradcheck(fn, x)
    assert set(seen) == {np.dtype(np.float64)}


# ------------------------------------------------------------------ failures
def test_fails_on_wrong_backward_and_names_input_errors_and_index():
    x = np.array([1.0, -2.0, 3.0, 0.5])
    with pytest.raises(GradcheckError) as info:
        td.gradcheck(lambda t: SquareMissingFactor2.apply(t), x)
    report = info.value.report
    assert not report.passed
    (check,) = report.inputs
    assert check.position == 0 and check.failures == 4

    # The upstream gradient is standard normal with the default seed 0; the analytic
    # gradient is v·x, the numerical one 2·v·x, so the error at i is |v_i x_i|.
    v = np.random.default_rng(0).standard_normal(x.shape)
    worst = int(np.argmax(np.abs(v * x)))
    assert check.max_abs_error == pytest.approx(abs(v[worst] * x[worst]), rel=1e-6)
    assert check.max_abs_error_at == (worst,)
    assert check.max_rel_error == pytest.approx(0.5, rel=1e-6)  # |vx − 2vx| / |2vx|

    message = str(info.value)
    assert "FAIL" in message and "input 0" in message and "shape (4,)" in message
    assert f"max abs error {check.max_abs_error:.3e} at ({worst},)" in message
    assert re.search(r"max rel error 5\.000e-01 at \(\d,\)", message)
    assert "4 element(s) out of tolerance" in message


def test_names_the_failing_input_among_several():
    a, b = np.array([[1.0, 2.0], [0.5, -1.0]]), np.array([[3.0, 1.0], [4.0, -2.0]])
    with pytest.raises(GradcheckError) as info:
        td.gradcheck(lambda x, y: MulWrongSecondInput.apply(x, y), a, b)
    first, second = info.value.report.inputs
    assert first.passed and not second.passed
    assert second.position == 1 and second.shape == (2, 2)
    assert len(second.max_abs_error_at) == 2  # a 2-D index
    message = str(info.value)
    assert "ok   input 0" in message and "FAIL input 1 shape (2, 2)" in message


def test_missing_gradient_is_caught():
    with pytest.raises(GradcheckError, match="FAIL input 0"):
        td.gradcheck(lambda t: NoGradient.apply(t), np.array([1.0, 2.0]))


def test_tolerances_are_respected():
    x = np.array([1.0, 2.0])
    assert td.gradcheck(lambda t: SlightlyOff.apply(t), x)  # 1e-4 relative error < rtol 1e-3
    with pytest.raises(GradcheckError):
        td.gradcheck(lambda t: SlightlyOff.apply(t), x, rtol=1e-6, atol=1e-9)


def test_raise_exception_false_returns_a_falsy_report():
    report = td.gradcheck(lambda t: SquareMissingFactor2.apply(t), np.array([1.0, 2.0]), raise_exception=False)
    assert isinstance(report, GradcheckReport)
    assert not report and not report.passed
    assert report.inputs[0].failures == 2
    assert "FAILED" in str(report)


def test_detects_a_gradient_that_ignores_broadcasting():
    """A classic mistake: taking one row instead of summing over the broadcast axis (right shape, wrong values)."""

    class BadBiasAdd(td.Function):
        @staticmethod
        def forward(ctx, x, b):
            return x + b

        @staticmethod
        def backward(ctx, grad):
            return grad, grad[0]  # should sum over axis 0, not take row 0

    with pytest.raises(GradcheckError, match="FAIL input 1"):
        td.gradcheck(lambda x, b: BadBiasAdd.apply(x, b), np.ones((3, 2)), np.ones(2))


# ------------------------------------------------------- inputs and outputs
def test_integer_inputs_pass_through_unchecked():
    logits = np.array([[1.0, 2.0, 0.5], [0.1, -1.0, 3.0]])
    received = []

    def fn(z, labels_tensor, labels_array):
        received.append((labels_tensor.dtype, type(labels_array)))
        return td.cross_entropy(z, labels_tensor) + td.cross_entropy(z, labels_array)

    report = td.gradcheck(fn, logits, td.tensor([2, 0]), np.array([1, 1]))
    assert [c.position for c in report.inputs] == [0]  # only the logits were checked
    assert all(dtype.kind == "i" and kind is np.ndarray for dtype, kind in received)


def test_float_tensor_without_requires_grad_is_a_constant():
    w = td.tensor(np.array([1.0, 2.0]))  # requires_grad=False: passed through, not checked
    report = td.gradcheck(lambda x, c: (x * c).sum(), np.array([3.0, 4.0]), w)
    assert [c.position for c in report.inputs] == [0]
    report = td.gradcheck(
        lambda x, c: (x * c).sum(), np.array([3.0, 4.0]), td.tensor(np.array([1.0, 2.0]), requires_grad=True)
    )
    assert [c.position for c in report.inputs] == [0, 1]


def test_function_returning_float32_is_a_clear_error():
    with pytest.raises(TypeError, match="float32") as info:
        td.gradcheck(lambda t: t.astype(td.float32) * 2, np.array([1.0, 2.0]))
    assert "float64" in str(info.value)


def test_function_returning_a_non_tensor_is_a_clear_error():
    with pytest.raises(TypeError, match="must return a Tensor, got ndarray"):
        td.gradcheck(lambda t: t.numpy() * 2, np.array([1.0]))


def test_nothing_to_check_is_a_clear_error():
    with pytest.raises(ValueError, match="nothing to check"):
        td.gradcheck(lambda t: t * 2, td.tensor(np.array([1.0])))


def test_numerical_gradient_of_a_known_function():
    x = td.tensor(np.array([1.0, 2.0, -1.0]), requires_grad=True)
    v = np.array([1.0, -1.0, 0.5])
    g = numerical_gradient(lambda t: t * t * t, [x], 0, v, eps=1e-5)
    np.testing.assert_allclose(g, v * 3 * x.numpy() ** 2, rtol=1e-8)
    np.testing.assert_array_equal(x.numpy(), [1.0, 2.0, -1.0])  # restored after perturbing


def test_testing_package_does_not_import_hypothesis():
    import pathlib
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parents[1]
    code = "import sys, tinydl, tinydl.testing; print('hypothesis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "False"
