"""Area C of issue 17: pad, conv2d's options (dilation, groups, asymmetric/"same"/"valid" padding),
conv_transpose2d, interpolate and adaptive average pooling, and their layers.

Each op: a hypothesis float64 gradcheck (``check``: forward against a NumPy
reference written here as loops over the kernel taps / output positions, then
``td.gradcheck``) and a PyTorch cross-check (``compare``: values and gradients,
float64 and float32). The options are built in the ops layer from the
registered conv kernels' three roles, so a parity test runs them under every
available CPU kernel. Small shapes: the file runs in seconds.
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


# ------------------------------------------------------------ NumPy references
def np_conv2d(x, w, b=None, stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
    """Direct convolution, one kernel tap (i, j) at a time, per group."""
    xp = np.pad(x, ((0, 0), (0, 0), pads[0], pads[1]))
    (sh, sw), (dh, dw) = stride, dilation
    o_all, cg, kh, kw = w.shape
    og = o_all // groups
    oh = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1
    ow = (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((x.shape[0], o_all, oh, ow))
    for g in range(groups):
        for i in range(kh):
            for j in range(kw):
                patch = xp[:, g * cg : (g + 1) * cg, i * dh : i * dh + sh * (oh - 1) + 1 : sh]
                patch = patch[..., j * dw : j * dw + sw * (ow - 1) + 1 : sw]
                y[:, g * og : (g + 1) * og] += np.einsum("nchw,oc->nohw", patch, w[g * og : (g + 1) * og, :, i, j])
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def np_conv_transpose2d(x, w, b=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0), dilation=(1, 1), groups=1):
    """Scatter: input pixel (p, q) adds x · w[c, :, i, j] at (p·s + i·d, q·s + j·d), then the padding is cut off."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    c_all, og, kh, kw = w.shape
    cg = c_all // groups
    n, _, h, wd = x.shape
    full = ((h - 1) * sh + dh * (kh - 1) + 1 + output_padding[0], (wd - 1) * sw + dw * (kw - 1) + 1 + output_padding[1])
    y = np.zeros((n, og * groups) + full)
    for g in range(groups):
        for i in range(kh):
            for j in range(kw):
                contrib = np.einsum("nchw,co->nohw", x[:, g * cg : (g + 1) * cg], w[g * cg : (g + 1) * cg, :, i, j])
                y[
                    :,
                    g * og : (g + 1) * og,
                    i * dh : i * dh + sh * (h - 1) + 1 : sh,
                    j * dw : j * dw + sw * (wd - 1) + 1 : sw,
                ] += contrib
    y = y[:, :, ph : full[0] - ph, pw : full[1] - pw]
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def np_source_1d(n_in, n_out, scale, mode, align_corners):
    """Per output index: [(input index, weight), ...] by PyTorch's formulas, one index at a time."""
    rows = []
    for i in range(n_out):
        if mode == "nearest":
            rows.append([(min(math.floor(np.float32(i) * np.float32(scale)), n_in - 1), 1.0)])
            continue
        if mode == "nearest-exact":
            rows.append([(min(math.floor(np.float32(i + 0.5) * np.float32(scale)), n_in - 1), 1.0)])
            continue
        if align_corners:
            src = i * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        else:
            src = max((i + 0.5) * scale - 0.5, 0.0)
        lo = min(int(math.floor(src)), n_in - 1)
        hi = lo + 1 if lo < n_in - 1 else lo
        lam = src - lo
        rows.append([(lo, 1 - lam), (hi, lam)])
    return rows


def np_interpolate_2d(x, size, scales, mode, align_corners):
    rows_h = np_source_1d(x.shape[2], size[0], scales[0], mode, align_corners)
    rows_w = np_source_1d(x.shape[3], size[1], scales[1], mode, align_corners)
    y = np.zeros(x.shape[:2] + tuple(size))
    for p, rh in enumerate(rows_h):
        for q, rw in enumerate(rows_w):
            for i, a in rh:
                for j, b in rw:
                    y[:, :, p, q] += a * b * x[:, :, i, j]
    return y


