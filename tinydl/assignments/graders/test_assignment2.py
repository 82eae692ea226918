"""Tests of assignment 2: activations, losses and optimisers.

One pytest marker per task: ``python -m pytest -m a2_sigmoid_backward`` runs one task's tests.
Each test calls its task's function alone: a backward pass is called with a context the test
fills itself (``Context``), and the expected values come from formulas and central differences
written here, so a test needs none of your other tasks. (The autograd engine and the ops of
assignment 1 are used as they are in your copy of tinydl.)
"""

import numpy as np
import pytest
from grader_tools import central_difference

import tinydl as td
from tinydl.kernels.reference import relu_backward
from tinydl.ops.activation import ReLU, Sigmoid, Tanh
from tinydl.ops.loss import CrossEntropyLoss, MSELoss

RNG = np.random.default_rng(2)


class Context:
    """What a Function's forward would have saved: ``Context(saved=(y,), reduction="mean")``."""

    def __init__(self, saved, **attributes):
        self.saved = tuple(saved)
        self.needs_input_grad = (True, True)
        self.__dict__.update(attributes)

    def save_for_backward(self, *arrays):
        self.saved = arrays


def stable_sigmoid(x):
    return np.exp(-np.logaddexp(0.0, -x))


def log_softmax_by_formula(z):
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


# ---------------------------------------------------------------------------- ReLU
@pytest.mark.a2_relu_forward
def test_relu_forward_values_and_dtype():
    for dtype in (np.float64, np.float32):
        x = np.array([[-2.0, -0.5, 0.0], [0.5, 3.0, -1e4]], dtype=dtype)
        y = ReLU.forward(Context(()), x)
        np.testing.assert_array_equal(y, np.maximum(x, 0))
        assert y.dtype == dtype, f"relu of {np.dtype(dtype).name} gave {y.dtype}"
        assert y.shape == x.shape
    np.testing.assert_array_equal(td.relu(td.tensor([-1.0, 2.0])).numpy(), [0.0, 2.0])


@pytest.mark.a2_relu_forward
def test_relu_forward_saves_what_backward_needs():
    """ReLU.backward reads one saved array and passes the gradient where it is positive."""
    x = np.array([-2.0, -0.5, 0.5, 3.0])
    ctx = Context(())
    y = ReLU.forward(ctx, x)
    assert len(ctx.saved) == 1, f"save one array (the output y or the input x), not {len(ctx.saved)}"
    (saved,) = ctx.saved
    np.testing.assert_array_equal(saved > 0, y > 0)


@pytest.mark.a2_relu_forward
def test_relu_of_nan_is_nan():
    y = ReLU.forward(Context(()), np.array([np.nan, -1.0, 1.0]))
    assert np.isnan(y[0]) and y[1] == 0 and y[2] == 1


@pytest.mark.a2_relu_backward
def test_relu_backward_passes_the_gradient_where_the_output_is_positive():
    y = np.array([0.0, 0.0, 0.5, 3.0, 0.0])
    grad = np.array([1.0, -2.0, 3.0, -4.0, 5.0])
    np.testing.assert_array_equal(relu_backward(grad, y), [0.0, 0.0, 3.0, -4.0, 0.0])


@pytest.mark.a2_relu_backward
def test_relu_backward_against_central_differences():
    x = RNG.uniform(0.1, 2.0, size=(3, 4)) * RNG.choice([-1.0, 1.0], size=(3, 4))  # away from the kink
    w = RNG.normal(size=x.shape)
    expected = central_difference(lambda v: float(np.sum(np.maximum(v, 0) * w)), x.copy())
    np.testing.assert_allclose(relu_backward(w, np.maximum(x, 0)), expected, rtol=1e-6, atol=1e-8)


@pytest.mark.a2_relu_backward
def test_relu_backward_nan_and_inf_as_pytorch():
    y = np.array([np.nan, 0.0, 2.0, 0.0])
    grad = np.array([1.0, np.nan, np.inf, np.inf])
    got = relu_backward(grad, y)
    assert got[0] == 1.0, "relu(NaN) = NaN passes its gradient on"
    assert got[1] == 0.0 and got[3] == 0.0, "where y <= 0 the gradient is 0, even a NaN or inf one"
    assert got[2] == np.inf


