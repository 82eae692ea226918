"""Elementwise maths and the newer activations: gradcheck in float64 and PyTorch cross-checks.

Each op gets a hypothesis float64 ``check`` (forward against NumPy, then ``td.gradcheck``) with
values kept a margin away from its kinks, and a ``compare`` against torch in float64 and float32
(values and gradients). At the kinks themselves the gradient is a convention; the
``test_*_convention`` tests check it is PyTorch's. Ops without a gradient (isnan, ...) are
compared for values and dtypes.
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from op_checks import check, compare

import tinydl as td
import tinydl.nn.functional as F
from tinydl.testing import strategies as tst


def small_shapes():
    return tst.shapes(max_size=40)


def away(x, points, margin=0.05):
    """``x`` with every value closer than ``margin`` to one of ``points`` moved ``2·margin`` off it."""
    x = np.array(x, dtype=np.float64)
    for p in points:
        near = np.abs(x - p) < margin
        x = np.where(near, p + 2 * margin * np.where(x >= p, 1.0, -1.0), x)
    return x


def erf(x):
    return np.vectorize(math.erf)(x)


# ------------------------------------------------------------ smooth elementwise maths
SMOOTH = {
    # name: (NumPy reference, torch function name, strategy of inputs)
    "log2": (np.log2, "log2", tst.positive_arrays),
    "log10": (np.log10, "log10", tst.positive_arrays),
    "rsqrt": (lambda x: 1 / np.sqrt(x), "rsqrt", tst.positive_arrays),
    "sin": (np.sin, "sin", tst.float_arrays),
    "cos": (np.cos, "cos", tst.float_arrays),
}


@pytest.mark.parametrize("name", sorted(SMOOTH))
@given(data=st.data())
def test_smooth_gradcheck(name, data):
    ref, _, arrays = SMOOTH[name]
    check(getattr(td, name), ref, data.draw(arrays(small_shapes())))


@pytest.mark.parametrize("name", sorted(SMOOTH))
@given(data=st.data())
def test_smooth_against_torch(torch, name, data):
    _, torch_name, arrays = SMOOTH[name]
    x = data.draw(arrays(small_shapes()))
    compare(torch, getattr(td, name), getattr(torch, torch_name), x)
    compare(torch, getattr(td.Tensor, name), getattr(torch.Tensor, torch_name), x)  # the Tensor method


def test_rsqrt_of_zero_is_inf_like_torch(torch):
    x = np.array([0.0, 4.0])
    np.testing.assert_array_equal(td.rsqrt(x).numpy(), torch.rsqrt(torch.tensor(x)).numpy())


# ---------------------------------------------------- piecewise constant: zero gradient
PIECEWISE = {
    "floor": (np.floor, [-3, -2, -1, 0, 1, 2, 3]),
    "ceil": (np.ceil, [-3, -2, -1, 0, 1, 2, 3]),
    "round": (np.round, np.arange(-3.5, 3.51, 0.5)),
    "sign": (np.sign, [0.0]),
}


@pytest.mark.parametrize("name", sorted(PIECEWISE))
@given(data=st.data())
def test_piecewise_gradcheck_is_zero(name, data):
    ref, steps = PIECEWISE[name]
    x = away(data.draw(tst.float_arrays(small_shapes())), steps)
    check(getattr(td, name), ref, x)
    grad = td.tensor(x, requires_grad=True)
    getattr(td, name)(grad).sum().backward()
    assert np.all(grad.grad.numpy() == 0)


@pytest.mark.parametrize("name", sorted(PIECEWISE))
@given(data=st.data())
def test_piecewise_against_torch(torch, name, data):
    """Values (halves rounded to even, ±0, integers) and the zero gradient, as torch's."""
    x = np.round(data.draw(tst.float_arrays(small_shapes())) * 4) / 4  # many exact halves and integers
    compare(torch, getattr(td, name), getattr(torch, name), x)
    compare(torch, getattr(td.Tensor, name), getattr(torch.Tensor, name), x)