def np_adaptive_avg_pool2d(x, size):
    oh, ow = size
    h, w = x.shape[2:]
    y = np.zeros(x.shape[:2] + (oh, ow))
    for p in range(oh):
        for q in range(ow):
            h0, h1 = (p * h) // oh, math.ceil((p + 1) * h / oh)
            w0, w1 = (q * w) // ow, math.ceil((q + 1) * w / ow)
            y[:, :, p, q] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return y


# ------------------------------------------------------------------------- pad
MODES = ["constant", "reflect", "replicate", "circular"]


@st.composite
def pad_cases(draw, mode):
    """A 4-D shape and a pad tuple of 2 or 4 entries valid for ``mode`` (reflect: pad < size)."""
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(2, 4)), draw(st.integers(2, 4)))
    n_axes = draw(st.sampled_from([1, 2]) if mode == "constant" else st.just(2))
    pads = []
    for k in range(n_axes):
        size = shape[-1 - k]
        high = size - 1 if mode == "reflect" else min(size, 3)
        pads += [draw(st.integers(0, high)), draw(st.integers(0, high))]
    return shape, tuple(pads)


@pytest.mark.parametrize("mode", MODES)
@given(data=st.data())
def test_pad_gradcheck(mode, data):
    shape, pads = data.draw(pad_cases(mode))
    x = data.draw(tst.float_arrays(shape))
    width = [(0, 0)] * 4
    for k in range(len(pads) // 2):
        width[3 - k] = (pads[2 * k], pads[2 * k + 1])
    np_mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
    check(lambda t: F.pad(t, pads, mode=mode), lambda a: np.pad(a, width, mode=np_mode), x)


@pytest.mark.parametrize("mode", MODES)
@given(data=st.data())
def test_pad_torch(torch, mode, data):
    shape, pads = data.draw(pad_cases(mode))
    x = data.draw(tst.float_arrays(shape))
    compare(torch, lambda t: F.pad(t, pads, mode=mode), lambda t: torch.nn.functional.pad(t, pads, mode=mode), x)


def test_pad_value_and_other_ranks(torch):
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    compare(
        torch,
        lambda t: F.pad(t, (1, 2, 0, 1, 1, 0), value=2.5),
        lambda t: torch.nn.functional.pad(t, (1, 2, 0, 1, 1, 0), value=2.5),
        x,
    )
    v = np.random.default_rng(1).standard_normal((3, 5))  # 2-D input, the last axis only
    for mode in ["reflect", "replicate", "circular"]:
        compare(
            torch,
            lambda t, m=mode: F.pad(t, (2, 1), mode=m),
            lambda t, m=mode: torch.nn.functional.pad(t, (2, 1), mode=m),
            v,
        )
    x5 = np.random.default_rng(2).standard_normal((1, 2, 3, 3, 4))  # volumes: three axes
    for mode in MODES:
        compare(
            torch,
            lambda t, m=mode: F.pad(t, (1, 2, 0, 2, 1, 1), mode=m),
            lambda t, m=mode: torch.nn.functional.pad(t, (1, 2, 0, 2, 1, 1), mode=m),
            x5,
        )


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda x: F.pad(x, (1, 2, 3)), "even length"),
        (lambda x: F.pad(x, (1,) * 10), "even length"),
        (lambda x: F.pad(x, (-1, 0)), "negative"),
        (lambda x: F.pad(x, (4, 0), mode="reflect"), "smaller than the size 4"),
        (lambda x: F.pad(x, (5, 0), mode="circular"), "at most the size 4"),
        (lambda x: F.pad(x, (1, 0), mode="wrap"), "mode must be one of"),
        (lambda x: F.pad(x, (1, 0), mode="reflect", value=1.0), "value is only used"),
        (lambda x: F.pad(x, 1), "tuple of ints"),
    ],
)
def test_pad_errors(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call(td.zeros(1, 1, 3, 4))


# ------------------------------------------------------ conv2d with options
@st.composite
def conv_cases(draw, transpose=False):
    """Shapes and options of a (transposed) conv: groups, dilation, stride, padding of every form."""
    groups = draw(st.sampled_from([1, 2]))
    c, o = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    # at least the dilated kernel's reach d·(k−1)+1 (up to 5), so even padding "valid" leaves an output
    hw = tuple(draw(st.integers(max(4, d * (kk - 1) + 1), 6)) for d, kk in zip(dilation, k))
    if transpose:
        padding = (draw(st.integers(0, 1)), draw(st.integers(0, 1)))
        output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
        hw = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        # an output of at least one pixel per axis: else no padding there
        padding = tuple(
            p if (n - 1) * s - 2 * p + d * (kk - 1) + 1 + op >= 1 else 0
            for n, s, p, d, kk, op in zip(hw, stride, padding, dilation, k, output_padding)
        )
        w_shape = (c, o // groups) + k
        options = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups)
        return (1, c) + hw, w_shape, options
    kind = draw(st.sampled_from(["int", "pair", "four", "same", "valid"]))
    if kind == "same":
        stride = (1, 1)
    padding = {
        "int": draw(st.integers(0, 2)),
        "pair": (draw(st.integers(0, 2)), draw(st.integers(0, 2))),
        "four": tuple(draw(st.integers(0, 2)) for _ in range(4)),
        "same": "same",
        "valid": "valid",
    }[kind]
    return (1, c) + hw, (o, c // groups) + k, dict(stride=stride, padding=padding, dilation=dilation, groups=groups)


def torch_padding(options):
    """PyTorch's conv takes no 4-tuple: that case is F.pad then padding 0 there."""
    p = options["padding"]
    return (p, 0) if isinstance(p, tuple) and len(p) == 4 else (None, p)


def ref_pads(options, k):
    p = options["padding"]
    if p == "valid":
        return (0, 0), (0, 0)
    if p == "same":
        totals = [d * (n - 1) for d, n in zip(options["dilation"], k)]
        return tuple((t // 2, t - t // 2) for t in totals)
    if isinstance(p, tuple) and len(p) == 4:
        return (p[2], p[3]), (p[0], p[1])
    ph, pw = (p, p) if isinstance(p, int) else p
    return (ph, ph), (pw, pw)


@given(data=st.data())
def test_conv2d_options_gradcheck(data):
    x_shape, w_shape, options = data.draw(conv_cases())
    x, w = data.draw(tst.float_arrays(x_shape)), data.draw(tst.float_arrays(w_shape))
    b = data.draw(tst.float_arrays((w_shape[0],)))
    pads = ref_pads(options, w_shape[2:])
    ref_options = dict(stride=options["stride"], pads=pads, dilation=options["dilation"], groups=options["groups"])
    check(lambda *t: F.conv2d(*t, **options), lambda *a: np_conv2d(*a, **ref_options), x, w, b)


@given(data=st.data())
def test_conv2d_options_torch(torch, data):
    x_shape, w_shape, options = data.draw(conv_cases())
    x, w = data.draw(tst.float_arrays(x_shape)), data.draw(tst.float_arrays(w_shape))
    b = data.draw(tst.float_arrays((w_shape[0],)))
    pre, padding = torch_padding(options)
    th = dict(options, padding=padding)

    def torch_fn(x, w, b):
        if pre is not None:
            x = torch.nn.functional.pad(x, options["padding"])
        return torch.nn.functional.conv2d(x, w, b, **th)

    compare(torch, lambda *t: F.conv2d(*t, **options), torch_fn, x, w, b)


@given(data=st.data())
def test_conv_transpose2d_gradcheck(data):
    x_shape, w_shape, options = data.draw(conv_cases(transpose=True))
    x, w = data.draw(tst.float_arrays(x_shape)), data.draw(tst.float_arrays(w_shape))
    b = data.draw(tst.float_arrays((w_shape[1] * options["groups"],)))
    check(lambda *t: F.conv_transpose2d(*t, **options), lambda *a: np_conv_transpose2d(*a, **options), x, w, b)


@given(data=st.data())
def test_conv_transpose2d_torch(torch, data):
    x_shape, w_shape, options = data.draw(conv_cases(transpose=True))
    x, w = data.draw(tst.float_arrays(x_shape)), data.draw(tst.float_arrays(w_shape))
    compare(
        torch,
        lambda *t: F.conv_transpose2d(*t, **options),
        lambda *t: torch.nn.functional.conv_transpose2d(*t, **options),
        x,
        w,
    )


def test_conv_transpose2d_bias_and_depthwise(torch):
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((2, 4, 3, 3)), rng.standard_normal((4, 1, 3, 3)), rng.standard_normal(4)
    opts = dict(stride=2, padding=1, output_padding=1, groups=4)
    compare(
        torch,
        lambda *t: F.conv_transpose2d(*t, **opts),
        lambda *t: torch.nn.functional.conv_transpose2d(*t, **opts),
        x,
        w,
        b,
    )
    w = rng.standard_normal((1, 4, 3, 3))  # depthwise conv2d: groups = channels
    compare(
        torch,
        lambda *t: F.conv2d(*t, groups=4, padding="same"),
        lambda *t: torch.nn.functional.conv2d(*t, groups=4, padding="same"),
        x,
        w.reshape(4, 1, 3, 3),
        b,
    )


# Every CPU kernel runs the options (they reach it as plain conv2d roles). numba_implicit_gemm runs stride 1
# only (its own limit, as before: the "numba" entry routes strided layers to im2col), so strided cases skip it.
PARITY_CASES = [
    ("conv2d", (1, 4, 7, 6), (6, 2, 3, 2), dict(stride=(2, 1), padding=1, dilation=(2, 1), groups=2)),
    ("conv2d", (1, 4, 6, 6), (3, 4, 2, 3), dict(padding="same", dilation=(1, 2))),
    ("conv2d", (1, 2, 5, 6), (3, 2, 3, 3), dict(padding=(0, 2, 1, 0))),
    (
        "conv_transpose2d",
        (1, 4, 3, 3),
        (4, 3, 2, 2),
        dict(stride=2, padding=1, output_padding=1, groups=2, dilation=(2, 1)),
    ),
    ("conv_transpose2d", (1, 2, 3, 4), (2, 3, 3, 3), dict(padding=(1, 2), dilation=2)),
    ("conv_transpose2d", (1, 2, 3, 4), (2, 3, 2, 3), dict(padding=1, dilation=3, output_padding=(2, 1))),
]


@pytest.mark.parametrize("kernel", td.kernels.available("conv2d"))
@pytest.mark.parametrize("op, x_shape, w_shape, options", PARITY_CASES)
def test_conv_options_every_kernel(kernel, op, x_shape, w_shape, options):
    strided = options.get("stride", 1) != 1
    if kernel == "numba_implicit_gemm" and (strided or op == "conv_transpose2d"):
        pytest.skip("numba_implicit_gemm runs stride-1 layers only (its documented limit)")
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    upstream = None
    results = {}
    for name in ("reference", kernel):
        with td.kernels.using("conv2d", name):
            xt, wt = td.tensor(x, requires_grad=True), td.tensor(w, requires_grad=True)
            y = getattr(F, op)(xt, wt, **options)
            upstream = rng.standard_normal(y.shape) if upstream is None else upstream
            y.backward(upstream)
            results[name] = (y.numpy(), xt.grad.numpy(), wt.grad.numpy())
    for ours, ref in zip(results[kernel], results["reference"]):
        np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: F.conv2d(td.zeros(1, 3, 5, 5), td.zeros(4, 1, 3, 3), groups=2), "divisible by groups"),
        (lambda: F.conv2d(td.zeros(1, 4, 5, 5), td.zeros(4, 1, 3, 3), groups=2), "expects 2"),
        (lambda: F.conv2d(td.zeros(1, 1, 5, 5), td.zeros(1, 1, 3, 3), padding="same", stride=2), "strided"),
        (lambda: F.conv2d(td.zeros(1, 1, 5, 5), td.zeros(1, 1, 3, 3), padding="full"), "'same' or 'valid'"),
        (lambda: F.conv2d(td.zeros(1, 1, 5, 5), td.zeros(1, 1, 3, 3), dilation=0), "dilation must be ≥ 1"),
        (lambda: F.conv2d(td.zeros(1, 1, 4, 4), td.zeros(1, 1, 3, 3), dilation=2), "larger than"),
        (lambda: F.conv_transpose2d(td.zeros(1, 2, 3, 3), td.zeros(3, 1, 3, 3)), "expects 3"),
        (
            lambda: F.conv_transpose2d(td.zeros(1, 1, 3, 3), td.zeros(1, 1, 3, 3), stride=2, output_padding=2),
            "output_padding",
        ),
        (
            lambda: F.conv_transpose2d(td.zeros(1, 1, 3, 3), td.zeros(1, 1, 3, 3), bias=td.zeros(2)),
            "bias must have shape",
        ),
    ],
)
def test_conv_option_errors(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


# ---------------------------------------------------------------- interpolate
@st.composite
def resize_cases(draw):
    mode, align = draw(
        st.sampled_from([("nearest", None), ("nearest-exact", None), ("bilinear", False), ("bilinear", True)])
    )
    hw = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    if draw(st.booleans()):
        size = (draw(st.integers(1, 8)), draw(st.integers(1, 8)))
        kwargs = dict(size=size)
        scales = tuple(n / m for n, m in zip(hw, size))
    else:
        factor = draw(st.sampled_from([2, 3, 0.5, 1.5, (2, 0.75), (1.25, 3)]))
        factors = factor if isinstance(factor, tuple) else (factor, factor)
        size = tuple(int(math.floor(n * f)) for n, f in zip(hw, factors))
        if min(size) < 1:
            factors, factor, size = (2, 2), 2, tuple(2 * n for n in hw)
        kwargs = dict(scale_factor=factor)
        scales = tuple(1 / f for f in factors)
    return (2, 2) + hw, dict(kwargs, mode=mode, align_corners=align), size, scales


@given(data=st.data())
def test_interpolate_gradcheck(data):
    shape, kwargs, size, scales = data.draw(resize_cases())
    x = data.draw(tst.float_arrays(shape))
    check(
        lambda t: F.interpolate(t, **kwargs),
        lambda a: np_interpolate_2d(a, size, scales, kwargs["mode"], kwargs["align_corners"]),
        x,
    )


@given(data=st.data())
def test_interpolate_torch(torch, data):
    shape, kwargs, _, _ = data.draw(resize_cases())
    x = data.draw(tst.float_arrays(shape))
    compare(torch, lambda t: F.interpolate(t, **kwargs), lambda t: torch.nn.functional.interpolate(t, **kwargs), x)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(size=7, mode="linear", align_corners=False),
        dict(scale_factor=2.5, mode="linear", align_corners=True),
        dict(scale_factor=1.5, mode="nearest", recompute_scale_factor=True),
        dict(size=(3, 5, 2), mode="trilinear", align_corners=False),
        dict(scale_factor=(2, 1, 0.5), mode="nearest"),
    ],
)
def test_interpolate_1d_3d_and_recompute(torch, kwargs):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 2, 4)) if kwargs["mode"] == "linear" else rng.standard_normal((1, 2, 3, 4, 4))
    if kwargs.get("recompute_scale_factor"):
        x = rng.standard_normal((1, 2, 5, 3))
    compare(torch, lambda t: F.interpolate(t, **kwargs), lambda t: torch.nn.functional.interpolate(t, **kwargs), x)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(size=4, scale_factor=2), "exactly one"),
        (dict(), "exactly one"),
        (dict(size=4, mode="bicubic"), "mode must be one of"),
        (dict(size=4, mode="linear"), "expects a 3-D input"),
        (dict(size=4, align_corners=True), "align_corners only"),
        (dict(size=(4, 4, 4)), "one entry per spatial axis"),
        (dict(scale_factor=0.1), "empty output"),
        (dict(size=0), "positive"),
    ],
)
def test_interpolate_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        F.interpolate(td.zeros(1, 1, 3, 3), **kwargs)


