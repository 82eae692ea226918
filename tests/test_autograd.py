"""The autograd engine: accumulation, graph shapes, retain_graph/retain_grad, no_grad, custom Functions."""

import gc

import numpy as np
import pytest

import tinydl as td


def leaf(values, dtype=np.float64):
    return td.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# ----------------------------------------------------------- accumulation
def test_tensor_used_twice_gets_both_contributions():
    x = leaf([1.0, -2.0, 3.0])
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, -4.0, 6.0])


def test_diamond_graph():
    # y = 2x;  L = Σ (y + 1)(3y)  =>  dL/dx = 2 (3y + 3(y + 1)) = 2 (6y + 3) = 24x + 6
    x = leaf([0.5, -1.0])
    y = x * 2
    ((y + 1) * (y * 3)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 24 * x.numpy() + 6)


def test_shared_subexpression_many_paths():
    # L = Σ (x + x + x) * x = 3 Σ x²   => 6x
    x = leaf([1.0, 2.0])
    s = x + x + x
    (s * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 12.0])


def test_two_backward_calls_add_to_grad():
    x = leaf([1.0, 2.0])
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0 + 2.0, 3.0 + 4.0])
    x.zero_grad()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_leaf_gradients_are_independent_writable_arrays():
    """a + b hands one gradient array to both inputs; each leaf must still own its .grad."""
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()  # the gradient of the sum is a read-only broadcast view
    assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())
    a.grad.numpy()[0] = 100.0  # e.g. an in-place gradient clip
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0])
    g = np.array([5.0])  # a leaf's gradient is a copy of the array passed to backward
    d = leaf([1.0])
    d.backward(g)
    g[0] = 0.0
    assert d.grad.numpy()[0] == 5.0


