"""Modern blocks: layer_norm, group_norm, BatchNorm3d, ModuleList, ModuleDict, scaled_dot_product_attention.

The ops: a float64 gradcheck against a NumPy reference and a PyTorch cross-check (values and
gradients, float64 and float32). The layers: same outputs as PyTorch's after loading its
``state_dict`` (PyTorch's key names), and the containers register their children under
PyTorch's names (``blocks.0.weight``, ``heads.seg.bias``).
"""

from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from op_checks import check, compare

import tinydl as td
import tinydl.nn.functional as F
from tinydl.testing import strategies as tst


def np_dtype(t):
    return t.detach().numpy().dtype


def np_standardize(x, axes, eps):
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    return (x - mu) / np.sqrt(var + eps)


def load_from_torch(model, torch_model):
    return model.load_state_dict({k: v.detach().numpy() for k, v in torch_model.state_dict().items()})


# ---------------------------------------------------------------- layer_norm
@given(data=st.data(), affine=st.sampled_from(["none", "weight", "both"]), eps=st.sampled_from([1e-5, 0.1]))
def test_layer_norm(torch, data, affine, eps):
    shape = data.draw(tst.shapes(min_dims=1, max_dims=4, min_side=2, max_size=24))
    k = data.draw(st.integers(1, len(shape)))
    normalized = shape[len(shape) - k :]
    if np.prod(normalized) < 3:  # two values normalise to ±1 whatever they are: the gradient is 0 plus noise
        shape, normalized, k = (*shape, 3), (*normalized, 3), k + 1
    # Distinct values: a near-constant row has a variance near 0, and dividing by its root
    # amplifies float32 rounding past any tolerance (in PyTorch as well).
    x = data.draw(tst.distinct_arrays(shape, gap=0.25))
    w = data.draw(tst.float_arrays(normalized, 0.5, 2.0))
    b = data.draw(tst.float_arrays(normalized))
    arrays = {"none": (x,), "weight": (x, w), "both": (x, w, b)}[affine]

    def ours(x, w=None, b=None):
        return F.layer_norm(x, normalized, w, b, eps=eps)

    def theirs(x, w=None, b=None):
        return torch.nn.functional.layer_norm(x, normalized, w, b, eps=eps)

    def ref(x, w=1.0, b=0.0):
        return np_standardize(x, tuple(range(x.ndim - k, x.ndim)), eps) * w + b

    compare(torch, ours, theirs, *arrays)
    check(ours, ref, *arrays)


# ---------------------------------------------------------------- group_norm
@given(data=st.data(), affine=st.booleans(), eps=st.sampled_from([1e-5, 0.1]))
def test_group_norm(torch, data, affine, eps):
    n, groups, per_group = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3)), data.draw(st.integers(1, 2))
    spatial = data.draw(st.sampled_from([(), (3,), (2, 3), (2, 1, 2)]))
    c = groups * per_group
    if per_group * int(np.prod(spatial)) < 3:
        spatial = (3,)  # groups of 1 or 2 values normalise to 0 or ±1: the gradient is all rounding
    x = data.draw(tst.distinct_arrays((n, c, *spatial), gap=0.25))
    w, b = data.draw(tst.float_arrays((c,), 0.5, 2.0)), data.draw(tst.float_arrays((c,)))
    arrays = (x, w, b) if affine else (x,)

    def ours(x, w=None, b=None):
        return F.group_norm(x, groups, w, b, eps=eps)

    def theirs(x, w=None, b=None):
        return torch.nn.functional.group_norm(x, groups, w, b, eps=eps)

    def ref(x, w=None, b=None):
        y = np_standardize(x.reshape(n, groups, -1), (2,), eps).reshape(x.shape)
        per_channel = (1, c) + (1,) * len(spatial)
        return y if w is None else y * w.reshape(per_channel) + b.reshape(per_channel)

    compare(torch, ours, theirs, *arrays)
    check(ours, ref, *arrays)


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: F.layer_norm(np.zeros((2, 3)), (2,)), ValueError, "last axes"),
        (lambda: F.layer_norm(np.zeros((2, 3)), 3, weight=np.ones(2)), ValueError, "weight must have shape (3,)"),
        (lambda: F.layer_norm(np.zeros((2, 3)), 3, eps=0), ValueError, "eps"),
        (lambda: F.group_norm(np.zeros((2, 6, 2)), 4), ValueError, "divide"),
        (lambda: F.group_norm(np.zeros(6), 2), ValueError, "(N, C, ...)"),
        (lambda: td.nn.GroupNorm(4, 6), ValueError, "divide"),
        (lambda: td.nn.LayerNorm(0), ValueError, "normalized_shape"),
        (lambda: td.nn.BatchNorm3d(2)(td.zeros(2, 2, 3, 3)), ValueError, "(N, C, D, H, W)"),
        (lambda: td.nn.LayerNorm(3)(td.zeros(2, 3, dtype=td.float64)), TypeError, "float32 parameters"),
    ],
)
def test_norm_errors(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)