# ---------------------------------------------------------- adaptive pooling
@st.composite
def adaptive_cases(draw):
    hw = (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    out = draw(
        st.one_of(
            st.just(1), st.tuples(st.integers(1, 7), st.integers(1, 7)), st.tuples(st.just(None), st.integers(1, 4))
        )
    )
    return (2, 2) + hw, out


@given(data=st.data())
def test_adaptive_avg_pool2d_gradcheck(data):
    shape, out = data.draw(adaptive_cases())
    x = data.draw(tst.float_arrays(shape))
    size = (out, out) if isinstance(out, int) else tuple(shape[2 + k] if s is None else s for k, s in enumerate(out))
    check(lambda t: F.adaptive_avg_pool2d(t, out), lambda a: np_adaptive_avg_pool2d(a, size), x)


@given(data=st.data())
def test_adaptive_avg_pool2d_torch(torch, data):
    shape, out = data.draw(adaptive_cases())
    x = data.draw(tst.float_arrays(shape))
    compare(
        torch, lambda t: F.adaptive_avg_pool2d(t, out), lambda t: torch.nn.functional.adaptive_avg_pool2d(t, out), x
    )


def test_adaptive_avg_pool_1d_3d_unbatched(torch):
    rng = np.random.default_rng(6)
    tf = torch.nn.functional
    compare(
        torch,
        lambda t: F.adaptive_avg_pool1d(t, 3),
        lambda t: tf.adaptive_avg_pool1d(t, 3),
        rng.standard_normal((2, 3, 7)),
    )
    compare(
        torch,
        lambda t: F.adaptive_avg_pool3d(t, (2, 1, 3)),
        lambda t: tf.adaptive_avg_pool3d(t, (2, 1, 3)),
        rng.standard_normal((1, 2, 3, 4, 5)),
    )
    compare(
        torch,
        lambda t: F.adaptive_avg_pool2d(t, (2, 3)),
        lambda t: tf.adaptive_avg_pool2d(t, (2, 3)),
        rng.standard_normal((3, 5, 4)),
    )
    with pytest.raises(ValueError, match="output_size"):
        F.adaptive_avg_pool2d(td.zeros(1, 1, 3, 3), (0, 1))
    with pytest.raises(ValueError, match="expects an input with 4"):
        F.adaptive_avg_pool2d(td.zeros(3, 3), 1)


# ------------------------------------------------------------------- layers
def _load_and_compare(torch, ours, theirs, x, tol=1e-5):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    y = ours(td.tensor(x)).numpy()
    expected = theirs(torch.tensor(x)).detach().numpy()
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=tol, atol=tol)