# ---------------------------------------------------------------------------- sigmoid, tanh
@pytest.mark.a2_sigmoid_backward
def test_sigmoid_backward_is_y_times_one_minus_y():
    x = RNG.normal(size=(3, 4)) * 3
    y = stable_sigmoid(x)
    grad = RNG.normal(size=x.shape)
    np.testing.assert_allclose(Sigmoid.backward(Context((y,)), grad), grad * y * (1 - y), rtol=1e-12)


@pytest.mark.a2_sigmoid_backward
def test_sigmoid_backward_against_central_differences():
    x = RNG.normal(size=(2, 5)) * 3
    w = RNG.normal(size=x.shape)
    t = td.tensor(x.copy(), requires_grad=True)
    td.sigmoid(t).backward(w)
    expected = central_difference(lambda v: float(np.sum(stable_sigmoid(v) * w)), x.copy())
    np.testing.assert_allclose(t.grad.numpy(), expected, rtol=1e-6, atol=1e-9)


@pytest.mark.a2_tanh_backward
def test_tanh_backward_is_one_minus_y_squared():
    y = np.tanh(RNG.normal(size=(3, 4)) * 3)
    grad = RNG.normal(size=y.shape)
    np.testing.assert_allclose(Tanh.backward(Context((y,)), grad), grad * (1 - y * y), rtol=1e-12)


@pytest.mark.a2_tanh_backward
def test_tanh_backward_against_central_differences():
    x = RNG.normal(size=(2, 5)) * 2
    w = RNG.normal(size=x.shape)
    t = td.tensor(x.copy(), requires_grad=True)
    td.tanh(t).backward(w)
    expected = central_difference(lambda v: float(np.sum(np.tanh(v) * w)), x.copy())
    np.testing.assert_allclose(t.grad.numpy(), expected, rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------------------- MSE
@pytest.mark.a2_mse_backward
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_backward_against_central_differences(reduction):
    prediction, target = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))
    w = RNG.normal(size=(4, 3)) if reduction == "none" else np.float64(RNG.normal())
    p, t = td.tensor(prediction.copy(), requires_grad=True), td.tensor(target.copy(), requires_grad=True)
    td.mse_loss(p, t, reduction=reduction).backward(w)

    def loss(pred, targ):
        squared = (pred - targ) ** 2
        return float(
            np.sum(w * (squared if reduction == "none" else squared.mean() if reduction == "mean" else squared.sum()))
        )

    np.testing.assert_allclose(
        p.grad.numpy(), central_difference(lambda v: loss(v, target), prediction.copy()), rtol=1e-6
    )
    np.testing.assert_allclose(
        t.grad.numpy(), central_difference(lambda v: loss(prediction, v), target.copy()), rtol=1e-6
    )


@pytest.mark.a2_mse_backward
def test_mse_backward_by_formula():
    diff = np.array([1.0, -2.0, 0.5, 4.0])
    g_pred, g_target = MSELoss.backward(Context((diff,), reduction="mean"), np.float64(1.0))
    np.testing.assert_allclose(g_pred, 2 * diff / 4, rtol=1e-12)
    np.testing.assert_allclose(g_target, -2 * diff / 4, rtol=1e-12)


# ---------------------------------------------------------------------------- cross-entropy
@pytest.mark.a2_log_softmax
def test_cross_entropy_is_stable_and_correct():
    logits = np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]])
    labels = np.array([0, 2])
    loss = td.cross_entropy(td.tensor(logits), labels).item()
    row2 = -(3.0 - np.log(np.exp(1.0) + np.exp(2.0) + np.exp(3.0)))
    assert np.isfinite(loss) and loss == pytest.approx((0.0 + row2) / 2, rel=1e-6)


