"""Tests of assignment 3: convolution and max-pooling, forward and backward (the reference loops).

One pytest marker per task: ``python -m pytest -m a3_conv_backward_input`` runs one task's tests.
Each test calls its task's loop in ``tinydl/kernels/reference.py`` directly, and compares it with
a formula written here (NumPy's einsum, central differences), so a test needs none of your other
tasks. One test per task then goes through ``F.conv2d`` / ``F.max_pool2d`` with your loops
selected (``td.kernels.using(..., "reference")``), asking only for that task's gradient.
"""

import numpy as np
import pytest
from grader_tools import central_difference

import tinydl as td
import tinydl.nn.functional as F
from tinydl.kernels import reference

RNG = np.random.default_rng(3)
CONV_CASES = [((1, 1), (0, 0)), ((1, 1), (1, 1)), ((2, 2), (0, 0)), ((2, 1), (2, 1))]  # (stride, padding)


@pytest.fixture(autouse=True)
def reference_kernels():
    """Your loops are the 'reference' kernels: select them wherever a test goes through an op."""
    with td.kernels.using("conv2d", "reference"), td.kernels.using("maxpool2d", "reference"):
        yield


def conv_by_formula(x, w, b, stride, padding):
    """y[n, o, p, q] = b[o] + Σ_{c,i,j} w[o, c, i, j] · x_pad[n, c, p·sh + i, q·sw + j], with einsum."""
    (sh, sw), (ph, pw) = stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    kh, kw = w.shape[2:]
    oh = (xp.shape[2] - kh) // sh + 1
    ow = (xp.shape[3] - kw) // sw + 1
    y = np.zeros((x.shape[0], w.shape[0], oh, ow))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i : i + sh * oh : sh, j : j + sw * ow : sw]
            y += np.einsum("ncpq,oc->nopq", patch, w[:, :, i, j])
    return y + (0 if b is None else b.reshape(1, -1, 1, 1))


def conv_case():
    x, w = RNG.normal(size=(2, 3, 7, 6)), RNG.normal(size=(4, 3, 3, 2))
    return x, w


# ---------------------------------------------------------------------------- convolution
@pytest.mark.a3_conv_forward
@pytest.mark.parametrize("stride, padding", CONV_CASES)
def test_conv2d_forward_loops(stride, padding):
    x, w = conv_case()
    b = RNG.normal(size=4)
    y = reference.conv2d_forward(x, w, b, stride, padding)
    np.testing.assert_allclose(y, conv_by_formula(x, w, b, stride, padding), rtol=1e-10, atol=1e-12)


@pytest.mark.a3_conv_forward
def test_conv2d_forward_through_the_op():
    x, w = conv_case()
    y = F.conv2d(td.tensor(x), td.tensor(w), None, stride=2, padding=1)
    np.testing.assert_allclose(y.numpy(), conv_by_formula(x, w, None, (2, 2), (1, 1)), rtol=1e-10, atol=1e-12)


@pytest.mark.a3_conv_backward_input
@pytest.mark.parametrize("stride, padding", CONV_CASES)
def test_conv2d_backward_input_loops(stride, padding):
    x, w = conv_case()
    grad_y = RNG.normal(size=conv_by_formula(x, w, None, stride, padding).shape)
    expected = central_difference(
        lambda v: float(np.sum(conv_by_formula(v, w, None, stride, padding) * grad_y)), x.copy()
    )
    got = reference.conv2d_backward_input(grad_y, w, x.shape, stride, padding)
    assert got.shape == x.shape, f"∂L/∂x has shape {got.shape}, x has {x.shape}"
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)


@pytest.mark.a3_conv_backward_input
def test_conv2d_backward_input_through_the_op():
    x, w = conv_case()
    xt = td.tensor(x.copy(), requires_grad=True)  # only x asks for a gradient: the weight loop is not called
    y = F.conv2d(xt, td.tensor(w), None, stride=1, padding=1)
    grad_y = RNG.normal(size=y.shape)
    y.backward(grad_y)
    expected = central_difference(
        lambda v: float(np.sum(conv_by_formula(v, w, None, (1, 1), (1, 1)) * grad_y)), x.copy()
    )
    np.testing.assert_allclose(xt.grad.numpy(), expected, rtol=1e-6, atol=1e-8)


@pytest.mark.a3_conv_backward_weight
@pytest.mark.parametrize("stride, padding", CONV_CASES)
def test_conv2d_backward_weight_loops(stride, padding):
    x, w = conv_case()
    grad_y = RNG.normal(size=conv_by_formula(x, w, None, stride, padding).shape)
    expected = central_difference(
        lambda v: float(np.sum(conv_by_formula(x, v, None, stride, padding) * grad_y)), w.copy()
    )
    got = reference.conv2d_backward_weight(grad_y, x, w.shape, stride, padding)
    assert got.shape == w.shape, f"∂L/∂w has shape {got.shape}, w has {w.shape}"
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)