def test_layers_load_torch_weights(torch):
    torch.manual_seed(0)
    x = np.random.default_rng(7).standard_normal((2, 4, 6, 6)).astype(np.float32)
    tn = torch.nn
    pairs = [
        (td.nn.ConvTranspose2d(4, 6, 2, stride=2), tn.ConvTranspose2d(4, 6, 2, stride=2)),
        (
            td.nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1, groups=2, bias=False, dilation=1),
            tn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1, groups=2, bias=False),
        ),
        (
            td.nn.Conv2d(4, 8, 3, padding="same", dilation=2, groups=4),
            tn.Conv2d(4, 8, 3, padding="same", dilation=2, groups=4),
        ),
        (td.nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False), tn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False)),
    ]
    for mode in ["reflect", "replicate", "circular"]:
        pairs.append(
            (
                td.nn.Conv2d(4, 3, (3, 2), padding=(1, 2), padding_mode=mode),
                tn.Conv2d(4, 3, (3, 2), padding=(1, 2), padding_mode=mode),
            )
        )
    pairs.append(
        (
            td.nn.Conv2d(4, 3, 4, padding="same", padding_mode="reflect"),
            tn.Conv2d(4, 3, 4, padding="same", padding_mode="reflect"),
        )
    )
    for ours, theirs in pairs:
        assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
        _load_and_compare(torch, ours, theirs, x)
    for kwargs in [
        dict(scale_factor=2),
        dict(scale_factor=2, mode="bilinear"),
        dict(size=(5, 9), mode="bilinear", align_corners=True),
    ]:
        _load_and_compare(torch, td.nn.Upsample(**kwargs), tn.Upsample(**kwargs), x)
    for out in [1, (3, 4)]:
        _load_and_compare(torch, td.nn.AdaptiveAvgPool2d(out), tn.AdaptiveAvgPool2d(out), x)