# ---------------------------------------------------------------- the layers against PyTorch's
def randomize(torch, torch_module, seed=0):
    """Non-trivial affine parameters (PyTorch initialises γ = 1, β = 0)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in torch_module.parameters():
            p.copy_(torch.rand(p.shape, generator=gen, dtype=p.dtype) + 0.5)
    return torch_module


@pytest.mark.parametrize(
    "make_ours, make_theirs, shape",
    [
        (lambda nn: nn.LayerNorm((3, 4)), lambda nn: nn.LayerNorm((3, 4)), (2, 5, 3, 4)),
        (lambda nn: nn.LayerNorm(4, bias=False), lambda nn: nn.LayerNorm(4, bias=False), (2, 4)),
        (
            lambda nn: nn.LayerNorm(4, elementwise_affine=False),
            lambda nn: nn.LayerNorm(4, elementwise_affine=False),
            (3, 4),
        ),
        (lambda nn: nn.GroupNorm(2, 4, eps=1e-3), lambda nn: nn.GroupNorm(2, 4, eps=1e-3), (2, 4, 3, 3)),
        (lambda nn: nn.GroupNorm(1, 3, affine=False), lambda nn: nn.GroupNorm(1, 3, affine=False), (2, 3, 4)),
        (lambda nn: nn.BatchNorm3d(3), lambda nn: nn.BatchNorm3d(3), (2, 3, 2, 3, 4)),
        (
            lambda nn: nn.BatchNorm3d(2, affine=False, momentum=None),
            lambda nn: nn.BatchNorm3d(2, affine=False, momentum=None),
            (3, 2, 2, 2, 2),
        ),
    ],
    ids=[
        "layer_norm",
        "layer_norm_no_bias",
        "layer_norm_no_affine",
        "group_norm",
        "group_norm_1",
        "bn3d",
        "bn3d_cumulative",
    ],
)
def test_layers_match_torch(torch, make_ours, make_theirs, shape):
    theirs = randomize(torch, make_theirs(torch.nn).double())
    ours = make_ours(td.nn).double()
    assert list(ours.state_dict()) == list(theirs.state_dict())  # PyTorch's names, in PyTorch's order
    load_from_torch(ours, theirs)
    x = np.random.default_rng(1).standard_normal(shape) * 2 + 0.5
    for step in range(2):  # training twice (BatchNorm updates its running statistics), then evaluation
        a, b = td.tensor(x + step, requires_grad=True), torch.tensor(x + step, requires_grad=True)
        out, ref = ours(a), theirs(b)
        np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
        upstream = np.random.default_rng(step).standard_normal(shape)
        out.backward(upstream)
        ref.backward(torch.from_numpy(upstream))
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-11)
        for name, p in ours.named_parameters():
            np.testing.assert_allclose(p.grad.numpy(), dict(theirs.named_parameters())[name].grad.numpy(), rtol=1e-9)
    ours.eval(), theirs.eval()
    np.testing.assert_allclose(ours(td.tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-12)


# ---------------------------------------------------------------- containers
class Tower:
    """The same model in both libraries: a ModuleList of blocks and a ModuleDict of heads."""

    @staticmethod
    def build(nn):
        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.stem = nn.Linear(3, 4)
                self.blocks = nn.ModuleList([nn.Linear(4, 4), nn.LayerNorm(4), nn.Linear(4, 4)])
                self.heads = nn.ModuleDict(OrderedDict([("seg", nn.Linear(4, 2)), ("cls", nn.Linear(4, 5))]))

            def forward(self, x):
                x = self.stem(x)
                for block in self.blocks:
                    x = block(x)
                return self.heads["seg"](x), self.heads["cls"](x)

        return Model()


def test_module_list_and_dict_load_torch_weights(torch):
    theirs = Tower.build(torch.nn).double()
    ours = Tower.build(td.nn).double()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert "blocks.1.weight" in ours.state_dict() and "heads.cls.bias" in ours.state_dict()
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert len(list(ours.parameters())) == len(list(theirs.parameters())) == 12
    load_from_torch(ours, theirs)
    x = np.random.default_rng(3).standard_normal((2, 3))
    for a, b in zip(ours(td.tensor(x)), theirs(torch.tensor(x))):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_module_list_behaves_like_a_list():
    blocks = td.nn.ModuleList([td.nn.Linear(2, 2), td.nn.ReLU()])
    blocks.append(td.nn.Linear(2, 3))
    blocks += [td.nn.Tanh()]
    assert len(blocks) == 4 and isinstance(blocks[-1], td.nn.Tanh) and isinstance(blocks[1:3], td.nn.ModuleList)
    blocks.insert(0, td.nn.Identity())
    assert [type(m).__name__ for m in blocks] == ["Identity", "Linear", "ReLU", "Linear", "Tanh"]
    del blocks[0]
    assert list(blocks.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]  # renumbered, as PyTorch
    blocks[1] = td.nn.Linear(2, 2)
    assert "1.weight" in blocks.state_dict()
    blocks.eval()
    assert not any(m.training for m in blocks)
    with pytest.raises(TypeError, match="not a Module"):
        blocks.append(td.relu)
    with pytest.raises(IndexError):
        blocks[7]
    with pytest.raises(NotImplementedError, match="iterate"):
        blocks(td.zeros(2))


def test_module_dict_behaves_like_a_dict():
    heads = td.nn.ModuleDict({"a": td.nn.Linear(2, 1)})
    heads["b"] = td.nn.Linear(2, 3)
    heads.update([("c", td.nn.ReLU())])
    assert list(heads) == ["a", "b", "c"] and "b" in heads and len(heads) == 3
    assert [k for k, _ in heads.items()] == list(heads.keys())
    assert isinstance(heads.pop("a"), td.nn.Linear) and list(heads.state_dict()) == ["b.weight", "b.bias"]
    with pytest.raises(KeyError, match="keys"):
        heads["zz"]
    with pytest.raises(TypeError, match="not a Module"):
        heads["d"] = 3
    heads.clear()
    assert len(heads) == 0 and list(heads.parameters()) == []


# ---------------------------------------------------------------- scaled_dot_product_attention
@st.composite
def attention_problem(draw):
    batch = draw(st.sampled_from([(), (2,), (1, 2)]))
    length, source = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    e, ev = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    q = draw(tst.float_arrays((*batch, length, e), -2.0, 2.0))
    k = draw(tst.float_arrays((*batch, source, e), -2.0, 2.0))
    v = draw(tst.float_arrays((*batch, source, ev), -2.0, 2.0))
    return q, k, v


def np_attention(q, k, v, mask, scale):
    scores = q @ np.swapaxes(k, -1, -2) * scale
    if mask is not None and mask.dtype == bool:
        scores = np.where(mask, scores, -np.inf)
    elif mask is not None:
        scores = scores + mask
    dead = np.isneginf(scores).all(axis=-1, keepdims=True)
    scores = np.where(dead, 0.0, scores)
    p = np.exp(scores - scores.max(axis=-1, keepdims=True))
    p = p / p.sum(axis=-1, keepdims=True) * ~dead
    return p @ v


@given(problem=attention_problem(), kind=st.sampled_from(["none", "causal", "bool", "float"]), data=st.data())
def test_scaled_dot_product_attention(torch, problem, kind, data):
    q, k, v = problem
    length, source = q.shape[-2], k.shape[-2]
    scale = data.draw(st.sampled_from([None, 0.5]))
    mask = None
    if kind == "bool":
        mask = data.draw(tst.boolean_masks((length, source)))  # rows with no True give zeros, as PyTorch
    elif kind == "float":
        mask = data.draw(tst.float_arrays((length, source), -1.0, 1.0))
    causal = kind == "causal"

    def ours(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, scale=scale)

    def theirs(q, k, v):
        m = mask
        if m is not None and m.dtype != bool:
            m = m.astype(np_dtype(q))
        m = None if m is None else torch.from_numpy(m)
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=m, is_causal=causal, scale=scale)

    compare(torch, ours, theirs, q, k, v)
    s = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    ref_mask = np.tril(np.ones((length, source), bool)) if causal else mask
    check(ours, lambda q, k, v: np_attention(q, k, v, ref_mask, s), q, k, v)


def test_attention_float_mask_tensor_gets_a_gradient(torch):
    rng = np.random.default_rng(4)
    q, k, v, m = (
        rng.standard_normal((2, 3)),
        rng.standard_normal((4, 3)),
        rng.standard_normal((4, 2)),
        rng.standard_normal((2, 4)),
    )
    compare(
        torch,
        lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
        lambda q, k, v, m: torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=m),
        q,
        k,
        v,
        m,
    )


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        (dict(dropout_p=0.1), ValueError, "dropout_p"),
        (dict(is_causal=True, attn_mask=np.ones((2, 4), bool)), ValueError, "not both"),
        (dict(attn_mask=np.ones((3, 4), bool)), ValueError, "broadcast"),
        (dict(attn_mask=np.ones((2, 4), np.int64)), TypeError, "boolean or floating-point"),
    ],
)
def test_attention_errors(kwargs, error, words):
    q, k, v = td.zeros(2, 3), td.zeros(4, 3), td.zeros(4, 2)
    with pytest.raises(error) as info:
        F.scaled_dot_product_attention(q, k, v, **kwargs)
    assert words in str(info.value)
    with pytest.raises(ValueError, match="same last axis"):
        F.scaled_dot_product_attention(q, td.zeros(4, 2), v)