@pytest.mark.a2_log_softmax
def test_cross_entropy_saves_the_log_probabilities():
    logits = RNG.normal(size=(5, 4)) * 10
    labels = RNG.integers(0, 4, size=5)
    ctx = Context(())
    losses = CrossEntropyLoss.forward(ctx, logits, labels, None, "none")
    expected = log_softmax_by_formula(logits)
    np.testing.assert_allclose(ctx.saved[0], expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(losses, -expected[np.arange(5), labels], rtol=1e-10)


def cross_entropy_backward(logits, labels, weight, reduction, grad):
    """CrossEntropyLoss.backward called with what its forward saves, the log-probabilities computed here."""
    log_probs = log_softmax_by_formula(logits)
    w = np.ones(logits.shape[1]) if weight is None else weight
    norm = w[labels].sum()
    ctx = Context((log_probs, labels, w), reduction=reduction, norm=norm)
    return CrossEntropyLoss.backward(ctx, grad)[0]


@pytest.mark.a2_cross_entropy_gradient
def test_cross_entropy_backward_is_prediction_minus_truth():
    logits = RNG.normal(size=(5, 4))
    labels = RNG.integers(0, 4, size=5)
    p = np.exp(log_softmax_by_formula(logits))
    expected = (p - np.eye(4)[labels]) / 5
    got = cross_entropy_backward(logits, labels, None, "mean", np.float64(1.0))
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.a2_cross_entropy_gradient
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_weighted_cross_entropy_backward_against_central_differences(reduction):
    logits = RNG.normal(size=(6, 3))
    labels = np.array([0, 1, 2, 2, 1, 2])
    weight = np.array([1.0, 2.0, 0.5])
    grad = RNG.normal(size=6) if reduction == "none" else np.float64(1.5)

    def loss(z):
        losses = -weight[labels] * log_softmax_by_formula(z)[np.arange(6), labels]
        if reduction == "none":
            return float(np.sum(losses * grad))
        total = losses.sum() / (weight[labels].sum() if reduction == "mean" else 1.0)
        return float(total * grad)

    got = cross_entropy_backward(logits, labels, weight, reduction, grad)
    np.testing.assert_allclose(got, central_difference(loss, logits.copy()), rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------------------- optimisers
def quadratic_steps(optimizer_factory, start, steps, gradient=lambda w: 2 * w):
    """Run an optimiser on a parameter whose gradient is set by hand (no backward pass involved)."""
    w = td.tensor(np.array(start, dtype=np.float64), requires_grad=True)
    opt = optimizer_factory([w])
    for _ in range(steps):
        w.grad = td.tensor(gradient(w.numpy().copy()))
        opt.step()
    return w.numpy()


@pytest.mark.a2_sgd_momentum
def test_sgd_momentum_two_steps_by_hand():
    w = quadratic_steps(lambda p: td.optim.SGD(p, lr=0.1, momentum=0.9), [1.0, -1.0], 2)
    # step 1: b = g = [2, -2], w = [0.8, -0.8]; step 2: g = [1.6, -1.6], b = 0.9·2 + 1.6 = 3.4, w = 0.8 − 0.34
    np.testing.assert_allclose(w, [0.46, -0.46], rtol=1e-12)


@pytest.mark.a2_sgd_momentum
def test_sgd_momentum_with_dampening():
    w = quadratic_steps(lambda p: td.optim.SGD(p, lr=0.1, momentum=0.5, dampening=0.5), [1.0], 2)
    # step 1: b = g = 2 (no dampening on the first step), w = 0.8; step 2: g = 1.6, b = 0.5·2 + 0.5·1.6 = 1.8, w = 0.62
    np.testing.assert_allclose(w, [0.62], rtol=1e-12)


@pytest.mark.a2_sgd_momentum
def test_sgd_nesterov():
    w = quadratic_steps(lambda p: td.optim.SGD(p, lr=0.1, momentum=0.5, nesterov=True), [1.0], 2)
    # step 1: g = 2, b = 2, step g + 0.5·b = 3 → w = 0.7; step 2: g = 1.4, b = 1 + 1.4 = 2.4, g + 0.5 b = 2.6 → w = 0.44
    np.testing.assert_allclose(w, [0.44], rtol=1e-12)


@pytest.mark.a2_adam
def test_adam_three_steps_against_the_formula():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    start = np.array([0.5, -1.5, 2.0])
    w = td.tensor(start.copy(), requires_grad=True, dtype=td.float64)
    opt = td.optim.Adam([w], lr=lr, betas=(b1, b2), eps=eps, fused=False)  # your NumPy lines, not a fused kernel
    theta, m, v = start.copy(), np.zeros(3), np.zeros(3)
    for t in range(1, 4):
        w.grad = td.tensor(3 * w.numpy() ** 2)  # g = 3w², set by hand
        opt.step()
        g = 3 * theta**2
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        theta = theta - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        np.testing.assert_allclose(w.numpy(), theta, rtol=1e-10)


@pytest.mark.a2_adam
def test_adam_first_step_moves_every_weight_by_about_lr():
    """With bias correction the first step is lr · g/|g| (the reason for the correction)."""
    w = quadratic_steps(lambda p: td.optim.Adam(p, lr=0.01, fused=False), [3.0, -0.1, 50.0], 1)
    np.testing.assert_allclose(w, [3.0 - 0.01, -0.1 + 0.01, 50.0 - 0.01], rtol=1e-6)