def test_layer_reprs_and_errors():
    assert repr(td.nn.ConvTranspose2d(4, 2, 2, stride=2)) == "ConvTranspose2d(4, 2, kernel_size=(2, 2), stride=(2, 2))"
    assert "groups=2" in repr(td.nn.Conv2d(4, 2, 3, groups=2, padding="same"))
    assert td.nn.ConvTranspose2d(4, 6, 3, groups=2).weight.shape == (4, 3, 3, 3)
    with pytest.raises(ValueError, match="divisible by groups"):
        td.nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode"):
        td.nn.Conv2d(3, 4, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="strided"):
        td.nn.Conv2d(3, 4, 3, padding="same", stride=2)


# ------------------------------------------------------- pooling options
def np_pool2d(
    x,
    kind,
    kernel,
    stride,
    padding=(0, 0),
    dilation=(1, 1),
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
):
    """Pooling by PyTorch's definition, one output position at a time."""
    from tinydl.ops.conv import pool_output_size

    n_h, n_w = x.shape[2:]
    out = [
        pool_output_size(n, k, s, p, d, ceil_mode)
        for n, k, s, p, d in zip((n_h, n_w), kernel, stride, padding, dilation)
    ]
    y = np.zeros(x.shape[:2] + tuple(out))
    for p in range(out[0]):
        for q in range(out[1]):
            h0, w0 = p * stride[0] - padding[0], q * stride[1] - padding[1]
            if kind == "max":
                hs = [h0 + i * dilation[0] for i in range(kernel[0]) if 0 <= h0 + i * dilation[0] < n_h]
                ws = [w0 + j * dilation[1] for j in range(kernel[1]) if 0 <= w0 + j * dilation[1] < n_w]
                y[:, :, p, q] = x[:, :, hs][:, :, :, ws].max(axis=(2, 3))
                continue
            h1, w1 = min(h0 + kernel[0], n_h + padding[0]), min(w0 + kernel[1], n_w + padding[1])
            size = (h1 - h0) * (w1 - w0)
            hc0, wc0, hc1, wc1 = max(h0, 0), max(w0, 0), min(h1, n_h), min(w1, n_w)
            total = x[:, :, hc0:hc1, wc0:wc1].sum(axis=(2, 3))
            if divisor_override:
                size = divisor_override
            elif not count_include_pad:
                size = (hc1 - hc0) * (wc1 - wc0)
            y[:, :, p, q] = total / size
    return y