class _KeepsItsGradient(td.Function):
    """A (bad-mannered) op whose backward returns an array it also keeps."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(np.full(x.shape, 2.0, dtype=x.dtype))
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        return ctx.saved[0]


def test_leaf_never_keeps_an_array_the_graph_still_holds():
    x = leaf([1.0, 2.0])
    (x * 3.0).backward(np.ones(2, dtype=np.float32))
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])
    # An array the op keeps, and one array handed to two inputs, are not the leaf's .grad.
    y = leaf([1.0, 2.0])
    out = _KeepsItsGradient.apply(y)
    kept = out._ctx.saved[0]
    out.backward(np.ones(2, dtype=np.float32))
    assert not np.shares_memory(y.grad.numpy(), kept)
    a = leaf([1.0])
    b = a * 1.0
    (b + b).backward(np.ones(1, dtype=np.float32))  # Add hands one array to both of b's uses
    assert a.grad.numpy()[0] == 2.0


def test_only_tensors_that_require_grad_get_one():
    x, c = leaf([1.0, 2.0]), td.tensor(np.array([3.0, 4.0]))
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])
    assert not (c * 2).requires_grad and (c * 2).is_leaf


def test_deep_chain_has_no_recursion_limit():
    x = leaf([1.0])
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001**10_000], rtol=1e-10)


def test_deep_graph_can_be_freed_without_backward():
    x = leaf([1.0])
    y = x
    for _ in range(10_000):
        y = y + 1.0
    del y
    gc.collect()  # no RecursionError or crash tearing down the graph


# ------------------------------------------------------------ retain_graph
def test_backward_twice_needs_retain_graph():
    x = leaf([1.0, 2.0])
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()  # allowed: the graph was kept
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 8.0])  # 2 · 2x
    with pytest.raises(RuntimeError, match="retain_graph"):
        loss.backward()  # the second call freed it


def test_backward_through_a_freed_intermediate_raises():
    x = leaf([1.0, 2.0])
    h = x * 2
    h.sum().backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        (h * 3).sum().backward()


def test_graph_is_freed_after_backward():
    x = leaf([1.0])
    y = x * 2
    z = y.sum()
    z.backward()
    assert z._ctx is None and y._ctx is None


# -------------------------------------------------------------- retain_grad
def test_retain_grad_on_intermediate():
    x = leaf([1.0, 2.0])
    y = x * 3
    z = y * y
    y.retain_grad()
    z.sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), 2 * y.numpy())  # dL/dy = 2y
    np.testing.assert_array_equal(x.grad.numpy(), 3 * 2 * y.numpy())
    y.grad.numpy()[:] = 0  # owning its own array: x.grad is unaffected
    np.testing.assert_array_equal(x.grad.numpy(), [18.0, 36.0])


def test_intermediates_have_no_grad_by_default():
    x = leaf([1.0, 2.0])
    y = x * 3
    (y * y).sum().backward()
    assert y.grad is None and not y.is_leaf


def test_retain_grad_on_the_root():
    x = leaf([1.0, 2.0])
    loss = (x * x).sum().retain_grad()
    loss.backward()
    assert loss.grad.item() == 1.0


# -------------------------------------------------------------- broadcasting
@pytest.mark.parametrize(
    "sa, sb", [((3, 1), (4,)), ((2, 3, 4), (3, 1)), ((), (2, 2)), ((1, 1), (5, 1, 3)), ((4,), (4,))]
)
def test_broadcasting_gradients_have_the_input_shapes(sa, sb):
    a, b = leaf(np.ones(sa)), leaf(np.ones(sb))
    out = a * b
    out.sum().backward()
    assert a.grad.shape == sa and b.grad.shape == sb
    # each element of a is used (out.size / a.size) times, each times 1
    np.testing.assert_array_equal(a.grad.numpy(), np.full(sa, out.size / a.size))
    np.testing.assert_array_equal(b.grad.numpy(), np.full(sb, out.size / b.size))


# --------------------------------------------------------------------- dtype
def test_float32_stays_float32_in_gradients():
    x = leaf([1.0, 2.0], dtype=np.float32)
    w = leaf([[0.5], [0.25]], dtype=np.float32)
    loss = td.mse_loss((x.reshape(1, 2) @ w).tanh(), td.zeros(1, 1))
    loss.backward()
    assert loss.dtype == np.float32 and x.grad.dtype == np.float32 and w.grad.dtype == np.float32


def test_mixed_precision_gradient_is_cast_to_each_input():
    a = leaf([1.0, 2.0], dtype=np.float32)
    b = leaf([3.0, 4.0], dtype=np.float64)
    out = a * b  # NumPy promotes to float64
    assert out.dtype == np.float64
    out.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64


# ------------------------------------------------------------------- no_grad
def test_no_grad_records_nothing():
    x = leaf([1.0, 2.0])
    with td.no_grad():
        assert not td.is_grad_enabled()
        y = (x * 2).sum()
    assert td.is_grad_enabled()
    assert not y.requires_grad and y._ctx is None
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_ops_run_without_a_graph():
    """Ops that read back what their forward stored on ctx must work when nothing is recorded."""
    x = td.tensor(np.arange(6.0).reshape(2, 3))
    assert x.sum(axis=0).shape == (3,) and x.mean().item() == 2.5
    assert x.max(axis=1).tolist() == [2.0, 5.0] and x.min().item() == 0.0
    with td.no_grad():
        w = leaf(np.ones((3, 2)))
        out = td.softmax(x @ w, axis=1).sum(axis=1)
        np.testing.assert_allclose(out.numpy(), [1.0, 1.0])
        assert td.cross_entropy(x, np.array([0, 2])).shape == ()


def test_no_grad_nested_and_enable_grad():
    x = leaf([1.0])
    with td.no_grad():
        with td.no_grad():
            assert not td.is_grad_enabled()
        assert not td.is_grad_enabled()  # the inner block restored "off", not "on"
        with td.enable_grad():
            assert td.is_grad_enabled()
            assert (x * 2).requires_grad
        assert not (x * 2).requires_grad
    assert td.is_grad_enabled()


def test_no_grad_restores_state_on_exception():
    with pytest.raises(KeyError):
        with td.no_grad():
            raise KeyError("boom")
    assert td.is_grad_enabled()
    assert (leaf([1.0]) * 2).requires_grad


def test_no_grad_as_optimiser_step_keeps_parameters_leaves():
    w = leaf([1.0, 2.0])
    (w * w).sum().backward()
    with td.no_grad():
        w.data = (w - 0.1 * w.grad).data
    assert w.is_leaf and w.requires_grad
    np.testing.assert_allclose(w.numpy(), [0.8, 1.6])


# -------------------------------------------------------------- backward API
def test_backward_with_explicit_gradient():
    x = leaf([1.0, 2.0, 3.0])
    y = x * x
    y.backward(np.array([1.0, 0.0, -1.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 0.0, -6.0])


def test_backward_on_one_element_non_scalar_is_allowed():
    x = leaf([2.0])
    (x * x).backward()  # shape (1,): one element, so the gradient 1 is implied
    np.testing.assert_array_equal(x.grad.numpy(), [4.0])


def test_requires_grad_cannot_be_switched_off_on_a_non_leaf():
    y = leaf([1.0]) * 2
    with pytest.raises(RuntimeError, match="detach"):
        y.requires_grad = False


def test_is_leaf():
    x = leaf([1.0])
    assert x.is_leaf and not (x * 2).is_leaf


# ------------------------------------------------------- custom Functions
class Cube(td.Function):
    """y = x³.   dy/dx = 3x²."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved
        return grad * 3 * x**2


