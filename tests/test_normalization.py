"""Batch normalisation and dropout: gradchecks, NumPy references, running statistics, modes, PyTorch.

Values for the batch-norm gradchecks are drawn pairwise apart
(``tst.distinct_arrays``), so every channel has a variance well above ε and
the normalisation is well conditioned for central differences.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinydl as td
from tinydl.nn.normalization import BatchNorm1d, BatchNorm2d, Dropout
from tinydl.ops.normalization import batch_norm, dropout
from tinydl.testing import strategies as tst

TOLERANCE = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-5}
DTYPES = (np.float64, np.float32)
EPS = 1e-5


# ------------------------------------------------------------- NumPy references
def channel_axes(x):
    return (0,) + tuple(range(2, x.ndim)), (1, x.shape[1]) + (1,) * (x.ndim - 2)


def np_batch_norm_train(x, weight, bias, eps=EPS):
    axes, shape = channel_axes(x)
    mean, var = x.mean(axis=axes), x.var(axis=axes)  # biased variance
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * weight.reshape(shape) + bias.reshape(shape)


def np_batch_norm_eval(x, running_mean, running_var, weight, bias, eps=EPS):
    _, shape = channel_axes(x)
    return (x - running_mean.reshape(shape)) / np.sqrt(running_var.reshape(shape) + eps) * weight.reshape(
        shape
    ) + bias.reshape(shape)


def relative_error(actual, expected):
    """max|actual − expected| / max(max|expected|, 1), as in test_ops_torch.py."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    return float(np.max(np.abs(actual - expected))) / max(float(np.max(np.abs(expected))), 1.0)


def assert_close(actual, expected, dtype, what):
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} vs {expected.shape}"
    err = relative_error(actual, expected)
    assert err < TOLERANCE[np.dtype(dtype)], f"{what} ({np.dtype(dtype)}): relative error {err:.3e}"


# ------------------------------------------------------------------ strategies
@st.composite
def bn_shapes(draw, ndim):
    """(N, C) or (N, C, H, W) with at least 2 values per channel and ≤ 24 elements."""
    c = draw(st.integers(1, 3))
    if ndim == 2:
        return (draw(st.integers(2, 6)), c)
    n, h, w = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    if n * h * w == 1:
        n = 2
    return (n, c, h, w)


@st.composite
def bn_problem(draw, ndim):
    shape = draw(bn_shapes(ndim))
    x = draw(tst.distinct_arrays(shape, gap=0.1, high=3.0))
    c = shape[1]
    weight = draw(tst.nonzero_arrays((c,), margin=0.2, high=2.0))
    bias = draw(tst.float_arrays((c,)))
    return x, weight, bias


def fresh_stats(c, dtype=np.float64):
    return np.zeros(c, dtype), np.ones(c, dtype)


# ------------------------------------------------------------ batch_norm: gradcheck
@pytest.mark.parametrize("ndim", [2, 4])
@given(data=st.data())
def test_batch_norm_train_forward_and_gradcheck(ndim, data):
    x, weight, bias = data.draw(bn_problem(ndim))
    rm, rv = fresh_stats(x.shape[1])
    out = batch_norm(td.tensor(x), rm, rv, td.tensor(weight), td.tensor(bias), training=True)
    assert out.dtype == np.float64 and out.shape == x.shape
    np.testing.assert_allclose(out.numpy(), np_batch_norm_train(x, weight, bias), rtol=1e-10, atol=1e-10)
    fn = lambda x_, w_, b_: batch_norm(x_, *fresh_stats(x.shape[1]), w_, b_, training=True)  # noqa: E731
    td.gradcheck(fn, x, weight, bias)


@pytest.mark.parametrize("ndim", [2, 4])
@given(data=st.data())
def test_batch_norm_train_without_affine_gradcheck(ndim, data):
    x, _, _ = data.draw(bn_problem(ndim))
    out = batch_norm(td.tensor(x), None, None, training=True)
    np.testing.assert_allclose(
        out.numpy(), np_batch_norm_train(x, np.ones(x.shape[1]), np.zeros(x.shape[1])), rtol=1e-10, atol=1e-10
    )
    td.gradcheck(lambda x_: batch_norm(x_, None, None, training=True), x)