def test_round_halves_to_even_and_decimals(torch):
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.675, 1.005, -3.14159, 12345.678])
    for dtype in (np.float64, np.float32):
        for decimals in (0, 1, 2, 3, -1, -2):
            ours = td.round(td.tensor(x.astype(dtype)), decimals=decimals)
            theirs = torch.round(torch.tensor(x.astype(dtype)), decimals=decimals)
            assert ours.dtype == theirs.numpy().dtype
            np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6 if dtype == np.float32 else 1e-15)
    with pytest.raises(TypeError, match="round: decimals"):
        td.round(td.tensor([1.0]), decimals=0.5)


@pytest.mark.parametrize("name", sorted(PIECEWISE))
@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool"])
def test_piecewise_of_integers_like_torch(torch, name, dtype):
    arr = np.array([0, 1, 3], dtype=dtype) if dtype != "bool" else np.array([True, False])
    try:
        theirs = getattr(torch, name)(torch.tensor(arr))
    except (RuntimeError, TypeError):
        with pytest.raises(TypeError, match=name):
            getattr(td, name)(td.tensor(arr))
        return
    ours = getattr(td, name)(td.tensor(arr))
    assert ours.dtype == theirs.numpy().dtype
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_piecewise_stays_in_the_graph_like_torch():
    x = td.tensor([1.5, -0.3], requires_grad=True)
    y = x - x.floor()  # the fractional part: gradient 1 through x, 0 through floor
    assert x.floor().requires_grad
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])


# ------------------------------------------------------------- tests: no gradient at all
@pytest.mark.parametrize("name", ["isnan", "isinf", "isfinite"])
@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "int64", "bool"])
def test_isnan_isinf_isfinite_like_torch(torch, name, dtype):
    base = np.array([0.0, np.nan, np.inf, -np.inf, -1.5, 3.0])
    arr = base.astype(dtype) if np.dtype(dtype).kind == "f" else np.array([0, 1, 1], dtype=dtype)
    x = td.tensor(arr, requires_grad=np.dtype(dtype).kind == "f")
    for ours, theirs in [
        (getattr(td, name)(x), getattr(torch, name)(torch.tensor(arr))),
        (getattr(x, name)(), getattr(torch.tensor(arr), name)()),
    ]:
        assert ours.dtype == theirs.numpy().dtype == np.bool_
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
        assert not ours.requires_grad  # outside the graph: no gradient passes


# -------------------------------------------------------------------------- activations
def leaky_ref(slope):
    return lambda x: np.where(x > 0, x, slope * x)


def elu_ref(alpha):
    return lambda x: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def gelu_ref(approximate):
    if approximate == "tanh":
        return lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return lambda x: 0.5 * x * (1 + erf(x / math.sqrt(2)))


def softplus_ref(beta, threshold):
    return lambda x: np.where(beta * x > threshold, x, np.log1p(np.exp(beta * x)) / beta)


def hardtanh_ref(lo, hi):
    return lambda x: np.clip(x, lo, hi)


# name, options, NumPy reference, the kinks to keep away from in a gradcheck
ACTIVATIONS = [
    ("leaky_relu", {}, leaky_ref(0.01), [0.0]),
    ("leaky_relu", {"negative_slope": 0.2}, leaky_ref(0.2), [0.0]),
    ("leaky_relu", {"negative_slope": -1.5}, leaky_ref(-1.5), [0.0]),
    ("elu", {}, elu_ref(1.0), [0.0]),
    ("elu", {"alpha": 0.5}, elu_ref(0.5), [0.0]),
    ("elu", {"alpha": 2.0}, elu_ref(2.0), [0.0]),
    ("gelu", {}, gelu_ref("none"), []),
    ("gelu", {"approximate": "none"}, gelu_ref("none"), []),
    ("gelu", {"approximate": "tanh"}, gelu_ref("tanh"), []),
    ("silu", {}, lambda x: x / (1 + np.exp(-x)), []),
    ("softplus", {}, softplus_ref(1.0, 20.0), []),
    ("softplus", {"beta": 2.0}, softplus_ref(2.0, 20.0), []),
    ("softplus", {"beta": 0.5, "threshold": 1.0}, softplus_ref(0.5, 1.0), [2.0]),
    ("softplus", {"beta": 2.0, "threshold": 2.0}, softplus_ref(2.0, 2.0), [1.0]),
    ("hardtanh", {}, hardtanh_ref(-1, 1), [-1.0, 1.0]),
    ("hardtanh", {"min_val": -0.5, "max_val": 2.0}, hardtanh_ref(-0.5, 2.0), [-0.5, 2.0]),
]
IDS = [f"{name}-{opts}" for name, opts, _, _ in ACTIVATIONS]


