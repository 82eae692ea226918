"""Autograder, assignment 3: convolution and pooling, forward and backward (the reference loops).

One pytest marker per task (the README's table): python -m pytest -m a3_TASK.
Some tests still cover two tasks (to be split).
"""

import numpy as np
import pytest

import tinydl as td
import tinydl.nn.functional as F

RNG = np.random.default_rng(3)


@pytest.fixture(autouse=True)
def reference_kernels():
    """Your loops are the 'reference' kernels: select them for every test."""
    with td.kernels.using("conv2d", "reference"), td.kernels.using("maxpool2d", "reference"):
        yield


def conv_by_formula(x, w, b, stride, padding):
    """y[n, o, p, q] = b[o] + Σ_{c,i,j} w[o, c, i, j] · x_pad[n, c, p·s + i, q·s + j], with einsum."""
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    kh, kw = w.shape[2:]
    oh = (xp.shape[2] - kh) // stride + 1
    ow = (xp.shape[3] - kw) // stride + 1
    y = np.zeros((x.shape[0], w.shape[0], oh, ow))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride]
            y += np.einsum("ncpq,oc->nopq", patch, w[:, :, i, j])
    return y + b.reshape(1, -1, 1, 1)


@pytest.mark.a3_conv_forward
@pytest.mark.parametrize("stride, padding", [(1, 0), (1, 1), (2, 0), (2, 2)])
def test_conv2d_forward(stride, padding):
    x, w, b = RNG.normal(size=(2, 3, 7, 6)), RNG.normal(size=(4, 3, 3, 2)), RNG.normal(size=4)
    y = F.conv2d(td.tensor(x), td.tensor(w), td.tensor(b), stride=stride, padding=padding)
    np.testing.assert_allclose(y.numpy(), conv_by_formula(x, w, b, stride, padding), rtol=1e-10, atol=1e-12)


@pytest.mark.a3_conv_backward_input
@pytest.mark.a3_conv_backward_weight
@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1)])
def test_conv2d_backward_input_and_weight(stride, padding):
    x, w, b = RNG.normal(size=(2, 2, 5, 5)), RNG.normal(size=(3, 2, 3, 3)), RNG.normal(size=3)
    td.gradcheck(lambda x_, w_, b_: F.conv2d(x_, w_, b_, stride=stride, padding=padding), x, w, b)


@pytest.mark.a3_maxpool_forward
def test_maxpool_forward_and_argmax():
    x = np.array([[[[1.0, 5.0, 2.0, 0.0], [3.0, 4.0, 8.0, 1.0], [0.0, 2.0, 1.0, 1.0], [7.0, 1.0, 3.0, 9.0]]]])
    y = F.max_pool2d(td.tensor(x), 2)
    np.testing.assert_array_equal(y.numpy(), [[[[5.0, 8.0], [7.0, 9.0]]]])


@pytest.mark.a3_maxpool_backward
def test_maxpool_backward_routes_to_the_winner():
    x = td.tensor(RNG.permutation(36).reshape(1, 1, 6, 6).astype(np.float64), requires_grad=True)  # no ties
    F.max_pool2d(x, 3, stride=3).sum().backward()
    grad = x.grad.numpy()[0, 0]
    assert grad.sum() == 4 and set(np.unique(grad)) == {0.0, 1.0}
    for p in range(2):
        for q in range(2):
            window = x.numpy()[0, 0, 3 * p : 3 * p + 3, 3 * q : 3 * q + 3]
            i, j = np.unravel_index(np.argmax(window), window.shape)
            assert grad[3 * p + i, 3 * q + j] == 1.0
    td.gradcheck(lambda t: F.max_pool2d(t, 2), RNG.permutation(32).reshape(1, 2, 4, 4).astype(np.float64))