@pytest.mark.parametrize("ndim", [2, 4])
@given(data=st.data())
def test_batch_norm_eval_forward_and_gradcheck(ndim, data):
    x, weight, bias = data.draw(bn_problem(ndim))
    c = x.shape[1]
    rm = data.draw(tst.float_arrays((c,)))
    rv = data.draw(tst.positive_arrays((c,), 0.1, 3.0))
    rm0, rv0 = rm.copy(), rv.copy()
    fn = lambda x_, w_, b_: batch_norm(x_, rm, rv, w_, b_, training=False)  # noqa: E731
    out = fn(td.tensor(x), td.tensor(weight), td.tensor(bias))
    np.testing.assert_allclose(out.numpy(), np_batch_norm_eval(x, rm, rv, weight, bias), rtol=1e-12, atol=1e-12)
    td.gradcheck(fn, x, weight, bias)
    np.testing.assert_array_equal(rm, rm0)  # evaluation never touches the running statistics
    np.testing.assert_array_equal(rv, rv0)


def test_batch_norm_train_gradient_matches_the_compact_formula():
    rng = np.random.default_rng(0)
    x, w, g = rng.standard_normal((5, 3, 2, 2)), rng.standard_normal(3), rng.standard_normal((5, 3, 2, 2))
    xt, wt = td.tensor(x, requires_grad=True), td.tensor(w, requires_grad=True)
    batch_norm(xt, None, None, wt, training=True).backward(g)
    axes, shape = channel_axes(x)
    sigma = np.sqrt(x.var(axis=axes, keepdims=True) + EPS)
    x_hat = (x - x.mean(axis=axes, keepdims=True)) / sigma
    dx = (
        w.reshape(shape)
        / sigma
        * (g - g.mean(axis=axes, keepdims=True) - x_hat * (g * x_hat).mean(axis=axes, keepdims=True))
    )
    np.testing.assert_allclose(xt.grad.numpy(), dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(wt.grad.numpy(), (g * x_hat).sum(axis=axes), rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------ running statistics
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 2, 5)])
def test_running_statistics_follow_pytorch_rule(shape):
    rng = np.random.default_rng(1)
    c, momentum = shape[1], 0.3
    rm, rv = fresh_stats(c)
    expected_m, expected_v = rm.copy(), rv.copy()
    for _ in range(4):
        x = rng.standard_normal(shape) * 2 + 1
        axes, _ = channel_axes(x)
        rm_id = id(rm)
        batch_norm(td.tensor(x), rm, rv, training=True, momentum=momentum)
        assert id(rm) == rm_id
        expected_m = (1 - momentum) * expected_m + momentum * x.mean(axis=axes)
        expected_v = (1 - momentum) * expected_v + momentum * x.var(axis=axes, ddof=1)  # unbiased
        np.testing.assert_allclose(rm, expected_m, rtol=1e-12)
        np.testing.assert_allclose(rv, expected_v, rtol=1e-12)


def test_running_statistics_as_tensors_update_in_place_even_under_no_grad():
    rm, rv = td.tensor(np.zeros(2)), td.tensor(np.ones(2))
    x = np.array([[1.0, 2.0], [3.0, 6.0]])
    with td.no_grad():
        out = batch_norm(td.tensor(x, requires_grad=True), rm, rv, training=True)
    assert not out.requires_grad
    np.testing.assert_allclose(rm.numpy(), [0.2, 0.4])
    np.testing.assert_allclose(rv.numpy(), [0.9 + 0.1 * 2.0, 0.9 + 0.1 * 8.0])


