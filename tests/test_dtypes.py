"""Dtypes as PyTorch gives them: type promotion of binary ops, float results of integer inputs,
``pow``'s gradient at base 0, and the default dtypes of the creation functions.

Every expectation is PyTorch's own answer (the ``torch`` fixture skips without torch), so the
rules of ``tinydl/ops/_util.py:result_type`` are checked against the oracle, case by case.
"""

import itertools

import numpy as np
import pytest

import tinydl as td
from tinydl.ops._util import promote_types, result_type

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
SCALARS = [True, 2, 2.5]


def operands(torch):
    """(tinydl operand, torch operand, label): 1-d and 0-d tensors of every dtype, and Python scalars."""
    out = []
    for name in DTYPES:
        for shape in [(2,), ()]:
            arr = np.full(shape, 1 if name != "bool" else True, dtype=name)
            out.append((td.tensor(arr), torch.tensor(arr), f"{name}{list(shape)}"))
    out += [(s, s, repr(s)) for s in SCALARS]
    return out


def torch_dtype(t):
    return t.numpy().dtype if t.dtype != t.dtype.__class__ else None


@pytest.mark.parametrize("op", ["add", "mul", "sub", "div", "maximum", "minimum", "pow", "where"])
def test_binary_promotion_matches_torch(torch, op):
    """Every pair of (1-d, 0-d, scalar) × (bool, ints, floats): the same result dtype as torch."""
    td_ops = {
        "add": td.ops.add, "mul": td.ops.mul, "sub": td.ops.sub, "div": td.ops.div, "pow": td.ops.pow,
        "maximum": td.maximum, "minimum": td.minimum,
        "where": lambda a, b: td.where(np.array([True, False]), a, b),
    }  # fmt: skip
    torch_ops = {
        "add": torch.add, "mul": torch.mul, "sub": torch.sub, "div": torch.div, "pow": torch.pow,
        "maximum": torch.maximum, "minimum": torch.minimum,
        "where": lambda a, b: torch.where(torch.tensor([True, False]), a, b),
    }  # fmt: skip
    checked = 0
    for (a, ta, la), (b, tb, lb) in itertools.product(operands(torch), repeat=2):
        if not isinstance(a, td.Tensor) and not isinstance(b, td.Tensor):
            continue  # two Python numbers: plain Python arithmetic
        if op in ("maximum", "minimum") and not (isinstance(a, td.Tensor) and isinstance(b, td.Tensor)):
            ta, tb = (x if isinstance(x, torch.Tensor) else torch.tensor(x) for x in (ta, tb))
            continue  # torch.maximum takes tensors only
        try:
            expected = torch_ops[op](ta, tb)
        except (RuntimeError, TypeError):
            continue  # torch refuses the combination (bool − bool, ...): nothing to match
        got = td_ops[op](a, b)
        want = expected.numpy().dtype
        assert got.dtype == want, f"{op}({la}, {lb}): tinydl {got.dtype}, torch {want}"
        np.testing.assert_allclose(got.numpy().astype(np.float64), expected.numpy().astype(np.float64))
        checked += 1
    assert checked > 200


def test_the_issues_cases(torch):
    """The cases named in issue 17, each float64 before the fix, float32 in PyTorch."""
    i = td.tensor([1, 2, 4])
    ti = torch.tensor([1, 2, 4])
    cases = [
        (i + 0.5, ti + 0.5),
        (i * 1.5, ti * 1.5),
        (i / i, ti / ti),
        (i / 2, ti / 2),
        (3 / i, 3 / ti),
        (td.exp(i), torch.exp(ti)),
        (td.maximum(i, td.tensor(2.5)), torch.maximum(ti, torch.tensor(2.5))),
        (i**0.5, ti**0.5),
        (2.0**i, 2.0**ti),
    ]
    for ours, theirs in cases:
        assert ours.dtype == theirs.numpy().dtype == np.float32
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "sin", "cos", "log2", "log10", "rsqrt", "sigmoid", "tanh"])
@pytest.mark.parametrize("dtype", ["bool", "uint8", "int32", "int64", "float16", "float32", "float64"])
def test_unary_float_ops_of_integers_give_the_default_float(torch, name, dtype):
    arr = np.array([1, 2, 3], dtype=dtype) if dtype != "bool" else np.array([True, True])
    ours, theirs = getattr(td, name)(td.tensor(arr)), getattr(torch, name)(torch.tensor(arr))
    assert ours.dtype == theirs.numpy().dtype
    np.testing.assert_allclose(ours.numpy().astype(np.float64), theirs.numpy().astype(np.float64), rtol=2e-3)


