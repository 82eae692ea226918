"""The Tensor class: creation and dtype rules, data/grad/detach/item/numpy, dtype preservation through ops."""

import numpy as np
import pytest

import tinydl as td


# -------------------------------------------------------------- dtype rules
@pytest.mark.parametrize("data", [1.5, [1.0, 2.0], [[1.0], [2.5]], [1, 2.5]])
def test_python_floats_become_float32(data):
    assert td.tensor(data).dtype == np.float32


def test_numpy_float_arrays_keep_their_dtype():
    assert td.tensor(np.array([1.0, 2.0])).dtype == np.float64
    assert td.tensor(np.array([1.0, 2.0], dtype=np.float32)).dtype == np.float32
    assert td.tensor(np.float64(2.0)).dtype == np.float64  # a NumPy scalar is not a Python float


def test_integers_stay_integers():
    labels = td.tensor([0, 2, 1])
    assert labels.dtype.kind == "i"
    assert td.tensor(np.array([1, 2], dtype=np.int32)).dtype == np.int32
    assert td.tensor(np.array([True, False])).dtype == np.bool_


def test_explicit_dtype_wins():
    assert td.tensor([1.0, 2.0], dtype=td.float64).dtype == np.float64
    assert td.tensor(np.array([1.0]), dtype=np.float32).dtype == np.float32
    assert td.tensor([1, 2], dtype=td.float32).dtype == np.float32


@pytest.mark.parametrize("data", [[1, 2], np.array([1, 2]), np.array([True])])
def test_requires_grad_on_non_float_raises(data):
    with pytest.raises(TypeError, match="floating-point"):
        td.tensor(data, requires_grad=True)
    t = td.tensor(data)
    with pytest.raises(TypeError, match=str(t.dtype)):
        t.requires_grad = True
    assert not t.requires_grad


def test_factories_default_to_float32():
    assert td.zeros(2, 3).dtype == np.float32 and td.zeros(2, 3).shape == (2, 3)
    assert td.ones((4,)).dtype == np.float32 and td.ones((4,)).shape == (4,)
    assert td.zeros(2, dtype=td.float64).dtype == np.float64
    assert td.zeros_like(td.tensor(np.ones(3))).dtype == np.float64
    assert td.ones(3, requires_grad=True).requires_grad
    assert td.arange(5).dtype.kind == "i"


def test_tensor_copies_its_input():
    a = np.array([1.0, 2.0])
    t = td.tensor(a)
    a[0] = 99.0
    assert t.numpy()[0] == 1.0


def test_ragged_input_is_rejected():
    with pytest.raises((TypeError, ValueError)):
        td.tensor([[1.0, 2.0], [3.0]])


# ------------------------------------------------------------- attributes
def test_shape_ndim_size_len():
    t = td.tensor(np.zeros((2, 3, 4)))
    assert (t.shape, t.ndim, t.size, len(t)) == ((2, 3, 4), 3, 24, 2)
    s = td.tensor(3.0)
    assert (s.shape, s.ndim, s.size) == ((), 0, 1)


def test_data_assignment_replaces_values_without_touching_the_graph():
    x = td.tensor([1.0, 2.0], requires_grad=True)
    x.data = np.array([3.0, 4.0], dtype=np.float32)
    np.testing.assert_array_equal(x.numpy(), [3.0, 4.0])
    assert x.requires_grad and x.is_leaf and x.grad is None
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 8.0])
    x.data = [5.0, 6.0]  # lists are converted (Python floats -> float32)
    assert isinstance(x.data, np.ndarray) and x.dtype == np.float32


def test_data_assignment_on_intermediate_does_not_record():
    x = td.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    ctx = y._ctx
    y.data = np.zeros(2, dtype=np.float32)
    assert y._ctx is ctx  # still the same node of the graph
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


def test_grad_is_none_until_backward_then_a_tensor_of_the_same_shape_and_dtype():
    x = td.tensor(np.ones((2, 3), dtype=np.float32), requires_grad=True)
    assert x.grad is None
    (x * 3).sum().backward()
    assert isinstance(x.grad, td.Tensor)
    assert x.grad.shape == (2, 3) and x.grad.dtype == np.float32
    assert not x.grad.requires_grad
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 3.0))
    x.zero_grad()
    assert x.grad is None


def test_detach_shares_data_but_cuts_the_graph():
    x = td.tensor([1.0, 2.0, 3.0], requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and d.is_leaf
    assert np.shares_memory(d.numpy(), x.numpy())
    assert not (d * 2).requires_grad
    (x * x.detach()).sum().backward()  # d/dx (x · c) = c, not 2x
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 2.0, 3.0])


