"""Autograder, assignment 2: activations, losses and optimisers.

One pytest marker per task (the README's table): python -m pytest -m a2_TASK.
Some tests still cover two tasks (to be split).
"""

import numpy as np
import pytest

import tinydl as td

RNG = np.random.default_rng(2)


def away_from_zero(*shape):
    x = RNG.uniform(0.1, 2.0, size=shape)
    return x * RNG.choice([-1.0, 1.0], size=shape)


@pytest.mark.a2_relu_forward
@pytest.mark.a2_relu_backward
def test_relu_forward_and_backward():
    x = td.tensor([-2.0, -0.5, 0.5, 3.0], requires_grad=True)
    y = td.relu(x)
    np.testing.assert_array_equal(y.numpy(), [0.0, 0.0, 0.5, 3.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 1.0, 1.0])
    td.gradcheck(td.relu, away_from_zero(3, 4))


@pytest.mark.a2_sigmoid_backward
@pytest.mark.a2_tanh_backward
@pytest.mark.parametrize("fn", [td.sigmoid, td.tanh], ids=["sigmoid", "tanh"])
def test_sigmoid_and_tanh_backward(fn):
    td.gradcheck(fn, RNG.normal(size=(3, 4)) * 3)


@pytest.mark.a2_mse_backward
def test_mse_backward():
    td.gradcheck(lambda p, t: td.mse_loss(p, t), RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3)))
    td.gradcheck(lambda p, t: td.mse_loss(p, t, reduction="sum"), RNG.normal(size=5), RNG.normal(size=5))


@pytest.mark.a2_log_softmax
def test_cross_entropy_is_stable_and_correct():
    logits = np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]])
    labels = np.array([0, 2])
    loss = td.cross_entropy(td.tensor(logits), labels).item()
    row2 = -(3.0 - np.log(np.exp(1.0) + np.exp(2.0) + np.exp(3.0)))
    assert np.isfinite(loss) and loss == pytest.approx((0.0 + row2) / 2, rel=1e-6)


@pytest.mark.a2_cross_entropy_gradient
def test_cross_entropy_backward_is_prediction_minus_truth():
    logits = RNG.normal(size=(5, 4))
    labels = RNG.integers(0, 4, size=5)
    z = td.tensor(logits, requires_grad=True)
    td.cross_entropy(z, labels).backward()
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    expected = (p - np.eye(4)[labels]) / 5
    np.testing.assert_allclose(z.grad.numpy(), expected, rtol=1e-6, atol=1e-9)
    weight = np.array([1.0, 2.0, 0.5, 1.0])
    td.gradcheck(lambda t: td.cross_entropy(t, labels, weight=weight), logits)


@pytest.mark.a2_sgd_momentum
def test_sgd_momentum_two_steps_by_hand():
    w = td.tensor([1.0, -1.0], requires_grad=True, dtype=td.float64)
    opt = td.optim.SGD([w], lr=0.1, momentum=0.9)
    for _ in range(2):
        opt.zero_grad()
        (w * w).sum().backward()  # g = 2w
        opt.step()
    # step 1: b = g = [2, -2], w = [0.8, -0.8]; step 2: g = [1.6, -1.6], b = 0.9·2 + 1.6 = 3.4, w = 0.8 − 0.34
    np.testing.assert_allclose(w.numpy(), [0.46, -0.46], rtol=1e-12)


@pytest.mark.a2_sgd_momentum
def test_sgd_nesterov():
    w = td.tensor([1.0], requires_grad=True, dtype=td.float64)
    opt = td.optim.SGD([w], lr=0.1, momentum=0.5, nesterov=True)
    for _ in range(2):
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()
    # step 1: g = 2, b = 2, step g + 0.5·b = 3 → w = 0.7; step 2: g = 1.4, b = 1 + 1.4 = 2.4, g + 0.5 b = 2.6 → w = 0.44
    np.testing.assert_allclose(w.numpy(), [0.44], rtol=1e-12)


@pytest.mark.a2_adam
def test_adam_three_steps_against_the_formula():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    start = np.array([0.5, -1.5, 2.0])
    w = td.tensor(start.copy(), requires_grad=True, dtype=td.float64)
    opt = td.optim.Adam([w], lr=lr, betas=(b1, b2), eps=eps, fused=False)  # your NumPy lines, not the fused kernel
    theta, m, v = start.copy(), np.zeros(3), np.zeros(3)
    for t in range(1, 4):
        opt.zero_grad()
        (w * w * w).sum().backward()  # g = 3w²
        opt.step()
        g = 3 * theta**2
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        theta = theta - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        np.testing.assert_allclose(w.numpy(), theta, rtol=1e-10)