@pytest.mark.parametrize("bounds", [(0.5, None), (0, 1), (None, 1.5), (0.5, 2.5)])
@pytest.mark.parametrize("dtype", ["int64", "int32", "float16", "float32"])
def test_clamp_promotes_with_its_bounds_like_torch(torch, bounds, dtype):
    arr = np.array([0, 1, 2, 3], dtype=dtype)
    ours = td.clamp(td.tensor(arr), *bounds)
    theirs = torch.clamp(torch.tensor(arr), *bounds)
    assert ours.dtype == theirs.numpy().dtype
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_mixed_float_gradients_keep_each_inputs_dtype():
    """A float32 tensor and a float64 0-d tensor: float32 result (as torch), gradients in each input's dtype."""
    a = td.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    b = td.tensor(np.array(3.0), requires_grad=True)  # float64, 0-d
    out = a * b
    assert out.dtype == np.float32
    out.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    np.testing.assert_allclose(a.grad.numpy(), [3.0, 3.0])
    np.testing.assert_allclose(b.grad.numpy(), 3.0)


def test_promote_types_differs_from_numpy_only_for_int_and_float():
    assert promote_types("int64", "float32") == np.float32  # NumPy: float64
    assert promote_types("int8", "float16") == np.float16
    assert promote_types("uint8", "int8") == np.int16
    assert promote_types("bool", "int32") == np.int32
    assert result_type(np.zeros(2, np.int32), 5) == np.int32
    assert result_type(np.zeros(2, np.float16), 2.5) == np.float16
    assert result_type(np.zeros((), np.float64), np.zeros(2, np.float32)) == np.float32


# ------------------------------------------------------------------- pow at base 0
POW_POINTS = [0.0, -1.0, 2.0, 0.5, 0.0]


def same(ours, theirs):
    """Equal to rounding, with NaN and ±inf at the same places (assert_allclose compares those exactly)."""
    np.testing.assert_allclose(ours, theirs, rtol=1e-14, atol=0)


@pytest.mark.parametrize("exponent", [0.0, 1.0, 2.0, 0.5, -1.0, -0.5, 3.0])
def test_pow_gradients_at_base_zero_match_torch(torch, exponent):
    """x ** e and x ** tensor(e) at x = 0 (and around it): both gradients exactly as torch, NaN and ±inf included."""
    x = np.array(POW_POINTS)
    for as_tensor in (False, True):
        a, ta = td.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        e = td.tensor(np.array(exponent), requires_grad=True) if as_tensor else exponent
        te = torch.tensor(exponent, dtype=torch.float64, requires_grad=True) if as_tensor else exponent
        with np.errstate(all="ignore"):
            (a**e).sum().backward()
        (ta**te).sum().backward()
        same(a.grad.numpy(), ta.grad.numpy())
        if as_tensor:
            same(e.grad.numpy(), te.grad.numpy())


def test_pow_exponent_gradient_with_base_zero_matches_torch(torch):
    """0 ** y and tensor(0) ** y: ∂/∂y is 0 where y ≥ 0 (PyTorch), −inf where y < 0."""
    y = np.array([0.0, 1.0, -1.0, 2.0, 0.5])
    for base in (0.0, "tensor"):
        ty, ours_y = torch.tensor(y, requires_grad=True), td.tensor(y, requires_grad=True)
        b = td.tensor(np.zeros(5), requires_grad=True) if base == "tensor" else base
        tb = torch.zeros(5, dtype=torch.float64, requires_grad=True) if base == "tensor" else base
        with np.errstate(all="ignore"):
            (b**ours_y).sum().backward()
        (tb**ty).sum().backward()
        same(ours_y.grad.numpy(), ty.grad.numpy())
        assert not np.isnan(ours_y.grad.numpy()[[0, 1, 3, 4]]).any()
        if base == "tensor":
            same(b.grad.numpy(), tb.grad.numpy())


