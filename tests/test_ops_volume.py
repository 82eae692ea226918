"""Volumes: conv3d, max_pool3d, avg_pool3d and their layers (NCDHW).

Each op: a hypothesis float64 gradcheck against a NumPy reference written here
(loops over kernel taps / windows) and a PyTorch cross-check of values and
gradients in float64 and float32; the registry's conv3d and maxpool3d kernels
(reference loops, NumPy strided views) are checked against each other.
"""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from op_checks import check, compare

import tinydl as td
import tinydl.nn.functional as F
from tinydl.ops.conv import pool_output_size
from tinydl.testing import strategies as tst


def np_conv3d(x, w, b=None, stride=(1, 1, 1), padding=(0, 0, 0), dilation=(1, 1, 1), groups=1):
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple((p, p) for p in padding))
    o_all, cg = w.shape[:2]
    og = o_all // groups
    out = [(n - d * (k - 1) - 1) // s + 1 for n, k, s, d in zip(xp.shape[2:], w.shape[2:], stride, dilation)]
    y = np.zeros((x.shape[0], o_all, *out))
    for g in range(groups):
        for tap in itertools.product(*(range(k) for k in w.shape[2:])):
            index = tuple(slice(t * d, t * d + s * (o - 1) + 1, s) for t, d, s, o in zip(tap, dilation, stride, out))
            patch = xp[(slice(None), slice(g * cg, (g + 1) * cg)) + index]
            y[:, g * og : (g + 1) * og] += np.einsum(
                "ncdhw,oc->nodhw", patch, w[(slice(g * og, (g + 1) * og), slice(None)) + tap]
            )
    return y if b is None else y + b.reshape(1, -1, 1, 1, 1)


def np_pool3d(x, kind, kernel, stride, padding, ceil_mode, count_include_pad=True):
    out = [pool_output_size(n, k, s, p, 1, ceil_mode) for n, k, s, p in zip(x.shape[2:], kernel, stride, padding)]
    y = np.zeros(x.shape[:2] + tuple(out))
    for pos in itertools.product(*(range(o) for o in out)):
        start = [q * s - p for q, s, p in zip(pos, stride, padding)]
        end = [min(a + k, n + p) for a, k, n, p in zip(start, kernel, x.shape[2:], padding)]
        clipped = tuple(slice(max(a, 0), min(e, n)) for a, e, n in zip(start, end, x.shape[2:]))
        window = x[(slice(None), slice(None)) + clipped]
        if kind == "max":
            y[(slice(None), slice(None)) + pos] = window.max(axis=(2, 3, 4))
        else:
            size = np.prod([e - a for a, e in zip(start, end)]) if count_include_pad else window[0, 0].size
            y[(slice(None), slice(None)) + pos] = window.sum(axis=(2, 3, 4)) / size
    return y


@st.composite
def conv3d_cases(draw):
    groups = draw(st.sampled_from([1, 2]))
    c, o = groups, groups * draw(st.integers(1, 2))
    k = tuple(draw(st.integers(1, 2)) for _ in range(3))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(3))
    padding = tuple(draw(st.integers(0, 1)) for _ in range(3))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(3))
    dhw = tuple(d * (kk - 1) + 1 + draw(st.integers(0, 2)) for kk, d in zip(k, dilation))
    return (1, c) + dhw, (o, c // groups) + k, dict(stride=stride, padding=padding, dilation=dilation, groups=groups)


@given(data=st.data())
def test_conv3d_gradcheck(data):
    x_shape, w_shape, options = data.draw(conv3d_cases())
    x, w = data.draw(tst.float_arrays(x_shape)), data.draw(tst.float_arrays(w_shape))
    b = data.draw(tst.float_arrays((w_shape[0],)))
    check(lambda *t: F.conv3d(*t, **options), lambda *a: np_conv3d(*a, **options), x, w, b)


@given(data=st.data())
def test_conv3d_torch(torch, data):
    x_shape, w_shape, options = data.draw(conv3d_cases())
    x, w = data.draw(tst.float_arrays(x_shape)), data.draw(tst.float_arrays(w_shape))
    b = data.draw(tst.float_arrays((w_shape[0],)))
    compare(torch, lambda *t: F.conv3d(*t, **options), lambda *t: torch.nn.functional.conv3d(*t, **options), x, w, b)


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_conv3d_string_padding(torch, padding):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 2, 4, 5, 3)), rng.standard_normal((3, 2, 2, 3, 2))
    compare(
        torch,
        lambda *t: F.conv3d(*t, padding=padding),
        lambda *t: torch.nn.functional.conv3d(*t, padding=padding),
        x,
        w,
    )


@st.composite
def pool3d_cases(draw, kind):
    kernel = tuple(draw(st.integers(1, 2)) for _ in range(3))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(3))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dhw = tuple(k + draw(st.integers(0, 2)) for k in kernel)
    options = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=draw(st.booleans()))
    if kind == "avg":
        options["count_include_pad"] = draw(st.booleans())
    return (1, 2) + dhw, options


