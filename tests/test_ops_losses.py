"""Losses against NumPy (float64 gradcheck) and against PyTorch (values and gradients, float64 and float32).

Covers ``cross_entropy`` (integer labels and class probabilities; class weights, ``ignore_index``,
``label_smoothing``, per pixel on (N, C, H, W) and (N, C, d)), ``nll_loss``,
``binary_cross_entropy`` (on probabilities, logs clamped at −100), ``binary_cross_entropy_with_logits``
with a differentiable target, ``one_hot``, every ``reduction``, and the loss Modules.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from op_checks import check, compare

import tinydl as td
import tinydl.nn.functional as F
from tinydl.testing import strategies as tst

REDUCTIONS = ["mean", "sum", "none"]


def np_dtype(t):
    return t.detach().numpy().dtype


def as_torch(torch, a, like):
    return None if a is None else torch.from_numpy(np.asarray(a, dtype=np_dtype(like)))


# ---------------------------------------------------------------- NumPy references
def np_log_softmax(z, axis=1):
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def reduce_np(losses, reduction, norm):
    if reduction == "none":
        return losses
    return losses.sum() / norm if reduction == "mean" else losses.sum()


def np_nll(lp, y, w, ignore_index, reduction):
    """lp (N, C, ...) log-probabilities, y (N, ...) labels."""
    c = lp.shape[1]
    w = np.ones(c) if w is None else w
    valid = y != ignore_index
    safe = np.where(valid, y, 0)
    picked = np.take_along_axis(lp, safe[:, None], axis=1)[:, 0]
    sw = w[safe] * valid
    return reduce_np(-sw * picked, reduction, sw.sum())


def np_cross_entropy(z, y, w=None, reduction="mean", ignore_index=-100, eps=0.0):
    lp = np_log_softmax(z)
    c = z.shape[1]
    wv = np.ones(c) if w is None else w
    shape = (1, c) + (1,) * (z.ndim - 2)
    if y.dtype.kind == "f":  # class probabilities
        t = y * (1 - eps) + eps / c
        losses = -(t * wv.reshape(shape) * lp).sum(axis=1)
        return reduce_np(losses, reduction, losses.size)
    nll = np_nll(lp, y, w, ignore_index, reduction)
    valid = y != ignore_index
    smooth = -(lp * wv.reshape(shape)).sum(axis=1) * valid
    smooth = reduce_np(smooth, reduction, (wv[np.where(valid, y, 0)] * valid).sum())
    return (1 - eps) * nll + eps / c * smooth


def np_bce(p, y, w=None, reduction="mean"):
    losses = -(y * np.maximum(np.log(p), -100) + (1 - y) * np.maximum(np.log1p(-p), -100))
    if w is not None:
        losses = losses * w
    return reduce_np(losses, reduction, losses.size)


def np_bce_logits(x, y, pos_weight=None, reduction="mean"):
    p = 1.0 if pos_weight is None else pos_weight
    softplus_neg = np.logaddexp(0.0, -x)
    losses = (1 - y) * x + (1 + (p - 1) * y) * softplus_neg
    return reduce_np(losses, reduction, losses.size)


# ---------------------------------------------------------------- strategies
@st.composite
def classification(draw, spatial=None):
    """Logits (N, C, *spatial), labels (N, *spatial) with some equal to ignore_index, class weights or None."""
    n, c = draw(st.integers(1, 3)), draw(st.integers(2, 4))
    if spatial is None:
        spatial = draw(st.sampled_from([(), (2,), (2, 3)]))
    z = draw(tst.float_arrays((n, c, *spatial), -4.0, 4.0))
    y = draw(hnp.arrays(np.int64, (n, *spatial), elements=st.integers(0, c - 1)))
    ignore_index = draw(st.sampled_from([-100, 0]))
    ignored = draw(tst.boolean_masks(y.shape))
    y = np.where(ignored, ignore_index, y)
    y.flat[0] = c - 1  # at least one label counts (an all-ignored 'mean' is 0/0 = nan, in PyTorch too)
    weight = draw(st.none() | tst.positive_arrays((c,), 0.2, 2.0))
    return z, y, weight, ignore_index


# ---------------------------------------------------------------- 1. targets are differentiable
@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data(), eps=st.sampled_from([0.0, 0.1]), spatial=st.sampled_from([(), (3,)]))
def test_cross_entropy_soft_target_gradient(torch, reduction, data, eps, spatial):
    """Soft targets get dℓ/dt = −w log softmax(z), as in PyTorch (failed before: the target was a constant)."""
    n, c = data.draw(st.integers(1, 3)), data.draw(st.integers(2, 4))
    z = data.draw(tst.float_arrays((n, c, *spatial), -4.0, 4.0))
    t = data.draw(tst.positive_arrays((n, c, *spatial), 0.05, 1.0))
    t = t / t.sum(axis=1, keepdims=True)
    weight = data.draw(st.none() | tst.positive_arrays((c,), 0.2, 2.0))

    def ours(z, t):
        return F.cross_entropy(z, t, weight=weight, reduction=reduction, label_smoothing=eps)

    def theirs(z, t):
        w = as_torch(torch, weight, z)
        return torch.nn.functional.cross_entropy(z, t, weight=w, reduction=reduction, label_smoothing=eps)

    compare(torch, ours, theirs, z, t)
    check(ours, lambda z, t: np_cross_entropy(z, t, weight, reduction, eps=eps), z, t)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data(), use_weight=st.booleans(), use_pos_weight=st.booleans())
def test_bce_with_logits_target_gradient(torch, reduction, data, use_weight, use_pos_weight):
    """dℓ/dy = −x + (p − 1) softplus(−x), times the weight (failed before: the target was a constant)."""
    shape = data.draw(tst.shapes(min_dims=1, max_dims=3, max_size=24))
    x = data.draw(tst.float_arrays(shape, -6.0, 6.0))
    y = data.draw(tst.float_arrays(shape, 0.0, 1.0))
    weight = data.draw(tst.positive_arrays(shape, 0.1, 2.0)) if use_weight else None
    pos_weight = data.draw(tst.positive_arrays(shape[-1:], 0.1, 3.0)) if use_pos_weight else None

    def ours(x, y):
        return F.binary_cross_entropy_with_logits(x, y, weight=weight, pos_weight=pos_weight, reduction=reduction)

    def theirs(x, y):
        return torch.nn.functional.binary_cross_entropy_with_logits(
            x, y, weight=as_torch(torch, weight, x), pos_weight=as_torch(torch, pos_weight, x), reduction=reduction
        )

    compare(torch, ours, theirs, x, y)
    if weight is None:
        check(ours, lambda x, y: np_bce_logits(x, y, pos_weight, reduction), x, y)


def test_constant_target_gets_no_gradient():
    z = td.tensor(np.zeros((2, 3)), requires_grad=True)
    t = td.tensor(np.full((2, 3), 1 / 3))  # requires_grad=False
    F.cross_entropy(z, t).backward()
    assert z.grad is not None and t.grad is None


# ---------------------------------------------------------------- 2. cross_entropy options
@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(problem=classification(), eps=st.sampled_from([0.0, 0.25]))
def test_cross_entropy_options(torch, reduction, problem, eps):
    """Class weights, ignore_index (-100 or a real class), label_smoothing, per pixel (N, C, d1, ...)."""
    z, y, weight, ignore_index = problem

    def ours(z):
        return F.cross_entropy(z, y, weight=weight, reduction=reduction, ignore_index=ignore_index, label_smoothing=eps)

    def theirs(z):
        return torch.nn.functional.cross_entropy(
            z,
            torch.from_numpy(y),
            weight=as_torch(torch, weight, z),
            reduction=reduction,
            ignore_index=ignore_index,
            label_smoothing=eps,
        )

    compare(torch, ours, theirs, z)
    check(ours, lambda z: np_cross_entropy(z, y, weight, reduction, ignore_index, eps), z)


def test_cross_entropy_per_pixel_shape_and_value(torch):
    """A segmentation batch (N, C, H, W) with labels (N, H, W): 'none' keeps (N, H, W)."""
    rng = np.random.default_rng(0)
    z, y = rng.standard_normal((2, 3, 4, 5)), rng.integers(0, 3, (2, 4, 5))
    y[0, 0, :2] = 255  # unlabelled pixels, a common convention
    losses = F.cross_entropy(td.tensor(z), y, reduction="none", ignore_index=255)
    assert losses.shape == (2, 4, 5) and losses.numpy()[0, 0, 0] == 0
    expected = torch.nn.functional.cross_entropy(
        torch.from_numpy(z), torch.from_numpy(y), reduction="none", ignore_index=255
    )
    np.testing.assert_allclose(losses.numpy(), expected.numpy(), rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- nll_loss
@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(problem=classification())
def test_nll_loss(torch, reduction, problem):
    z, y, weight, ignore_index = problem
    lp = np_log_softmax(z)  # any values work; log-probabilities are what it is meant for

    def ours(x):
        return F.nll_loss(x, y, weight=weight, ignore_index=ignore_index, reduction=reduction)

    def theirs(x):
        return torch.nn.functional.nll_loss(
            x, torch.from_numpy(y), weight=as_torch(torch, weight, x), ignore_index=ignore_index, reduction=reduction
        )

    compare(torch, ours, theirs, lp)
    check(ours, lambda x: np_nll(x, y, weight, ignore_index, reduction), lp)


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_every_label_ignored_gives_nan_as_torch(torch, eps):
    z, y = np.random.default_rng(5).standard_normal((2, 3)), np.array([-100, -100])
    ours = td.tensor(z, requires_grad=True)
    out = F.cross_entropy(ours, y, label_smoothing=eps)
    ref = torch.nn.functional.cross_entropy(torch.tensor(z), torch.from_numpy(y), label_smoothing=eps)
    assert np.isnan(out.item()) and np.isnan(ref.item())
    out.backward()
    np.testing.assert_array_equal(ours.grad.numpy(), 0.0)  # PyTorch's gradient: ignored rows get none
    assert F.cross_entropy(z, y, reduction="sum").item() == 0.0


def test_cross_entropy_is_log_softmax_then_nll():
    rng = np.random.default_rng(1)
    z, y = rng.standard_normal((4, 3)), np.array([0, 2, 1, 2])
    a = F.cross_entropy(td.tensor(z), y).item()
    b = F.nll_loss(td.log_softmax(td.tensor(z), axis=1), y).item()
    assert abs(a - b) < 1e-14


# ---------------------------------------------------------------- binary_cross_entropy
@pytest.mark.parametrize("reduction", REDUCTIONS)
@given(data=st.data(), use_weight=st.booleans())
def test_binary_cross_entropy(torch, reduction, data, use_weight):
    shape = data.draw(tst.shapes(min_dims=1, max_dims=3, max_size=24))
    p = data.draw(tst.float_arrays(shape, 0.05, 0.95))
    y = data.draw(tst.float_arrays(shape, 0.0, 1.0))
    weight = data.draw(tst.positive_arrays(shape[-1:], 0.1, 2.0)) if use_weight else None  # broadcasts

    def ours(p, y):
        return F.binary_cross_entropy(p, y, weight=weight, reduction=reduction)

    def theirs(p, y):
        return torch.nn.functional.binary_cross_entropy(p, y, weight=as_torch(torch, weight, p), reduction=reduction)

    compare(torch, ours, theirs, p, y)
    check(ours, lambda p, y: np_bce(p, y, weight, reduction), p, y)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_binary_cross_entropy_clamps_log_at_minus_100(torch, dtype):
    p = np.array([0.0, 1.0, 0.0, 1.0, 0.5], dtype=dtype)
    y = np.array([1.0, 0.0, 0.0, 1.0, 0.3], dtype=dtype)
    ours, theirs = td.tensor(p, requires_grad=True), torch.tensor(p, requires_grad=True)
    out = F.binary_cross_entropy(ours, y, reduction="none")
    ref = torch.nn.functional.binary_cross_entropy(theirs, torch.from_numpy(y), reduction="none")
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-6)
    assert out.dtype == dtype and np.all(np.isfinite(out.numpy()))
    out.sum().backward()
    ref.sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-6)


# ---------------------------------------------------------------- one_hot
@given(data=st.data(), explicit=st.booleans())
def test_one_hot(torch, data, explicit):
    shape = data.draw(tst.shapes(min_dims=1, max_dims=3, max_size=24))
    labels = data.draw(hnp.arrays(np.int64, shape, elements=st.integers(0, 4)))
    k = 6 if explicit else -1
    ours = F.one_hot(td.tensor(labels), num_classes=k)
    theirs = torch.nn.functional.one_hot(torch.from_numpy(labels), num_classes=k)
    assert ours.dtype == np.int64 and not ours.requires_grad
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


# ---------------------------------------------------------------- modules
def test_loss_modules_match_functional():
    rng = np.random.default_rng(2)
    z, y = td.tensor(rng.standard_normal((3, 4, 2))), rng.integers(0, 4, (3, 2))
    w = np.array([1.0, 2.0, 0.5, 1.0])
    ce = td.nn.CrossEntropyLoss(weight=w, reduction="sum", ignore_index=3, label_smoothing=0.1)
    assert ce(z, y).item() == F.cross_entropy(z, y, w, "sum", ignore_index=3, label_smoothing=0.1).item()
    lp = td.log_softmax(z, axis=1)
    assert td.nn.NLLLoss(weight=w, ignore_index=1)(lp, y).item() == F.nll_loss(lp, y, w, ignore_index=1).item()
    p, t = td.sigmoid(z), rng.random((3, 4, 2))
    assert td.nn.BCELoss(reduction="none")(p, t).shape == (3, 4, 2)
    assert td.nn.BCELoss()(p, t).item() == F.binary_cross_entropy(p, t).item()
    assert "weight" in dict(td.nn.NLLLoss(weight=w).named_buffers())


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: F.cross_entropy(np.zeros((2, 3)), np.array([0, 3])), ValueError, "[0, 3)"),
        (lambda: F.cross_entropy(np.zeros((2, 3, 4)), np.array([0, 1])), ValueError, "(2, 4)"),
        (lambda: F.cross_entropy(np.zeros((2, 3)), np.array([0, 1]), label_smoothing=1.5), ValueError, "smoothing"),
        (lambda: F.cross_entropy(np.zeros((2, 3)), np.zeros((2, 4))), ValueError, "soft targets"),
        (lambda: F.cross_entropy(np.zeros(3), np.array([0])), ValueError, "(N, C)"),
        (lambda: F.nll_loss(np.zeros((2, 3)), np.array([0.5, 1.0])), TypeError, "integers"),
        (lambda: F.nll_loss(np.zeros((2, 3)), np.array([0, 1]), weight=np.ones(2)), ValueError, "weight"),
        (lambda: F.binary_cross_entropy(np.array([1.5]), np.array([1.0])), ValueError, "[0, 1]"),
        (lambda: F.binary_cross_entropy(np.array([0.5, 0.5]), np.array([1.0])), ValueError, "must match"),
        (lambda: F.binary_cross_entropy(np.full(3, 0.5), np.ones(3), reduction="avg"), ValueError, "reduction"),
        (lambda: F.one_hot(np.array([0, 5]), 3), ValueError, "[0, 3)"),
        (lambda: F.one_hot(np.array([0.0])), TypeError, "integers"),
    ],
)
def test_errors_name_the_op_and_argument(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)
