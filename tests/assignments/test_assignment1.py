"""Autograder, assignment 1: autograd ops and gradient checking.

Run with: python -m pytest -m assignment1
"""

import numpy as np
import pytest

import tinydl as td
from tinydl.autograd import topological_order
from tinydl.testing.gradcheck import numerical_gradient

pytestmark = pytest.mark.assignment1

RNG = np.random.default_rng(1)


def rand(*shape, low=-1.0, high=1.0):
    return RNG.uniform(low, high, size=shape)


def test_mul_backward_with_broadcasting():
    a, b = td.tensor(rand(3, 1), requires_grad=True), td.tensor(rand(1, 4), requires_grad=True)
    (a * b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), np.broadcast_to(b.numpy(), (3, 4)).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(b.grad.numpy(), np.broadcast_to(a.numpy(), (3, 4)).sum(axis=0, keepdims=True))
    td.gradcheck(lambda x, y: x * y, rand(2, 3), rand(3))


def test_div_backward():
    td.gradcheck(lambda x, y: x / y, rand(3, 2), rand(3, 2, low=0.5, high=2.0))
    td.gradcheck(lambda x, y: x / y, rand(4), rand(1, low=0.5, high=2.0))


def test_exp_and_log_backward():
    td.gradcheck(td.exp, rand(5))
    td.gradcheck(td.log, rand(2, 3, low=0.2, high=3.0))
    x = td.tensor([0.0, 1.0], requires_grad=True)
    td.exp(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp([0.0, 1.0]), rtol=1e-6)


@pytest.mark.parametrize("axis, keepdims", [(None, False), (0, False), (1, True), ((0, 2), False)])
def test_sum_backward(axis, keepdims):
    td.gradcheck(lambda x: td.sum(x, axis=axis, keepdims=keepdims), rand(2, 3, 4))


@pytest.mark.parametrize(
    "shapes", [((3, 4), (4, 2)), ((4,), (4, 3)), ((3, 4), (4,)), ((2, 3, 4), (4, 5)), ((4,), (4,))]
)
def test_matmul_backward(shapes):
    td.gradcheck(td.matmul, rand(*shapes[0]), rand(*shapes[1]))


def test_topological_order_puts_every_node_after_its_inputs():
    a = td.tensor(2.0, requires_grad=True)
    b = a * a  # a used twice
    c = b + a  # and a third time
    d = c * b
    order = topological_order(d)
    position = {id(t): i for i, t in enumerate(order)}
    assert order[-1] is d
    for node in (b, c):
        assert all(position[id(p)] < position[id(node)] for p in node.parents)
    d.backward()
    # d = (a² + a)·a² = a⁴ + a³,  dd/da = 4a³ + 3a² = 32 + 12 at a = 2
    assert a.grad.item() == pytest.approx(44.0)


def test_numerical_gradient_is_a_central_difference():
    x = td.tensor(rand(3), requires_grad=True)
    v = np.ones(())
    got = numerical_gradient(lambda t: (t * t * t).sum(), [x], 0, v, 1e-4)
    np.testing.assert_allclose(got, 3 * x.numpy() ** 2, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(x.numpy(), x.numpy())  # the input is restored: calling again gives the same


def test_gradcheck_catches_a_wrong_backward(monkeypatch):
    from tinydl.ops.elementwise import Exp

    monkeypatch.setattr(Exp, "backward", staticmethod(lambda ctx, grad: grad))  # forgets the factor eˣ
    with pytest.raises(td.GradcheckError):
        td.gradcheck(td.exp, rand(4))