@pytest.mark.a3_conv_backward_weight
def test_conv2d_backward_weight_through_the_op():
    x, w = conv_case()
    wt = td.tensor(w.copy(), requires_grad=True)  # only w asks for a gradient: the input loop is not called
    y = F.conv2d(td.tensor(x), wt, None, stride=2, padding=0)
    grad_y = RNG.normal(size=y.shape)
    y.backward(grad_y)
    expected = central_difference(
        lambda v: float(np.sum(conv_by_formula(x, v, None, (2, 2), (0, 0)) * grad_y)), w.copy()
    )
    np.testing.assert_allclose(wt.grad.numpy(), expected, rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------------- max-pooling
POOL_X = np.array([[[[1.0, 5.0, 2.0, 0.0], [3.0, 4.0, 8.0, 1.0], [0.0, 2.0, 1.0, 1.0], [7.0, 1.0, 3.0, 9.0]]]])


@pytest.mark.a3_maxpool_forward
def test_maxpool_forward_values_and_argmax():
    y, argmax = reference.maxpool2d_forward(POOL_X, (2, 2), (2, 2))
    np.testing.assert_array_equal(y, [[[[5.0, 8.0], [7.0, 9.0]]]])
    # flat positions i·KW + j inside each window: 5 at (0, 1), 8 at (1, 0), 7 at (1, 0), 9 at (1, 1)
    np.testing.assert_array_equal(argmax, [[[[1, 2], [2, 3]]]])


@pytest.mark.a3_maxpool_forward
@pytest.mark.parametrize("kernel, stride", [((2, 2), (2, 2)), ((3, 2), (1, 2)), ((3, 3), (2, 2))])
def test_maxpool_forward_against_numpy(kernel, stride):
    x = RNG.normal(size=(2, 3, 7, 8))
    (kh, kw), (sh, sw) = kernel, stride
    y, argmax = reference.maxpool2d_forward(x, kernel, stride)
    oh, ow = (7 - kh) // sh + 1, (8 - kw) // sw + 1
    assert y.shape == (2, 3, oh, ow) and argmax.shape == y.shape
    for p in range(oh):
        for q in range(ow):
            window = x[:, :, p * sh : p * sh + kh, q * sw : q * sw + kw].reshape(2, 3, -1)
            np.testing.assert_array_equal(y[:, :, p, q], window.max(axis=2))
            np.testing.assert_array_equal(argmax[:, :, p, q], window.argmax(axis=2))


@pytest.mark.a3_maxpool_forward
def test_maxpool_forward_ties_and_nan():
    x = np.array([[[[2.0, 2.0], [1.0, 2.0]], [[np.nan, 1.0], [np.nan, 5.0]]]])  # one image, two channels
    y, argmax = reference.maxpool2d_forward(x, (2, 2), (2, 2))
    assert y[0, 0, 0, 0] == 2.0 and argmax[0, 0, 0, 0] == 0, "on a tie, the first maximum wins"
    assert np.isnan(y[0, 1, 0, 0]) and argmax[0, 1, 0, 0] == 2, "a NaN wins its window, the last NaN (as PyTorch)"


@pytest.mark.a3_maxpool_backward
def test_maxpool_backward_routes_to_the_winner():
    argmax = np.array([[[[1, 2], [2, 3]]]], dtype=np.int32)  # the winners of POOL_X, given here
    grad_y = np.array([[[[10.0, 20.0], [30.0, 40.0]]]])
    got = reference.maxpool2d_backward(grad_y, argmax, POOL_X.shape, (2, 2), (2, 2))
    expected = np.zeros((1, 1, 4, 4))
    expected[0, 0, 0, 1], expected[0, 0, 1, 2], expected[0, 0, 3, 0], expected[0, 0, 3, 3] = 10, 20, 30, 40
    np.testing.assert_array_equal(got, expected)


@pytest.mark.a3_maxpool_backward
def test_maxpool_backward_overlapping_windows_add_up():
    # kernel (1, 3), stride 1 over a row of 4: windows x[0:3] and x[1:4]; both winners are x[2]
    # (flat position 2 in the first window, 1 in the second), so x[2] gets both gradients.
    argmax = np.array([[[[2, 1]]]], dtype=np.int32)
    got = reference.maxpool2d_backward(np.array([[[[1.5, 2.0]]]]), argmax, (1, 1, 1, 4), (1, 3), (1, 1))
    np.testing.assert_array_equal(got, [[[[0.0, 0.0, 3.5, 0.0]]]])


@pytest.mark.a3_maxpool_backward
def test_maxpool_backward_against_central_differences():
    x = RNG.permutation(7 * 8).reshape(1, 1, 7, 8).astype(np.float64)  # no ties: the max is differentiable
    kernel, stride = (3, 2), (2, 2)
    oh, ow = (7 - 3) // 2 + 1, (8 - 2) // 2 + 1
    argmax = np.zeros((1, 1, oh, ow), dtype=np.int32)
    for p in range(oh):
        for q in range(ow):
            argmax[0, 0, p, q] = np.argmax(x[0, 0, 2 * p : 2 * p + 3, 2 * q : 2 * q + 2])
    grad_y = RNG.normal(size=(1, 1, oh, ow))

    def pooled(v):
        return np.array([[v[0, 0, 2 * p : 2 * p + 3, 2 * q : 2 * q + 2].max() for q in range(ow)] for p in range(oh)])

    expected = central_difference(lambda v: float(np.sum(pooled(v) * grad_y[0, 0])), x.copy(), eps=1e-3)
    got = reference.maxpool2d_backward(grad_y, argmax, x.shape, kernel, stride)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)