@pytest.mark.parametrize("kind", ["max", "avg"])
@given(data=st.data())
def test_pool3d_gradcheck(kind, data):
    shape, options = data.draw(pool3d_cases(kind))
    x = data.draw(tst.distinct_arrays(shape)) if kind == "max" else data.draw(tst.float_arrays(shape))
    o = dict(options)
    ref = dict(kernel=o.pop("kernel_size"), **o)
    check(lambda t: getattr(F, f"{kind}_pool3d")(t, **options), lambda a: np_pool3d(a, kind, **ref), x)


@pytest.mark.parametrize("kind", ["max", "avg"])
@given(data=st.data())
def test_pool3d_torch(torch, kind, data):
    shape, options = data.draw(pool3d_cases(kind))
    x = data.draw(tst.distinct_arrays(shape)) if kind == "max" else data.draw(tst.float_arrays(shape))
    name = f"{kind}_pool3d"
    compare(
        torch, lambda t: getattr(F, name)(t, **options), lambda t: getattr(torch.nn.functional, name)(t, **options), x
    )


@pytest.mark.parametrize("kernel", td.kernels.available("conv3d"))
def test_conv3d_kernels_match_reference(kernel):
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((2, 3, 4, 5, 4)), rng.standard_normal((2, 3, 2, 3, 2)), rng.standard_normal(2)
    stride, padding = (1, 2, 1), (1, 0, 1)
    ref = td.kernels.get("conv3d", "reference")
    impl = td.kernels.get("conv3d", kernel)
    y = impl.conv3d_forward(x, w, b, stride, padding)
    np.testing.assert_allclose(y, ref.conv3d_forward(x, w, b, stride, padding), rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(y.shape)
    for role, args in [("conv3d_backward_input", (g, w, x.shape)), ("conv3d_backward_weight", (g, x, w.shape))]:
        ours, theirs = getattr(impl, role)(*args, stride, padding), getattr(ref, role)(*args, stride, padding)
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel", td.kernels.available("maxpool3d"))
def test_maxpool3d_kernels_match_reference(kernel):
    rng = np.random.default_rng(2)
    x = rng.integers(0, 4, size=(2, 2, 4, 5, 5)).astype(np.float64)  # many ties: the first maximum must win
    x[0, 0, 0, 0, 1] = np.nan
    ref, impl = td.kernels.get("maxpool3d", "reference"), td.kernels.get("maxpool3d", kernel)
    (y, a), (y_ref, a_ref) = (
        impl.maxpool3d_forward(x, (2, 2, 3), (2, 1, 2)),
        ref.maxpool3d_forward(x, (2, 2, 3), (2, 1, 2)),
    )
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(a, a_ref)
    g = rng.standard_normal(y.shape)
    np.testing.assert_array_equal(
        impl.maxpool3d_backward(g, a, x.shape, (2, 2, 3), (2, 1, 2)),
        ref.maxpool3d_backward(g, a, x.shape, (2, 2, 3), (2, 1, 2)),
    )


def test_volume_layers_load_torch_weights(torch):
    torch.manual_seed(0)
    tn = torch.nn
    x = np.random.default_rng(3).standard_normal((2, 4, 6, 5, 6)).astype(np.float32)
    pairs = [
        (td.nn.Conv3d(4, 6, 3, padding=1), tn.Conv3d(4, 6, 3, padding=1)),
        (
            td.nn.Conv3d(4, 4, (1, 3, 3), stride=2, groups=4, bias=False),
            tn.Conv3d(4, 4, (1, 3, 3), stride=2, groups=4, bias=False),
        ),
        (td.nn.Conv3d(4, 2, 2, padding="same", dilation=2), tn.Conv3d(4, 2, 2, padding="same", dilation=2)),
        (td.nn.MaxPool3d(2), tn.MaxPool3d(2)),
        (td.nn.MaxPool3d(3, 2, padding=1, ceil_mode=True), tn.MaxPool3d(3, 2, padding=1, ceil_mode=True)),
        (td.nn.AvgPool3d((1, 2, 2)), tn.AvgPool3d((1, 2, 2))),
        (
            td.nn.AvgPool3d(3, 2, padding=1, count_include_pad=False),
            tn.AvgPool3d(3, 2, padding=1, count_include_pad=False),
        ),
    ]
    for ours, theirs in pairs:
        ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
        np.testing.assert_allclose(
            ours(td.tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-5
        )


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: F.conv3d(td.zeros(1, 2, 3, 3), td.zeros(1, 2, 1, 1, 1)), "shape \\(N, C, D, H, W\\)"),
        (lambda: F.conv3d(td.zeros(1, 2, 3, 3, 3), td.zeros(1, 3, 1, 1, 1)), "expects 3"),
        (lambda: F.conv3d(td.zeros(1, 1, 3, 3, 3), td.zeros(1, 1, 4, 1, 1)), "larger than"),
        (lambda: F.conv3d(td.zeros(1, 1, 3, 3, 3), td.zeros(1, 1, 1, 1, 1), stride=2, padding="same"), "strided"),
        (lambda: F.max_pool3d(td.zeros(1, 1, 3, 3, 3), 2, dilation=2), "not supported"),
        (lambda: F.avg_pool3d(td.zeros(1, 1, 3, 3, 3), 2, padding=2), "at most half"),
        (lambda: F.max_pool3d(td.zeros(1, 1, 3, 3, 3), (1, 2)), "triple"),
    ],
)
def test_volume_errors(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