# ------------------------------------------------------------ modules
def test_batchnorm_parameters_buffers_and_state_dict_names():
    bn = BatchNorm2d(4)
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    state = bn.state_dict()
    np.testing.assert_array_equal(state["weight"], np.ones(4))
    np.testing.assert_array_equal(state["bias"], np.zeros(4))
    np.testing.assert_array_equal(state["running_mean"], np.zeros(4))
    np.testing.assert_array_equal(state["running_var"], np.ones(4))
    assert state["num_batches_tracked"].shape == () and state["num_batches_tracked"].dtype == np.int64
    assert bn.weight.dtype == np.float32 and bn.running_mean.dtype == np.float32
    bn.double()
    assert bn.running_var.dtype == np.float64 and bn.num_batches_tracked.dtype == np.int64
    assert repr(bn) == "BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"
    assert repr(Dropout(0.25)) == "Dropout(p=0.25)"


def test_batchnorm_without_affine_or_running_stats():
    bn = BatchNorm1d(3, affine=False, track_running_stats=False, dtype=np.float64)
    assert list(bn.parameters()) == [] and list(bn.state_dict()) == []
    x = np.random.default_rng(2).standard_normal((5, 3))
    bn.eval()  # without running statistics, evaluation uses the batch's
    np.testing.assert_allclose(bn(td.tensor(x)).numpy(), np_batch_norm_train(x, np.ones(3), np.zeros(3)), rtol=1e-10)


def test_train_eval_switching():
    rng = np.random.default_rng(3)
    bn = BatchNorm1d(3, dtype=np.float64)
    model = td.nn.Sequential(td.nn.Linear(2, 3, dtype=np.float64), bn, Dropout(0.5))
    x = rng.standard_normal((8, 3)) * 3 + 2
    for _ in range(3):
        bn(td.tensor(x))
    assert bn.num_batches_tracked.item() == 3
    state = bn.state_dict()
    model.eval()
    assert not bn.training and not model[2].training
    y = bn(td.tensor(x))
    np.testing.assert_allclose(
        y.numpy(),
        np_batch_norm_eval(x, state["running_mean"], state["running_var"], np.ones(3), np.zeros(3)),
        rtol=1e-12,
    )
    assert bn.num_batches_tracked.item() == 3  # evaluation changes nothing
    np.testing.assert_array_equal(bn.state_dict()["running_mean"], state["running_mean"])
    h = td.tensor(rng.standard_normal((4, 3)))
    assert model[2](h) is h  # Dropout is the identity in evaluation
    model.train()
    bn(td.tensor(x))
    assert bn.num_batches_tracked.item() == 4


def test_momentum_none_is_a_cumulative_average():
    rng = np.random.default_rng(4)
    bn = BatchNorm1d(2, momentum=None, dtype=np.float64)
    batches = [rng.standard_normal((5, 2)) + i for i in range(4)]
    for b in batches:
        bn(td.tensor(b))
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean([b.mean(0) for b in batches], axis=0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), np.mean([b.var(0, ddof=1) for b in batches], axis=0), rtol=1e-12)


def test_batchnorm_module_trains_end_to_end():
    td.manual_seed(0)
    model = td.nn.Sequential(td.nn.Linear(3, 4), BatchNorm1d(4), td.nn.ReLU(), td.nn.Linear(4, 1))
    model(td.randn(6, 3)).sum().backward()
    bn = model[1]
    assert bn.weight.grad is not None and bn.bias.grad is not None and model[0].weight.grad is not None
    assert bn.weight.grad.dtype == np.float32 and bn.running_mean.grad is None


