"""Tests of assignment 1: autograd ops and gradient checking.

One pytest marker per task: ``python -m pytest -m a1_mul_backward`` runs one task's tests.
When the instructor grades, every other task holds the instructor's code, so each task is
judged on its own; in your hand-out, do the tasks in the README's order.
"""

import numpy as np
import pytest
from grader_tools import central_difference

import tinydl as td
from tinydl.autograd import topological_order
from tinydl.testing.gradcheck import numerical_gradient

RNG = np.random.default_rng(1)


def rand(*shape, low=-1.0, high=1.0):
    return RNG.uniform(low, high, size=shape)


def check_backward(op, *arrays, weights=None):
    """The gradients that op's backward pass gives each input against central differences of ⟨w, op(...)⟩."""
    out = op(*[td.tensor(a) for a in arrays]).numpy()
    w = RNG.normal(size=out.shape) if weights is None else weights
    tensors = [td.tensor(a.copy(), requires_grad=True) for a in arrays]
    op(*tensors).backward(np.asarray(w, dtype=out.dtype))  # dL/d(out) = w: no other op's backward is involved
    for k, a in enumerate(arrays):

        def f(x, k=k):
            inputs = [td.tensor(x if j == k else b) for j, b in enumerate(arrays)]
            return float(np.sum(op(*inputs).numpy() * w))

        expected = central_difference(f, a.copy())
        got = tensors[k].grad.numpy()
        assert got.shape == a.shape, f"the gradient of input {k} has shape {got.shape}, the input {a.shape}"
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7, err_msg=f"gradient of input {k}")


# ---------------------------------------------------------------------------- topological order
@pytest.mark.a1_topological_order
def test_topological_order_puts_every_node_after_its_inputs():
    a = td.tensor(2.0, requires_grad=True)
    b = a + a  # a used twice
    c = b + a  # and a third time
    d = c + b
    order = topological_order(d)
    position = {id(t): i for i, t in enumerate(order)}
    assert order[-1] is d
    assert len(order) == len({id(t) for t in order}) == 4, "every node once"
    for node in (b, c, d):
        assert all(position[id(p)] < position[id(node)] for p in node.parents)


@pytest.mark.a1_topological_order
def test_backward_through_a_shared_node_adds_up():
    a = td.tensor(2.0, requires_grad=True)
    b = a + a
    c = b + a
    d = c + b  # d = 5a
    d.backward()
    assert a.grad.item() == pytest.approx(5.0)


@pytest.mark.a1_topological_order
def test_topological_order_skips_what_needs_no_gradient():
    a = td.tensor(1.0, requires_grad=True)
    constant = td.tensor(3.0)
    out = (a + constant) + a
    order = topological_order(out)
    assert all(t.requires_grad for t in order)
    assert not any(t is constant for t in order)


@pytest.mark.a1_topological_order
def test_topological_order_of_a_deep_chain():
    x = td.tensor(0.0, requires_grad=True)
    y = x
    for _ in range(3000):  # deeper than Python's recursion limit: a loop, not recursion
        y = y + 1.0
    y.backward()
    assert x.grad.item() == 1.0


# ---------------------------------------------------------------------------- numerical gradient
@pytest.mark.a1_numerical_gradient
def test_numerical_gradient_is_a_central_difference():
    x = td.tensor(rand(3), requires_grad=True)
    before = x.numpy().copy()
    got = numerical_gradient(lambda t: (t**3).sum(), [x], 0, np.ones(()), 1e-4)
    np.testing.assert_allclose(got, 3 * before**2, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(x.numpy(), before)  # the input is put back


@pytest.mark.a1_numerical_gradient
def test_numerical_gradient_weights_the_outputs_by_v():
    x = td.tensor(rand(2, 3), requires_grad=True)
    y = td.tensor(rand(2, 3))
    v = rand(2, 3)
    got = numerical_gradient(lambda s, t: s**2 + t, [x, y], 0, v, 1e-5)
    np.testing.assert_allclose(got, 2 * x.numpy() * v, rtol=1e-6, atol=1e-8)


@pytest.mark.a1_numerical_gradient
def test_gradcheck_catches_a_wrong_backward(monkeypatch):
    from tinydl.ops.elementwise import Exp

    monkeypatch.setattr(Exp, "backward", staticmethod(lambda ctx, grad: grad))  # forgets the factor eˣ
    with pytest.raises(td.GradcheckError):
        td.gradcheck(td.exp, rand(4))


# ---------------------------------------------------------------------------- the ops' backward passes
@pytest.mark.a1_sum_backward
@pytest.mark.parametrize("axis, keepdims", [(None, False), (0, False), (1, True), ((0, 2), False), (-1, True)])
def test_sum_backward(axis, keepdims):
    check_backward(lambda x: td.sum(x, axis=axis, keepdims=keepdims), rand(2, 3, 4))


@pytest.mark.a1_mul_backward
def test_mul_backward():
    check_backward(lambda a, b: a * b, rand(3, 4), rand(3, 4))


@pytest.mark.a1_mul_backward
@pytest.mark.parametrize("shapes", [((3, 1), (1, 4)), ((2, 3), (3,)), ((4,), ())])
def test_mul_backward_with_broadcasting(shapes):
    check_backward(lambda a, b: a * b, rand(*shapes[0]), rand(*shapes[1]))


@pytest.mark.a1_div_backward
@pytest.mark.parametrize("shapes", [((3, 2), (3, 2)), ((4,), (1,)), ((2, 1), (3,))])
def test_div_backward(shapes):
    check_backward(lambda a, b: a / b, rand(*shapes[0]), rand(*shapes[1], low=0.5, high=2.0))


@pytest.mark.a1_exp_backward
def test_exp_backward():
    check_backward(td.exp, rand(5))
    x = td.tensor([0.0, 1.0], requires_grad=True)
    td.exp(x).backward(np.ones(2))
    np.testing.assert_allclose(x.grad.numpy(), np.exp([0.0, 1.0]), rtol=1e-6)


@pytest.mark.a1_log_backward
def test_log_backward():
    check_backward(td.log, rand(2, 3, low=0.2, high=3.0))


@pytest.mark.a1_matmul_backward
@pytest.mark.parametrize(
    "shapes", [((3, 4), (4, 2)), ((4,), (4, 3)), ((3, 4), (4,)), ((2, 3, 4), (4, 5)), ((4,), (4,))]
)
def test_matmul_backward(shapes):
    check_backward(td.matmul, rand(*shapes[0]), rand(*shapes[1]))