@st.composite
def pool_cases(draw, kind):
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if kind == "max" else (1, 1)
    ceil_mode = draw(st.booleans())
    hw = tuple(d * (k - 1) + 1 + draw(st.integers(0, 3)) for k, d in zip(kernel, dilation))
    options = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode)
    if kind == "max":
        options["dilation"] = dilation
    else:
        options["count_include_pad"] = draw(st.booleans())
        options["divisor_override"] = draw(st.sampled_from([None, None, 3]))
    return (1, 2) + hw, options


def _np_options(kind, options):
    o = dict(options)
    kernel, stride = o.pop("kernel_size"), o.pop("stride")
    return dict(o, kind=kind, kernel=kernel, stride=stride)


@pytest.mark.parametrize("kind", ["max", "avg"])
@given(data=st.data())
def test_pool_options_gradcheck(kind, data):
    shape, options = data.draw(pool_cases(kind))
    x = data.draw(tst.distinct_arrays(shape)) if kind == "max" else data.draw(tst.float_arrays(shape))
    op = F.max_pool2d if kind == "max" else F.avg_pool2d
    check(lambda t: op(t, **options), lambda a: np_pool2d(a, **_np_options(kind, options)), x)


@pytest.mark.parametrize("kind", ["max", "avg"])
@given(data=st.data())
def test_pool_options_torch(torch, kind, data):
    shape, options = data.draw(pool_cases(kind))
    x = data.draw(tst.distinct_arrays(shape)) if kind == "max" else data.draw(tst.float_arrays(shape))
    name = f"{kind}_pool2d"
    compare(
        torch, lambda t: getattr(F, name)(t, **options), lambda t: getattr(torch.nn.functional, name)(t, **options), x
    )