# ------------------------------------------------------------ PyTorch cross-checks
def load_from_torch(ours, theirs):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "kind, shape, momentum",
    [("1d", (8, 3), 0.1), ("1d", (4, 3, 5), 0.25), ("2d", (4, 3, 3, 2), 0.1), ("2d", (2, 3, 4, 4), None)],
)
def test_batchnorm_matches_torch(torch, kind, shape, momentum, dtype):
    rng = np.random.default_rng(5)
    c = shape[1]
    torch_cls, our_cls = (torch.nn.BatchNorm1d, BatchNorm1d) if kind == "1d" else (torch.nn.BatchNorm2d, BatchNorm2d)
    theirs = torch_cls(c, momentum=momentum).to(getattr(torch, np.dtype(dtype).name))
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(rng.uniform(0.5, 2.0, c).astype(dtype)))
        theirs.bias.copy_(torch.from_numpy(rng.standard_normal(c).astype(dtype)))
    ours = our_cls(c, momentum=momentum, dtype=dtype)
    load_from_torch(ours, theirs)  # the state_dicts line up, key for key

    def step(x):
        upstream = rng.standard_normal(shape).astype(dtype)
        xt, xo = torch.tensor(x, requires_grad=True), td.tensor(x, requires_grad=True)
        theirs.zero_grad(), ours.zero_grad()
        ref, out = theirs(xt), ours(xo)
        assert out.dtype == np.dtype(dtype)
        assert_close(out.numpy(), ref.detach().numpy(), dtype, "forward")
        ref.backward(torch.from_numpy(upstream))
        out.backward(upstream)
        assert_close(xo.grad.numpy(), xt.grad.numpy(), dtype, "gradient of x")
        assert_close(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), dtype, "gradient of weight")
        assert_close(ours.bias.grad.numpy(), theirs.bias.grad.numpy(), dtype, "gradient of bias")

    for i in range(4):
        step((rng.standard_normal(shape) * (1 + i) + i).astype(dtype))
        for name, value in theirs.state_dict().items():
            ours_value = ours.state_dict()[name]
            if name == "num_batches_tracked":
                assert ours_value.dtype == np.int64 and int(ours_value) == int(value) == i + 1
            else:
                assert_close(ours_value, value.numpy(), dtype, name)
    theirs.eval(), ours.eval()
    step((rng.standard_normal(shape) + 0.5).astype(dtype))
    assert int(ours.num_batches_tracked.item()) == 4


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data(), p=st.sampled_from([0.1, 0.5, 0.8]))
def test_dropout_matches_torch_formula_with_the_same_mask(torch, dtype, data, p):
    shape = data.draw(tst.shapes(min_dims=1, max_dims=4, max_size=60))
    x = data.draw(tst.float_arrays(shape)).astype(dtype)
    mask = data.draw(tst.boolean_masks(shape))
    upstream = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    xo, xt = td.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = dropout(xo, p, mask=mask)
    ref = xt * torch.from_numpy(mask).to(xt.dtype) / (1 - p)
    assert out.dtype == np.dtype(dtype)
    assert_close(out.numpy(), ref.detach().numpy(), dtype, "forward")
    out.backward(upstream)
    ref.backward(torch.from_numpy(upstream))
    assert_close(xo.grad.numpy(), xt.grad.numpy(), dtype, "gradient")


def test_dropout_edge_cases_match_torch(torch):
    x = np.arange(-3.0, 3.0).reshape(2, 3)
    xt = torch.tensor(x)
    for p, training in [(0.0, True), (0.5, False)]:  # p = 1 is refused (PyTorch gives zeros)
        np.testing.assert_array_equal(
            dropout(td.tensor(x), p, training=training).numpy(),
            torch.nn.functional.dropout(xt, p, training=training).numpy(),
        )


# ------------------------------------------------------------ dropout
@given(data=st.data(), p=st.floats(0.05, 0.95))
def test_dropout_forward_and_gradcheck_with_fixed_mask(data, p):
    shape = data.draw(tst.shapes(max_size=24))
    x = data.draw(tst.float_arrays(shape))
    mask = data.draw(tst.boolean_masks(shape))
    out = dropout(td.tensor(x), p, mask=mask)
    np.testing.assert_allclose(out.numpy(), x * mask / (1 - p), rtol=1e-14, atol=0)
    td.gradcheck(lambda t: dropout(t, p, mask=mask), x)
    td.gradcheck(lambda t: dropout(t, p, mask=mask.astype(np.float64)), x)  # 0/1 floats work too


