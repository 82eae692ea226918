"""The source article's worked example (section 4.3), computed correctly with tinydl.

Network: 3 inputs → 2 hidden ReLU units → 1 linear output, loss L = ½(o − y)².
    x  = [1, 2, 3]
    w1 = [0.5, 0.3, −0.2]   (hidden unit 1)     w2 = [0.4, −0.5, 0.1]   (hidden unit 2)
    w3 = [0.1, −0.2]        (output)            y  = 0.1,  learning rate α = 0.1

Correct numbers, derived by hand:
    forward   z = [w1·x, w2·x] = [0.5, −0.3],  h = ReLU(z) = [0.5, 0],  o = w3·h = 0.05
              L = ½(0.05 − 0.1)² = 0.00125
    backward  ∂L/∂o  = o − y = −0.05
              ∂L/∂w3 = (∂L/∂o)·h = [−0.025, 0]
              ∂L/∂h  = (∂L/∂o)·w3 = [−0.005, 0.01]
              ∂L/∂z  = ∂L/∂h ⊙ [z > 0] = [−0.005, 0]       (unit 2 is inactive: ReLU'(−0.3) = 0)
              ∂L/∂w1 = (∂L/∂z₁)·x = [−0.005, −0.01, −0.015]
              ∂L/∂w2 = (∂L/∂z₂)·x = [0, 0, 0]
    SGD step  w3 ← [0.1025, −0.2],  w1 ← [0.5005, 0.301, −0.1985],  w2 unchanged
    after it  o = 0.1025 · 0.507 = 0.0519675,  L = 0.00115356… (smaller, as it should be)

Where the article's printed calculation goes wrong:
  1. It flips the signs of w3: it writes δ_h = [−0.1, 0.2]·(−0.05) although w3 = [0.1, −0.2].
  2. It collapses δ_h into one number (0.005) and uses that *same* δ for both hidden units,
     where each unit has its own δ: [−0.005, 0.01] before the ReLU.
  3. It back-propagates through the inactive ReLU unit: h₂ = max(0, −0.3) = 0 passes no
     gradient, so ∂L/∂w2 = 0, not x·0.005 = [0.005, 0.01, 0.015] (which it then prints as 0.015).
  4. It miscomputes the updates: 0.1 − 0.1·(−0.025) is 0.1025, not 0.125; the second output
     weight has gradient 0 and stays −0.2 (not −0.175); w2 is printed with two components;
     and w1 moves by −α·∂L/∂w1 = +[0.0005, 0.001, 0.0015], not to [0.485, 0.285, −0.205].
"""

import numpy as np
import pytest

import tinydl as td

X = [1.0, 2.0, 3.0]
W_HIDDEN = [[0.5, 0.3, -0.2], [0.4, -0.5, 0.1]]  # rows are w1 and w2
W_OUT = [0.1, -0.2]
TARGET, LR = 0.1, 0.1


def forward(x, w_hidden, w_out):
    z = w_hidden @ x  # pre-activations of the two hidden units
    h = td.relu(z)
    o = w_out @ h
    loss = 0.5 * (o - TARGET) ** 2
    return z, h, o, loss


@pytest.fixture
def network():
    x = td.tensor(X, dtype=np.float64)
    w_hidden = td.tensor(W_HIDDEN, dtype=np.float64, requires_grad=True)
    w_out = td.tensor(W_OUT, dtype=np.float64, requires_grad=True)
    return x, w_hidden, w_out


def test_forward_pass_matches_hand_values(network):
    x, w_hidden, w_out = network
    z, h, o, loss = forward(x, w_hidden, w_out)
    np.testing.assert_allclose(z.numpy(), [0.5, -0.3], atol=1e-15)
    np.testing.assert_allclose(h.numpy(), [0.5, 0.0], atol=1e-15)
    assert o.item() == pytest.approx(0.05, abs=1e-15)
    assert loss.item() == pytest.approx(0.00125, abs=1e-15)


def test_backward_pass_matches_hand_values(network):
    x, w_hidden, w_out = network
    *_, loss = forward(x, w_hidden, w_out)
    loss.backward()
    np.testing.assert_allclose(w_out.grad.numpy(), [-0.025, 0.0], atol=1e-15)
    np.testing.assert_allclose(w_hidden.grad.numpy()[0], [-0.005, -0.01, -0.015], atol=1e-15)
    # The inactive ReLU unit passes no gradient: the article's ∂L/∂w2 = 0.015 is wrong.
    np.testing.assert_array_equal(w_hidden.grad.numpy()[1], [0.0, 0.0, 0.0])


def test_one_sgd_step_matches_hand_values_and_lowers_the_loss(network):
    x, w_hidden, w_out = network
    *_, loss_before = forward(x, w_hidden, w_out)
    optimizer = td.optim.SGD([w_hidden, w_out], lr=LR)
    optimizer.zero_grad()
    loss_before.backward()
    optimizer.step()
    np.testing.assert_allclose(w_out.numpy(), [0.1025, -0.2], atol=1e-15)
    np.testing.assert_allclose(w_hidden.numpy()[0], [0.5005, 0.301, -0.1985], atol=1e-15)
    np.testing.assert_allclose(w_hidden.numpy()[1], [0.4, -0.5, 0.1], atol=1e-15)
    *_, o_after, loss_after = forward(x, w_hidden, w_out)
    assert o_after.item() == pytest.approx(0.1025 * 0.507, abs=1e-15)
    assert loss_after.item() == pytest.approx(0.5 * (0.1 - 0.1025 * 0.507) ** 2, abs=1e-15)
    assert loss_after.item() < loss_before.item()


def test_the_article_update_is_not_what_gradient_descent_gives(network):
    """Guard against 'fixing' the test to the article's numbers: its w3 update is off by 10×."""
    x, w_hidden, w_out = network
    *_, loss = forward(x, w_hidden, w_out)
    loss.backward()
    new_w_out = w_out.numpy() - LR * w_out.grad.numpy()
    assert not np.allclose(new_w_out, [0.125, -0.175])