def test_x_to_the_zero_passes_zero_gradient_at_zero():
    x = td.tensor(np.array([0.0, 3.0]), requires_grad=True)
    (x**0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])


# ------------------------------------------------------------------------- creation
@pytest.mark.parametrize("args", [(5,), (2, 7), (0, 10, 3), (5.0,), (0, 1, 0.25), (0.5, 3), (-1, 1, 0.1), (10, 0, -3)])
def test_arange_dtype_and_values_match_torch(torch, args):
    ours, theirs = td.arange(*args), torch.arange(*args)
    assert ours.dtype == theirs.numpy().dtype
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-7)


def test_arange_with_a_dtype_and_errors(torch):
    assert td.arange(4, dtype=np.float64).dtype == torch.arange(4, dtype=torch.float64).numpy().dtype
    with pytest.raises(ValueError, match="arange: step"):
        td.arange(0, 4, 0)
    with pytest.raises(TypeError, match="arange takes"):
        td.arange()


@pytest.mark.parametrize("value", [3, 3.0, True, -2.5, 0])
@pytest.mark.parametrize("dtype", [None, "float64", "int32"])
def test_full_matches_torch(torch, value, dtype):
    ours = td.full((2, 3), value, dtype=dtype)
    theirs = torch.full((2, 3), value, dtype=getattr(torch, dtype) if dtype else None)
    assert ours.dtype == theirs.numpy().dtype and ours.shape == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("value", [2, 2.5, True])
@pytest.mark.parametrize("like", ["int64", "float32", "float64", "bool"])
@pytest.mark.parametrize("dtype", [None, "float32"])
def test_full_like_matches_torch(torch, value, like, dtype):
    arr = np.zeros((2, 2), dtype=like)
    ours = td.full_like(td.tensor(arr), value, dtype=dtype)
    theirs = torch.full_like(torch.tensor(arr), value, dtype=getattr(torch, dtype) if dtype else None)
    assert ours.dtype == theirs.numpy().dtype
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("n, m", [(3, None), (2, 4), (4, 2), (0, None), (1, 1)])
@pytest.mark.parametrize("dtype", [None, "float64", "int64", "bool"])
def test_eye_matches_torch(torch, n, m, dtype):
    tdt = getattr(torch, dtype) if dtype else None
    ours = td.eye(n, m, dtype=dtype)
    theirs = torch.eye(n, dtype=tdt) if m is None else torch.eye(n, m, dtype=tdt)
    assert ours.dtype == theirs.numpy().dtype
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("start, end, steps", [(0, 1, 5), (-1.3, 7.7, 7), (2, 2, 3), (0, 1, 1), (0, 1, 0), (5, -5, 11)])
@pytest.mark.parametrize("dtype", [None, "float64", "int64"])
def test_linspace_matches_torch(torch, start, end, steps, dtype):
    tdt = getattr(torch, dtype) if dtype else None
    ours, theirs = td.linspace(start, end, steps, dtype=dtype), torch.linspace(start, end, steps, dtype=tdt)
    assert ours.dtype == theirs.numpy().dtype
    # torch computes float32 linspace in float32: 1 ulp apart from the float64-then-cast values here
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=3e-7, atol=3e-7)


def test_creation_errors_and_grad():
    assert td.full((2,), 1.0, requires_grad=True).requires_grad
    assert td.eye(2, requires_grad=True).requires_grad
    with pytest.raises(ValueError, match="full: a size"):
        td.full((2, -1), 1.0)
    with pytest.raises(TypeError, match="full: fill_value"):
        td.full((2,), "a")
    with pytest.raises(ValueError, match="eye: a size"):
        td.eye(-1)
    with pytest.raises(ValueError, match="linspace: steps"):
        td.linspace(0, 1, -2)
    with pytest.raises(TypeError, match="full_like: fill_value"):
        td.full_like(td.zeros(2), None)
    with pytest.raises(TypeError, match="full_like: expects"):
        td.full_like([1, 2], 0)