@given(data=st.data())
def test_max_pool_indices_and_unpool_torch(torch, data):
    shape, options = data.draw(pool_cases("max"))
    x = data.draw(tst.distinct_arrays(shape))
    y, idx = F.max_pool2d(td.tensor(x), return_indices=True, **options)
    y_t, idx_t = torch.nn.functional.max_pool2d(torch.tensor(x), return_indices=True, **options)
    assert idx.dtype == np.int64 and not idx.requires_grad
    np.testing.assert_array_equal(idx.numpy(), idx_t.numpy())
    if options["dilation"] != (1, 1) or options["ceil_mode"]:
        return  # torch's unpool checks output_size against its formula, which has neither
    unpool = dict(
        kernel_size=options["kernel_size"], stride=options["stride"], padding=options["padding"], output_size=shape[2:]
    )
    compare(
        torch,
        lambda t: F.max_unpool2d(t, idx, **unpool),
        lambda t: torch.nn.functional.max_unpool2d(t, idx_t, **unpool),
        y_t.numpy(),
    )


def test_unpool_gradcheck_and_layers(torch):
    rng = np.random.default_rng(8)
    x = rng.permutation(2 * 3 * 6 * 6).reshape(2, 3, 6, 6) / 10.0
    y, idx = td.nn.MaxPool2d(2, return_indices=True)(td.tensor(x))
    td.gradcheck(lambda t: F.max_unpool2d(t, idx, 2), y.numpy())
    z = td.nn.MaxUnpool2d(2)(y, idx)
    z_t = torch.nn.MaxUnpool2d(2)(*torch.nn.MaxPool2d(2, return_indices=True)(torch.tensor(x)))
    np.testing.assert_array_equal(z.numpy(), z_t.numpy())
    layers = [
        (
            td.nn.MaxPool2d(3, 2, padding=1, dilation=1, ceil_mode=True),
            torch.nn.MaxPool2d(3, 2, padding=1, ceil_mode=True),
        ),
        (
            td.nn.AvgPool2d(3, 2, padding=1, count_include_pad=False),
            torch.nn.AvgPool2d(3, 2, padding=1, count_include_pad=False),
        ),
    ]
    for ours, theirs in layers:
        np.testing.assert_allclose(ours(td.tensor(x)).numpy(), theirs(torch.tensor(x)).numpy(), rtol=1e-12, atol=1e-12)
    assert (
        repr(td.nn.MaxPool2d(3, 2, padding=1, ceil_mode=True))
        == "MaxPool2d(kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), ceil_mode=True)"
    )


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: F.max_pool2d(td.zeros(1, 1, 5, 5), 2, padding=2), "at most half"),
        (lambda: F.avg_pool2d(td.zeros(1, 1, 5, 5), 2, divisor_override=0), "divisor_override"),
        (lambda: F.max_pool2d(td.zeros(1, 1, 3, 3), 2, dilation=3), "larger than"),
        (lambda: F.max_unpool2d(td.zeros(1, 1, 2, 2), td.zeros(1, 1, 2, 2), 2), "integer tensor"),
        (lambda: F.max_unpool2d(td.zeros(1, 1, 2, 2), td.tensor(np.full((1, 1, 2, 2), 16)), 2), r"\[0, 16\)"),
    ],
)
def test_pool_option_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
