"""tinydl.nn: Module bookkeeping, state_dict, layers, init, and cross-checks against PyTorch."""

import math
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinydl as td
from tinydl import nn
from tinydl.nn import functional as F


class Block(nn.Module):
    """A custom module with parameters assigned out of alphabetical order, a buffer and a child."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(np.ones(3))
        self.inner = nn.Linear(3, 2, dtype=np.float64)
        self.register_buffer("count", np.zeros(1))
        self.alpha = nn.Parameter(np.zeros(2))
        self.not_a_weight = td.tensor([1.0])  # a plain Tensor: not registered

    def forward(self, x):
        return self.inner(x * self.scale) + self.alpha


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 3))
        self.block = Block()


def all_values(module):
    return {name: value.copy() for name, value in module.state_dict().items()}


# ---------------------------------------------------------------- registration
def test_named_parameters_follow_assignment_order_and_nesting():
    names = [name for name, _ in Net().named_parameters()]
    assert names == [
        "encoder.0.weight",
        "encoder.0.bias",
        "encoder.2.weight",
        "encoder.2.bias",
        "block.scale",
        "block.alpha",
        "block.inner.weight",
        "block.inner.bias",
    ]


def test_parameters_buffers_children_and_modules():
    net = Net()
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert [name for name, _ in net.named_buffers()] == ["block.count"]
    assert not any(b is p for b in net.buffers() for p in net.parameters())
    assert [type(c).__name__ for c in net.children()] == ["Sequential", "Block"]
    assert [type(m).__name__ for m in net.modules()] == [
        "Net",
        "Sequential",
        "Linear",
        "ReLU",
        "Linear",
        "Block",
        "Linear",
    ]
    assert [name for name, _ in net.named_modules()][:3] == ["", "encoder", "encoder.0"]
    assert net.num_parameters() == (4 * 3 + 3) + (3 * 3 + 3) + 3 + 2 + (3 * 2 + 2)


def test_recurse_false_and_apply():
    block = Block()
    assert [n for n, _ in block.named_parameters(recurse=False)] == ["scale", "alpha"]
    assert [n for n, _ in block.named_buffers(recurse=False)] == ["count"]
    visited = []
    assert block.apply(lambda m: visited.append(type(m).__name__)) is block
    assert visited == ["Linear", "Block"]  # children first, as in PyTorch


def test_plain_tensors_and_numbers_are_not_registered():
    block = Block()
    assert "not_a_weight" not in dict(block.named_parameters())
    assert isinstance(block.not_a_weight, td.Tensor)


def test_reassigning_and_deleting_attributes_updates_the_registry():
    block = Block()
    with pytest.raises(TypeError, match="parameter 'scale'.*Parameter"):
        block.scale = td.tensor([1.0, 2.0, 3.0])
    block.scale = None  # an optional weight switched off
    assert "scale" not in dict(block.named_parameters())
    del block.alpha
    assert [n for n, _ in block.named_parameters()] == ["inner.weight", "inner.bias"]
    with pytest.raises(AttributeError, match="has no attribute 'alpha'"):
        _ = block.alpha
    block.count = np.array([5.0])  # assigning to a buffer name keeps it a buffer
    assert block.state_dict()["count"].tolist() == [5.0]


def test_a_shared_parameter_is_listed_once():
    first, second = nn.Linear(2, 2), nn.Linear(2, 2)
    second.weight = first.weight
    model = nn.Sequential(first, second)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "1.bias"]
    assert list(model.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]  # as in PyTorch


def test_forgetting_super_init_gives_a_helpful_error():
    class Broken(nn.Module):
        def __init__(self):
            self.layer = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Broken()


def test_missing_forward_is_explained():
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(td.tensor([1.0]))


def test_repr_prints_the_tree_like_pytorch():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Sequential(nn.Linear(3, 2, bias=False), nn.Softmax()))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=4, out_features=3, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Sequential(\n"
        "    (0): Linear(in_features=3, out_features=2, bias=False)\n"
        "    (1): Softmax(axis=-1)\n"
        "  )\n"
        ")"
    )
    assert repr(model[0].weight).startswith("Parameter containing:\ntensor(")


# ---------------------------------------------------------------- modes, grads, dtype
def test_train_and_eval_propagate_to_every_descendant():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.block.train()
    assert net.block.inner.training and not net.encoder[0].training and not net.training
    net.train()
    assert all(m.training for m in net.modules())


def test_zero_grad_sets_every_gradient_to_none():
    model = nn.Sequential(nn.Linear(3, 2), nn.Tanh(), nn.Linear(2, 1))
    model(td.randn(4, 3)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_to_dtype_casts_in_place_keeping_the_parameter_objects():
    td.manual_seed(0)  # fixed weights and input: with unlucky ones every ReLU is off and the weight gets no step
    net = Net()
    before = list(net.parameters())
    optimizer = td.optim.SGD(net.parameters(), lr=0.1)
    assert net.double() is net
    assert [id(p) for p in net.parameters()] == [id(p) for p in before]
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert all(b.dtype == np.float64 for b in net.buffers())
    # The optimiser created before the cast still moves the (now float64) weights.
    weight = net.encoder[0].weight
    old = weight.numpy().copy()
    net.encoder(td.randn(2, 4, dtype=np.float64)).sum().backward()
    optimizer.step()
    assert weight.dtype == np.float64 and not np.array_equal(weight.numpy(), old)
    net.float()
    assert all(p.dtype == np.float32 for p in net.parameters())
    with pytest.raises(TypeError, match="floating-point"):
        net.to(td.int64)


def test_requires_grad_freezes_parameters():
    model = nn.Linear(3, 2)
    model.requires_grad_(False)
    assert not any(p.requires_grad for p in model.parameters())
    assert model.num_parameters(trainable_only=True) == 0 and model.num_parameters() == 8


# ---------------------------------------------------------------- state_dict
def test_state_dict_round_trip_reproduces_the_model():
    td.manual_seed(1)
    source = Net()
    td.manual_seed(2)
    target = Net()
    x = td.randn(5, 4)
    assert not np.allclose(source.encoder(x).numpy(), target.encoder(x).numpy())
    result = target.load_state_dict(source.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_array_equal(source.encoder(x).numpy(), target.encoder(x).numpy())
    for (name_a, a), (name_b, b) in zip(source.state_dict().items(), target.state_dict().items()):
        assert name_a == name_b
        np.testing.assert_array_equal(a, b)


def test_state_dict_holds_copies_in_both_directions():
    model = nn.Linear(2, 2)
    state = model.state_dict()
    assert list(state) == ["weight", "bias"] and isinstance(state, OrderedDict)
    assert all(isinstance(v, np.ndarray) for v in state.values())
    state["weight"][...] = 123.0  # editing the saved copy leaves the model alone
    assert not np.any(model.weight.numpy() == 123.0)
    model.load_state_dict(state)
    state["weight"][...] = -1.0  # and the model does not alias the dict it was loaded from
    np.testing.assert_array_equal(model.weight.numpy(), np.full((2, 2), 123.0, dtype=np.float32))


def test_load_state_dict_accepts_tensors_and_arrays_and_casts_dtype():
    model = nn.Linear(3, 2)  # float32
    weight_obj = model.weight
    model.load_state_dict({"weight": td.tensor(np.arange(6.0).reshape(2, 3)), "bias": np.array([0.5, -0.5])})
    assert model.weight is weight_obj  # same Parameter: an optimiser built earlier keeps working
    assert model.weight.dtype == np.float32 and model.bias.dtype == np.float32
    np.testing.assert_array_equal(model.weight.numpy(), np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(model.bias.numpy(), [0.5, -0.5])


def test_load_state_dict_reports_every_problem_and_loads_nothing():
    net = Net()
    before = all_values(net)
    state = net.state_dict()
    del state["block.alpha"]  # missing
    state["block.gamma"] = np.ones(2)  # unexpected
    state["encoder.0.weight"] = np.ones((4, 3))  # transposed: wrong shape
    state["encoder.2.bias"] = np.full(3, 7.0)  # fine on its own, must still not load
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(state)
    message = str(info.value)
    assert "nothing was loaded" in message
    assert "missing keys: 'block.alpha'" in message
    assert "unexpected keys: 'block.gamma'" in message
    assert "'encoder.0.weight': expected (3, 4), got (4, 3)" in message
    after = all_values(net)
    assert list(after) == list(before)
    for name in before:
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)


def test_load_state_dict_non_strict_skips_key_problems_but_not_shapes():
    net = Net()
    state = net.state_dict()
    del state["block.alpha"]
    state["extra"] = np.zeros(1)
    state["block.scale"] = np.full(3, 2.0)
    result = net.load_state_dict(state, strict=False)
    assert result.missing_keys == ["block.alpha"] and result.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(net.block.scale.numpy(), [2.0, 2.0, 2.0])
    state["block.scale"] = np.ones(4)
    with pytest.raises(RuntimeError, match=r"'block.scale': expected \(3,\), got \(4,\)"):
        net.load_state_dict(state, strict=False)


# ---------------------------------------------------------------- layers
def test_linear_shapes_and_shape_error():
    layer = nn.Linear(4, 3)
    assert layer.weight.shape == (3, 4) and layer.bias.shape == (3,)
    assert layer(td.randn(2, 4)).shape == (2, 3)
    assert layer(td.randn(5, 2, 4)).shape == (5, 2, 3)  # any leading batch axes
    assert layer(td.randn(4)).shape == (3,)
    with pytest.raises(ValueError) as info:
        layer(td.randn(2, 5))
    assert str(info.value) == (
        "Linear(in_features=4, out_features=3, bias=True) expects input with last dimension 4, got shape (2, 5)"
    )
    with pytest.raises(TypeError, match="float32 weights but got a float64 input"):
        layer(td.randn(2, 4, dtype=np.float64))
    with pytest.raises(ValueError, match="in_features must be a positive integer"):
        nn.Linear(0, 3)


def test_linear_computes_x_w_transpose_plus_b():
    layer = nn.Linear(2, 3, dtype=np.float64)
    layer.load_state_dict({"weight": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], "bias": [0.5, 0.0, -0.5]})
    y = layer(td.tensor(np.array([[1.0, -1.0]])))
    np.testing.assert_array_equal(y.numpy(), [[1 - 2 + 0.5, 3 - 4 + 0.0, 5 - 6 - 0.5]])
    no_bias = nn.Linear(2, 3, bias=False)
    assert no_bias.bias is None and [n for n, _ in no_bias.named_parameters()] == ["weight"]


def test_activation_modules_match_their_functions():
    x = td.randn(3, 4, dtype=np.float64)
    for module, fn in [
        (nn.ReLU(), td.relu),
        (nn.Sigmoid(), td.sigmoid),
        (nn.Tanh(), td.tanh),
        (nn.Softmax(axis=0), lambda t: td.softmax(t, axis=0)),
        (nn.LogSoftmax(), td.log_softmax),
        (nn.Identity(), lambda t: t),
    ]:
        np.testing.assert_array_equal(module(x).numpy(), fn(x).numpy(), err_msg=repr(module))
    np.testing.assert_allclose(nn.Softmax(axis=0)(x).numpy().sum(axis=0), np.ones(4))
    assert nn.Flatten()(td.randn(2, 3, 4, 5)).shape == (2, 60)
    assert nn.Flatten(0, 1)(td.randn(2, 3, 4)).shape == (6, 4)


def test_sequential_indexing_len_iteration_and_names():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    model = nn.Sequential(*layers)
    assert len(model) == 3 and list(model) == layers
    assert model[0] is layers[0] and model[-1] is layers[2]
    tail = model[1:]
    assert isinstance(tail, nn.Sequential) and list(tail) == layers[1:]
    with pytest.raises(IndexError, match="out of range"):
        model[3]
    x = td.randn(4, 2)
    np.testing.assert_array_equal(model(x).numpy(), layers[2](layers[1](layers[0](x))).numpy())
    named = nn.Sequential(OrderedDict([("hidden", nn.Linear(2, 3)), ("act", nn.ReLU())]))
    assert [n for n, _ in named.named_parameters()] == ["hidden.weight", "hidden.bias"]
    assert named.append(nn.Linear(3, 1)) is named and len(named) == 3
    with pytest.raises(TypeError, match="nn.ReLU"):
        nn.Sequential(nn.Linear(2, 2), td.relu)
    with pytest.raises(TypeError, match=r"Sequential\(\*layers\)"):
        nn.Sequential(layers)


def test_loss_modules_call_the_loss_ops():
    logits = td.randn(5, 3, dtype=np.float64)
    labels = np.array([0, 2, 1, 2, 0])
    weight = np.array([1.0, 2.0, 0.5])
    assert nn.CrossEntropyLoss(weight=weight)(logits, labels).item() == pytest.approx(
        F.cross_entropy(logits, labels, weight=weight).item(), rel=1e-15
    )
    assert "weight" in nn.CrossEntropyLoss(weight=weight).state_dict()
    target = td.randn(5, 3, dtype=np.float64)
    assert nn.MSELoss(reduction="sum")(logits, target).item() == pytest.approx(
        ((logits.numpy() - target.numpy()) ** 2).sum(), rel=1e-12
    )
    probs = np.array([[1.0, 0.0, 0.5]] * 5)
    pos_weight = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(
        nn.BCEWithLogitsLoss(pos_weight=pos_weight, reduction="none")(logits, probs).numpy(),
        F.binary_cross_entropy_with_logits(logits, probs, pos_weight=pos_weight, reduction="none").numpy(),
    )
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="average")


# ---------------------------------------------------------------- init
def test_manual_seed_makes_initialisation_repeatable():
    td.manual_seed(7)
    first = Net().state_dict()
    td.manual_seed(7)
    second = Net().state_dict()
    td.manual_seed(8)
    third = Net().state_dict()
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)
    assert not np.array_equal(first["encoder.0.weight"], third["encoder.0.weight"])


def test_linear_default_init_fills_the_pytorch_interval():
    td.manual_seed(0)
    layer = nn.Linear(50, 200)
    bound = 1 / math.sqrt(50)
    for p in (layer.weight, layer.bias):
        values = p.numpy()
        assert np.all(np.abs(values) <= bound)
        assert np.unique(values).size == values.size  # not constant, no repeats
        # Uniform on the whole interval, not a narrower one: the extremes come close to ±bound.
        assert values.max() > 0.95 * bound and values.min() < -0.95 * bound
    w = layer.weight.numpy()
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound  # std of U(−b, b) is b/√3


def test_init_functions_follow_their_formulas():
    td.manual_seed(0)
    w = td.zeros(200, 300, dtype=np.float64)
    assert nn.init._calculate_fan_in_and_fan_out(w) == (300, 200)
    assert nn.init._calculate_fan_in_and_fan_out(td.zeros(8, 4, 3, 3)) == (36, 72)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        nn.init._calculate_fan_in_and_fan_out(td.zeros(5))

    assert nn.init.kaiming_uniform_(w, nonlinearity="relu") is w
    bound = math.sqrt(3) * math.sqrt(2) / math.sqrt(300)
    assert np.abs(w.numpy()).max() <= bound and np.abs(w.numpy()).max() > 0.99 * bound
    nn.init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu")
    assert np.abs(w.numpy()).max() > math.sqrt(6 / 300)  # the fan_out bound √(6/200) is wider
    nn.init.xavier_uniform_(w)
    bound = math.sqrt(6 / (300 + 200))
    assert np.abs(w.numpy()).max() <= bound and np.abs(w.numpy()).max() > 0.99 * bound
    nn.init.normal_(w, mean=1.0, std=0.5)
    assert abs(w.numpy().mean() - 1.0) < 0.01 and abs(w.numpy().std() - 0.5) < 0.01
    nn.init.uniform_(w, -2.0, -1.0)
    assert w.numpy().min() >= -2.0 and w.numpy().max() <= -1.0
    nn.init.zeros_(w)
    assert not w.numpy().any()
    nn.init.ones_(w)
    assert np.all(w.numpy() == 1.0) and w.dtype == np.float64
    assert nn.init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    assert nn.init.calculate_gain("tanh") == pytest.approx(5 / 3)


# ---------------------------------------------------------------- gradients
@given(
    batch_shape=st.lists(st.integers(1, 3), max_size=2),
    in_features=st.integers(1, 5),
    out_features=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_linear_gradcheck(batch_shape, in_features, out_features, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((*batch_shape, in_features))  # no batch axis, one, or two
    w = rng.standard_normal((out_features, in_features))
    b = rng.standard_normal(out_features)
    td.gradcheck(F.linear, x, w, b)
    td.gradcheck(lambda x, w: F.linear(x, w), x, w)
    # The module: gradient with respect to its input, its own float64 weights held fixed.
    layer = nn.Linear(in_features, out_features, dtype=np.float64)
    td.gradcheck(lambda x: td.tanh(layer(x)), x)


def test_linear_module_gradients_equal_the_functional_ones():
    layer = nn.Linear(3, 2, dtype=np.float64)
    x = td.randn(4, 3, dtype=np.float64)
    (layer(x) ** 2).sum().backward()
    w = td.tensor(layer.weight.numpy(), requires_grad=True)
    b = td.tensor(layer.bias.numpy(), requires_grad=True)
    (F.linear(x, w, b) ** 2).sum().backward()
    np.testing.assert_array_equal(layer.weight.grad.numpy(), w.grad.numpy())
    np.testing.assert_array_equal(layer.bias.grad.numpy(), b.grad.numpy())
    assert layer.weight.grad.shape == (2, 3) and layer.bias.grad.shape == (2,)


# ---------------------------------------------------------------- against PyTorch
@pytest.mark.torch
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 1e-5)])
def test_linear_forward_and_backward_match_torch(torch, dtype, rtol):
    rng = np.random.default_rng(0)
    x, w, b, g = (rng.standard_normal(s).astype(dtype) for s in [(6, 5), (4, 5), (4,), (6, 4)])
    layer = nn.Linear(5, 4, dtype=dtype)
    layer.load_state_dict({"weight": w, "bias": b})
    x_td = td.tensor(x, requires_grad=True)
    y = layer(x_td)
    y.backward(g)

    x_t, w_t, b_t = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    y_t = torch.nn.functional.linear(x_t, w_t, b_t)
    y_t.backward(torch.tensor(g))

    assert y.dtype == dtype and layer.weight.grad.dtype == dtype
    atol = rtol * 10  # for entries that happen to be close to 0
    np.testing.assert_allclose(y.numpy(), y_t.detach().numpy(), rtol=rtol, atol=atol)
    np.testing.assert_allclose(x_td.grad.numpy(), x_t.grad.numpy(), rtol=rtol, atol=atol)
    np.testing.assert_allclose(layer.weight.grad.numpy(), w_t.grad.numpy(), rtol=rtol, atol=atol)
    np.testing.assert_allclose(layer.bias.grad.numpy(), b_t.grad.numpy(), rtol=rtol, atol=atol)


def copy_into_torch(torch, model, torch_model):
    """Load tinydl weights into a torch model whose state_dict keys match."""
    torch_model.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})


@pytest.mark.torch
def test_mlp_training_matches_torch(torch):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((16, 4))
    labels = rng.integers(0, 3, size=16)
    td.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(4, 8, dtype=np.float64),
        nn.ReLU(),
        nn.Linear(8, 8, dtype=np.float64),
        nn.Tanh(),
        nn.Linear(8, 3, dtype=np.float64),
    )
    torch_model = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)
    ).double()
    copy_into_torch(torch, model, torch_model)
    optimizer = td.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    torch_optimizer = torch.optim.SGD(torch_model.parameters(), lr=0.2, momentum=0.9)
    loss_fn, torch_loss_fn = nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    x_t, labels_t = torch.tensor(x), torch.tensor(labels)

    losses, torch_losses = [], []
    for _ in range(25):
        optimizer.zero_grad()
        loss = loss_fn(model(td.tensor(x)), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

        torch_optimizer.zero_grad()
        torch_loss = torch_loss_fn(torch_model(x_t), labels_t)
        torch_loss.backward()
        torch_optimizer.step()
        torch_losses.append(torch_loss.item())

    np.testing.assert_allclose(losses, torch_losses, rtol=1e-10)
    assert losses[-1] < 0.5 * losses[0], losses  # and it actually learned
    for name, value in torch_model.state_dict().items():
        np.testing.assert_allclose(model.state_dict()[name], value.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)


def test_linear_promotes_mixed_precision_like_numpy():
    x = td.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    w = td.tensor(np.ones((4, 3), np.float32), requires_grad=True)
    b = td.tensor(np.ones(4, np.float64), requires_grad=True)
    y = F.linear(x, w, b)
    assert y.dtype == np.float64 and np.all(y.numpy() == 4.0)
    y.sum().backward()
    assert x.grad.dtype == np.float32 and b.grad.dtype == np.float64
    with pytest.raises(ValueError, match="in_features = 3"):
        F.linear(td.ones(2, 5), w)