@pytest.mark.parametrize("name, opts, ref, kinks", ACTIVATIONS, ids=IDS)
@given(data=st.data())
def test_activation_gradcheck(name, opts, ref, kinks, data):
    x = away(data.draw(tst.float_arrays(small_shapes())), kinks, margin=0.05)
    check(lambda t: getattr(F, name)(t, **opts), ref, x)


@pytest.mark.parametrize("name, opts, ref, kinks", ACTIVATIONS, ids=IDS)
@given(data=st.data())
def test_activation_against_torch(torch, name, opts, ref, kinks, data):
    x = away(data.draw(tst.float_arrays(small_shapes(), low=-5.0, high=5.0)), kinks, margin=0.01)
    compare(torch, lambda t: getattr(F, name)(t, **opts), lambda t: getattr(torch.nn.functional, name)(t, **opts), x)


@pytest.mark.parametrize("name, opts, ref, kinks", ACTIVATIONS, ids=IDS)
def test_activation_convention_at_the_kinks(torch, name, opts, ref, kinks):
    """Exactly at the kinks (x = 0, the bounds, βx = threshold) and at large |x|: torch's values and gradients."""
    x = np.array(sorted({*kinks, 0.0, -30.0, -3.0, 3.0, 30.0, 1e4, -1e4}))
    compare(torch, lambda t: getattr(F, name)(t, **opts), lambda t: getattr(torch.nn.functional, name)(t, **opts), x)


def test_activation_errors():
    x = td.tensor([1.0])
    with pytest.raises(ValueError, match="gelu: approximate"):
        F.gelu(x, approximate="fast")
    with pytest.raises(ValueError, match="hardtanh: min_val"):
        F.hardtanh(x, 2.0, 1.0)
    with pytest.raises(ValueError, match="softplus: beta"):
        F.softplus(x, beta=0)
    with pytest.raises(TypeError, match="elu: alpha"):
        F.elu(x, alpha="1")
    with pytest.raises(ValueError, match="leaky_relu: inplace"):
        F.leaky_relu(x, inplace=True)


def test_activations_of_integers_give_float32(torch):
    x = np.array([-2, 0, 3])
    for name in ("gelu", "silu", "softplus", "elu", "leaky_relu", "hardtanh"):
        ours = getattr(F, name)(td.tensor(x))
        assert ours.dtype == np.float32, name
        np.testing.assert_allclose(
            ours.numpy(), getattr(torch.nn.functional, name)(torch.tensor(x.astype(np.float32))), rtol=1e-6
        )


# ------------------------------------------------------------------------------- layers
LAYERS = [
    ("LeakyReLU", {}), ("LeakyReLU", {"negative_slope": 0.3}),
    ("ELU", {}), ("ELU", {"alpha": 0.7}),
    ("GELU", {}), ("GELU", {"approximate": "tanh"}),
    ("SiLU", {}),
    ("Softplus", {}), ("Softplus", {"beta": 2.0, "threshold": 3.0}),
    ("Hardtanh", {}), ("Hardtanh", {"min_val": -2.0, "max_val": 0.5}),
]  # fmt: skip


@pytest.mark.parametrize("name, opts", LAYERS, ids=[f"{n}-{o}" for n, o in LAYERS])
def test_activation_layers_match_torch(torch, name, opts):
    ours, theirs = getattr(td.nn, name)(**opts), getattr(torch.nn, name)(**opts)
    assert ours.state_dict() == {} and len(theirs.state_dict()) == 0
    assert repr(ours) == repr(theirs).replace(", inplace=False", "").replace("inplace=False", "")
    x = np.random.default_rng(0).uniform(-4, 4, (3, 5))
    compare(torch, ours, theirs, x)
    model = td.nn.Sequential(td.nn.Linear(5, 2), getattr(td.nn, name)(**opts))
    assert model(td.tensor(x.astype(np.float32))).shape == (3, 2)


def test_hardtanh_layer_refuses_inverted_bounds():
    with pytest.raises(ValueError, match="Hardtanh: min_val"):
        td.nn.Hardtanh(1.0, -1.0)
    with pytest.raises(ValueError, match="GELU: approximate"):
        td.nn.GELU("sigmoid")