def test_dropout_broadcast_mask_drops_whole_channels():
    x = np.ones((2, 3, 2, 2))
    mask = np.array([1, 0, 1], dtype=bool).reshape(1, 3, 1, 1)
    out = dropout(td.tensor(x), 0.5, mask=mask).numpy()
    assert np.all(out[:, 1] == 0) and np.all(out[:, [0, 2]] == 2)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.7])
def test_dropout_statistics(p):
    td.manual_seed(123)
    x = td.ones(400, 500)
    y = dropout(x, p).numpy()
    n = y.size
    zeroed = np.mean(y == 0)
    assert abs(zeroed - p) < 10 * np.sqrt(p * (1 - p) / n)  # 10 standard deviations
    assert abs(y.mean() - 1) < 10 * np.sqrt(p / (1 - p) / n)  # inverted dropout keeps E[y] = x
    assert set(np.unique(y).tolist()) == {0.0, np.float32(1 / (1 - p))}


def test_dropout_is_repeatable_with_manual_seed():
    x = td.randn(50, 40)
    td.manual_seed(9)
    a = dropout(x, 0.5).numpy()
    td.manual_seed(9)
    b = Dropout(0.5)(x).numpy()
    td.manual_seed(10)
    c = dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_dropout_p_zero_and_eval_are_the_identity():
    x = td.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert dropout(x, 0.0) is x
    assert dropout(x, 0.5, training=False) is x
    module = Dropout(0.3).eval()
    assert module(x) is x


# ------------------------------------------------------------ errors
def test_batch_norm_errors():
    x = td.tensor(np.random.default_rng(6).standard_normal((4, 3)))
    with pytest.raises(ValueError, match=r"shape \(N, C\) or \(N, C, H, W\), got shape \(3,\)"):
        batch_norm(td.tensor(np.ones(3)), None, None)
    with pytest.raises(ValueError, match=r"running_mean must have shape \(3,\).*got shape \(4,\)"):
        batch_norm(x, np.zeros(4), np.ones(4))
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\).*got shape \(2,\)"):
        batch_norm(x, None, None, weight=td.tensor(np.ones(2)))
    with pytest.raises(ValueError, match="expected more than 1 value per channel when training"):
        batch_norm(td.tensor(np.ones((1, 3))), np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="expected more than 1 value per channel when training"):
        batch_norm(td.tensor(np.ones((1, 3, 1, 1))), None, None)
    batch_norm(td.tensor(np.ones((1, 3))), np.zeros(3), np.ones(3), training=False)  # fine in evaluation
    with pytest.raises(ValueError, match="needs running_mean and running_var"):
        batch_norm(x, None, None, training=False)
    with pytest.raises(ValueError, match="both running_mean and running_var"):
        batch_norm(x, np.zeros(3), None)
    with pytest.raises(ValueError, match="momentum"):
        batch_norm(x, np.zeros(3), np.ones(3), momentum=None)
    with pytest.raises(ValueError, match="eps"):
        batch_norm(x, np.zeros(3), np.ones(3), eps=0)


def test_batchnorm_module_errors():
    bn1, bn2 = BatchNorm1d(3), BatchNorm2d(3)
    with pytest.raises(
        ValueError,
        match=r"BatchNorm1d\(3\) expects input of shape \(N, C\) or \(N, C, L\) with C = 3, got shape \(4, 5\)",
    ):
        bn1(td.zeros(4, 5))
    with pytest.raises(
        ValueError, match=r"BatchNorm2d\(3\) expects input of shape \(N, C, H, W\) with C = 3, got shape \(4, 3\)"
    ):
        bn2(td.zeros(4, 3))
    with pytest.raises(ValueError, match=r"with C = 3, got shape \(2, 4, 5, 5\)"):
        bn2(td.zeros(2, 4, 5, 5))
    with pytest.raises(ValueError, match="expected more than 1 value per channel when training"):
        bn1(td.zeros(1, 3))
    assert bn1.num_batches_tracked.item() == 0  # a failed call changes nothing
    with pytest.raises(TypeError, match="float32 parameters but got a float64 input"):
        bn1(td.tensor(np.zeros((4, 3))))
    for bad in [
        dict(num_features=0),
        dict(num_features=2.5),
        dict(num_features=3, eps=-1.0),
        dict(num_features=3, momentum=1.5),
    ]:
        with pytest.raises(ValueError):
            BatchNorm1d(**bad)