def test_detach_of_an_intermediate():
    x = td.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).detach()
    z = (x * y).sum()
    z.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 4.0])  # y treated as a constant


def test_item():
    assert td.tensor(2.5).item() == 2.5 and isinstance(td.tensor(2.5).item(), float)
    assert td.tensor([[7]]).item() == 7 and isinstance(td.tensor([[7]]).item(), int)
    with pytest.raises(ValueError, match=r"\(2,\)"):
        td.tensor([1.0, 2.0]).item()


def test_numpy_returns_the_array_sharing_memory():
    x = td.tensor(np.arange(6.0).reshape(2, 3))
    a = x.numpy()
    assert isinstance(a, np.ndarray) and a.dtype == np.float64
    assert np.shares_memory(a, x.data)
    np.testing.assert_array_equal(np.asarray(x), a)
    assert np.asarray(x, dtype=np.float32).dtype == np.float32


def test_numpy_on_zero_dim_results_is_an_array():
    """0-d results (argmax, comparisons of scalars, 0-d gradients) are arrays, not NumPy scalars."""
    assert td.tensor([1.0, 3.0, 2.0]).argmax().numpy() == 1
    assert isinstance(td.tensor([1.0, 3.0, 2.0]).argmax().numpy(), np.ndarray)
    assert isinstance((td.tensor(1.0) > 0).numpy(), np.ndarray)
    x = td.tensor(2.0, requires_grad=True)
    (x * td.tensor([1.0, 2.0])).sum().backward()  # the gradient of a 0-d input is a 0-d sum
    assert isinstance(x.grad.numpy(), np.ndarray) and x.grad.numpy() == 3.0


def test_comparisons_give_boolean_tensors_without_grad():
    x = td.tensor([1.0, -2.0, 3.0], requires_grad=True)
    m = x > 0
    assert m.dtype == np.bool_ and not m.requires_grad
    np.testing.assert_array_equal(m.numpy(), [True, False, True])
    np.testing.assert_array_equal((x <= 1.0).numpy(), [True, True, False])
    np.testing.assert_array_equal((x == td.tensor([1.0, 0.0, 3.0])).numpy(), [True, False, True])
    assert (x != x).numpy().sum() == 0
    assert {x: 1}[x] == 1  # hashable by identity


def test_bool_of_one_element_and_ambiguous_truth_value():
    assert bool(td.tensor(1.0)) and not bool(td.tensor([0.0]))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(td.tensor([1.0, 2.0]))


def test_repr_names_dtype_and_grad_state():
    assert "requires_grad=True" in repr(td.tensor([1.0], requires_grad=True))
    assert "dtype=float64" in repr(td.tensor(np.array([1.0])))
    assert "grad_fn=Mul" in repr(td.tensor([1.0], requires_grad=True) * 2)


def test_astype_to_integer_is_not_differentiable():
    x = td.tensor([1.5, 2.5], requires_grad=True)
    i = x.astype(td.int64)
    assert i.dtype == np.int64 and not i.requires_grad
    np.testing.assert_array_equal(i.numpy(), [1, 2])