class ScaledAdd(td.Function):
    """z = a + s·b (s an option).  Reports which inputs need a gradient."""

    seen = None

    @staticmethod
    def forward(ctx, a, b, scale=1.0):
        ctx.scale = scale
        return a + ctx.scale * b  # reads back what it set: must work without a graph too

    @staticmethod
    def backward(ctx, grad):
        ScaledAdd.seen = ctx.needs_input_grad
        return grad if ctx.needs_input_grad[0] else None, grad * ctx.scale if ctx.needs_input_grad[1] else None


def test_custom_function():
    x = leaf([1.0, -2.0])
    y = Cube.apply(x)
    assert y._ctx.function is Cube
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 12.0])
    td.gradcheck(lambda t: Cube.apply(t), np.array([0.5, -1.5]))


def test_custom_function_needs_input_grad_and_options():
    a, b = leaf([1.0]), td.tensor(np.array([2.0]))
    out = ScaledAdd.apply(a, b, scale=3.0)
    np.testing.assert_array_equal(out.numpy(), [7.0])
    out.sum().backward()
    assert ScaledAdd.seen == (True, False)
    assert ScaledAdd.apply(b, b, scale=2.0).numpy()[0] == 6.0  # no graph recorded


def test_function_apply_rejects_non_tensor_positional_arguments():
    with pytest.raises(TypeError, match="positional argument 1 must be a Tensor"):
        ScaledAdd.apply(leaf([1.0]), np.array([1.0]))


class WrongCount(td.Function):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad):
        return grad  # one gradient for two inputs


class WrongShape(td.Function):
    @staticmethod
    def forward(ctx, a):
        return a.sum()

    @staticmethod
    def backward(ctx, grad):
        return grad  # should be broadcast back to a's shape


def test_engine_rejects_wrong_number_or_shape_of_gradients():
    with pytest.raises(RuntimeError, match="returned 1 gradients for 2 inputs"):
        WrongCount.apply(leaf([1.0]), leaf([2.0])).sum().backward()
    with pytest.raises(RuntimeError, match=r"shape \(\) for an input of shape \(3,\)"):
        WrongShape.apply(leaf([1.0, 2.0, 3.0])).backward()


# ------------------------------------------------- the engine's node protocol
class _Scalar:
    """A micrograd-style scalar node: the seven names the engine asks for, and nothing of tinydl."""

    def __init__(self, value, parents=(), local_grads=()):
        self.value, self.parents, self.local_grads = value, parents, local_grads
        self.requires_grad, self.retains_grad, self.grad = True, False, 0.0

    @property
    def is_leaf(self):
        return not self.parents

    def chain_rule(self, grad):
        return [(p, grad * d) for p, d in zip(self.parents, self.local_grads)]

    def accumulate_grad(self, grad):
        self.grad += grad

    def free_graph(self):
        self.parents = ()

    def __mul__(self, other):
        return _Scalar(self.value * other.value, (self, other), (other.value, self.value))

    def __add__(self, other):
        return _Scalar(self.value + other.value, (self, other), (1.0, 1.0))


def test_the_engine_runs_on_any_node_with_the_protocol():
    from tinydl import autograd

    x, y = _Scalar(3.0), _Scalar(-2.0)
    z = x * y + x * x  # dz/dx = y + 2x = 4, dz/dy = x = 3
    autograd.backward(z, 1.0)
    assert (x.grad, y.grad) == (4.0, 3.0)
    assert z.parents == ()  # freed as it went