def test_dropout_errors():
    x = td.ones(2, 3)
    for p in (-0.1, 1.0, 1.5, float("nan"), True, "0.5"):
        with pytest.raises(ValueError, match=r"^dropout: .* in \[0, 1\)"):
            dropout(x, p)
        with pytest.raises(ValueError, match=r"^Dropout\(p\): .* in \[0, 1\)"):
            Dropout(p)
        with pytest.raises(ValueError, match=r"^ConvNet\(dropout\): .* in \[0, 1\)"):
            td.models.ConvNet(dropout=p)
    with pytest.raises(ValueError, match=r"mask of shape \(3, 2\) does not broadcast to the input shape \(2, 3\)"):
        dropout(x, 0.5, mask=np.ones((3, 2)))
    with pytest.raises(ValueError, match="only 0s and 1s"):
        dropout(x, 0.5, mask=np.full((2, 3), 0.5))


# ------------------------------------------------------------- batch-norm kernels: every implementation alike
BN_IMPLS = [name for name in td.kernels.available("batchnorm") if name != "numpy"]


@pytest.mark.skipif(not BN_IMPLS, reason="only the NumPy batch-norm kernels are installed")
@pytest.mark.parametrize("impl", BN_IMPLS)
@pytest.mark.parametrize("dtype", DTYPES)
@given(
    shape=st.sampled_from([(2, 3), (5, 1), (3, 4, 7), (2, 3, 5, 4), (1, 2, 3, 3), (4, 8, 6, 5)]),
    seed=st.integers(0, 2**16),
    need_x=st.booleans(),
    transposed=st.booleans(),
)
def test_batchnorm_kernels_match_the_formulas(impl, dtype, shape, seed, need_x, transposed):
    """Each registered batch-norm kernel computes what the formulas of kernels/numpy_norm.py compute."""
    rng = np.random.default_rng(seed)
    x = (
        rng.standard_normal(shape) * 3 + rng.standard_normal(shape[1]).reshape((1, -1) + (1,) * (len(shape) - 2))
    ).astype(dtype)
    if transposed and len(shape) == 4:  # a non-contiguous input (e.g. a channels-last array viewed as NCHW)
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    weight, bias = rng.standard_normal(shape[1]).astype(dtype), rng.standard_normal(shape[1]).astype(dtype)
    grad = rng.standard_normal(shape).astype(dtype)
    formulas, kernel = td.kernels.get("batchnorm", "numpy"), td.kernels.get("batchnorm", impl)
    expected = formulas.batchnorm_train_forward(x, weight, bias, EPS)
    got = kernel.batchnorm_train_forward(x, weight, bias, EPS)
    for name, e, g in zip(("y", "x_hat", "mean", "var", "inv_std"), expected, got):
        assert g.dtype == e.dtype, name
        assert_close(g, e, dtype, f"{impl} {name}")
    expected_grads = formulas.batchnorm_train_backward(grad, expected[1], expected[4], weight, need_x)
    got_grads = kernel.batchnorm_train_backward(grad, expected[1], expected[4], weight, need_x)
    for name, e, g in zip(("grad_x", "grad_weight", "grad_bias"), expected_grads, got_grads):
        if e is None:
            assert g is None, name
        else:
            assert_close(g, e, dtype, f"{impl} {name}")


def test_batch_norm_on_a_cupy_like_array_uses_the_formulas():
    """Arrays that are not NumPy's (CuPy on a GPU) go to the xp-generic lines, never to a CPU kernel."""
    from tinydl.ops import normalization

    class DeviceArray:  # stands for a cupy.ndarray: not a NumPy array
        pass

    assert normalization._train_kernels(np.zeros(3)).name == td.kernels.current("batchnorm")
    assert normalization._train_kernels(DeviceArray()).name == "numpy"