# ------------------------------------------- dtype preservation through ops
def every_op(x, y, labels):
    """A scalar that depends on x and y through (almost) every op of tinydl."""
    parts = [
        (x + y) * (x - y) / (y * y + 1.0),
        x**2 + td.abs(x) ** 1.5 + 2.0**x,
        td.exp(x) + td.log(y * y + 1.0) + td.sqrt(y * y + 1.0),
        td.clip(x, -0.5, 0.5) + td.where(x > 0, x, y) + td.maximum(x, y) + td.minimum(x, 0.0),
        td.relu(x) + td.sigmoid(y) + td.tanh(x) + td.softmax(x, axis=1) + td.log_softmax(y, axis=0),
        (x @ y.T).sum(axis=1, keepdims=True) + x.mean(axis=0) + x.max(axis=1, keepdims=True) + y.min(),
        td.concatenate([x, y], axis=1)[:, :3] + td.stack([x, y]).sum(axis=0) + x.T.T + x.reshape(-1).reshape(2, 3),
        x.flatten().reshape(3, 2).permute(1, 0)
        + x.transpose(0, 1).transpose(1, 0)
        + x[np.array([1, 1])]
        + x.double().float(),
    ]
    total = sum(p.sum() for p in parts)
    return (
        total
        + td.mse_loss(x, y)
        + td.cross_entropy(x, labels)
        + td.cross_entropy(x, td.softmax(y, axis=1).detach().numpy(), weight=np.array([1.0, 2.0, 0.5]))
        + td.binary_cross_entropy_with_logits(x, td.sigmoid(y).detach(), pos_weight=np.array([2.0, 1.0, 1.0]))
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved_through_every_op_and_its_gradient(dtype):
    rng = np.random.default_rng(0)
    x = td.tensor(rng.standard_normal((2, 3)).astype(dtype), requires_grad=True)
    y = td.tensor(rng.standard_normal((2, 3)).astype(dtype), requires_grad=True)
    loss = every_op(x, y, np.array([0, 2]))
    assert loss.dtype == dtype and loss.shape == ()
    loss.backward()
    assert x.grad.dtype == dtype and y.grad.dtype == dtype
    assert np.all(np.isfinite(x.grad.numpy())) and np.all(np.isfinite(y.grad.numpy()))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x * 2.5,
        lambda x: 2.5 * x,
        lambda x: x + 1,
        lambda x: 1.0 - x,
        lambda x: x / 3,
        lambda x: 3.0 / x,
        lambda x: x**2,
        lambda x: x**0.5,
        lambda x: 2.0**x,
        lambda x: -x,
        lambda x: x * np.float64(2.0),
        lambda x: td.where(x > 2.0, x, 0.0),
        lambda x: td.maximum(x, 0.5),
        lambda x: td.minimum(1.0, x),
        lambda x: td.clip(x, 1.5, 2.5),
        lambda x: td.mse_loss(x, 1.0 + 0 * x),
    ],
    ids=[
        "mul",
        "rmul",
        "add-int",
        "rsub",
        "div-int",
        "rdiv",
        "pow-int",
        "pow-float",
        "rpow",
        "neg",
        "mul-np.float64",
        "where",
        "maximum",
        "minimum",
        "clip",
        "mse",
    ],
)
def test_python_scalars_do_not_change_the_dtype(fn, dtype):
    x = td.tensor(np.array([1.0, 2.0, 3.0], dtype=dtype), requires_grad=True)
    out = fn(x)
    assert out.dtype == dtype
    out.sum().backward()
    assert x.grad.dtype == dtype


def test_float64_upstream_gradient_is_cast_to_the_tensor_dtype():
    x = td.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.backward(np.array([1.0, 1.0], dtype=np.float64))
    assert x.grad.dtype == np.float32


def test_tensor_methods_match_functions():
    x = td.tensor(np.array([[0.5, -1.0], [2.0, 0.25]]))
    pairs = [
        (x.exp(), td.exp(x)),
        (x.abs(), td.abs(x)),
        (x.relu(), td.relu(x)),
        (x.sigmoid(), td.sigmoid(x)),
        (x.tanh(), td.tanh(x)),
        (x.softmax(0), td.softmax(x, axis=0)),
        (x.log_softmax(), td.log_softmax(x)),
        (x.clamp(0, 1), td.clip(x, 0, 1)),
        (x.sum(0), td.sum(x, axis=0)),
        (x.max(), td.max(x)),
        (x.min(1), td.min(x, axis=1)),
        (x.mean(), td.mean(x)),
        (x.abs().sqrt(), td.sqrt(td.abs(x))),
        (x.abs().log(), td.log(td.abs(x))),
        (x.flatten(), td.flatten(x)),
        (x.permute(1, 0), td.transpose(x)),
    ]
    for a, b in pairs:
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize(
    "data, dtype_named",
    [
        (["a"], r"<U1 \(strings\)"),
        (np.array(["a"]), r"<U1 \(strings\)"),
        (b"ab", r"\|S2 \(bytes\)"),
        (np.array([1.0, "a"], dtype=object), r"\|O \(Python objects\)"),
        (np.array([1.0, 2.0], dtype=object), r"\|O \(Python objects\)"),
        ([1 + 2j], r"<c16 \(complex numbers"),
        (["1.5"], r"<U3 \(strings\)"),  # not silently parsed as a number
    ],
)
def test_tensors_refuse_strings_bytes_objects_and_complex_naming_the_dtype(data, dtype_named):
    with pytest.raises(TypeError, match=dtype_named + r".*numbers or booleans"):
        td.tensor(data)
    with pytest.raises(TypeError, match=dtype_named):
        td.tensor(data, dtype=np.float32)  # refused before any conversion


def test_tensors_take_booleans_integers_and_floats():
    assert td.tensor([True, False]).dtype == np.bool_
    assert td.tensor([1, 2]).dtype == np.int64
    assert td.tensor([1.5]).dtype == np.float32
    assert td.tensor(np.array([1], np.uint8)).dtype == np.uint8
    assert td.tensor(np.float64(2.0)).dtype == np.float64
