"""GPU tests (marker ``gpu``): skipped where CuPy or an NVIDIA GPU is missing, e.g. in CI.

Run them where a GPU is present with ``python -m pytest -m gpu``.
"""

import numpy as np
import pytest

import tinydl as td

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not td.cuda.is_available(), reason="needs CuPy and an NVIDIA GPU"),
]


def test_round_trip_and_device_of_results():
    x = td.tensor(np.arange(6.0).reshape(2, 3), device="cuda")
    assert x.device == "cuda:0" and "device='cuda:0'" in repr(x)
    np.testing.assert_array_equal(x.cpu().numpy(), np.arange(6.0).reshape(2, 3))
    assert (x * 2).device == "cuda:0"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ops_and_gradients_match_the_cpu(dtype):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 4)).astype(dtype), rng.standard_normal((4, 3)).astype(dtype)
    labels = np.array([0, 2, 1, 1, 0])
    results = []
    for where in ("cpu", "cuda"):
        ta, tb = td.tensor(a, requires_grad=True, device=where), td.tensor(b, requires_grad=True, device=where)
        h = td.tanh(ta @ tb) + td.sigmoid(ta.sum(axis=1, keepdims=True)) * td.relu(tb[0])
        loss = td.cross_entropy(h, labels) + td.log_softmax(h).exp().max() + td.mse_loss(h, td.zeros_like(h))
        loss.backward()
        results.append([loss.cpu().numpy(), ta.grad.cpu().numpy(), tb.grad.cpu().numpy()])
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for cpu, gpu in zip(*results):
        np.testing.assert_allclose(gpu, cpu, rtol=tol, atol=tol)


def test_gradients_flow_back_across_devices():
    x = td.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x.to("cuda") ** 2).sum().backward()
    assert x.grad.device == "cpu"
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0, 6.0])


def test_an_mlp_trains_on_the_gpu_like_on_the_cpu():
    rng = np.random.default_rng(0)
    data, labels = rng.standard_normal((64, 2)).astype(np.float32), rng.integers(0, 2, 64)
    losses = {}
    for where in ("cpu", "cuda"):
        td.manual_seed(0)
        model = td.nn.Sequential(td.nn.Linear(2, 16), td.nn.Tanh(), td.nn.Linear(16, 2)).to(where)
        optimizer = td.optim.Adam(model.parameters(), lr=1e-2)
        x = td.tensor(data, device=where)
        for _ in range(20):
            optimizer.zero_grad()
            loss = td.cross_entropy(model(x), labels)
            loss.backward()
            optimizer.step()
        losses[where] = loss.item()
    assert abs(losses["cpu"] - losses["cuda"]) < 1e-4


# ---------------------------------------------------------------- the CUDA C kernels on a real GPU
# The same checks as tests/test_cuda_emulated.py (which runs them on the CPU), here with CuPy
# arrays: every kernel against the CPU reference, outputs poisoned with NaN first.
import contextlib  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from test_conv import POOL_CASES, assert_same_numbers, poisoned_arithmetic  # noqa: E402
from test_conv import poisoned as poisoned_arrays  # noqa: E402
from test_cuda_emulated import (  # noqa: E402
    assert_close,
    conv_problems,
    matmul_shapes,
    pool_problems,
    small_fused_problems,  # noqa: E402
)

from tinydl.kernels import numpy_norm, reference  # noqa: E402
from tinydl.kernels.cuda import batchnorm as cuda_batchnorm  # noqa: E402
from tinydl.kernels.cuda import conv as cuda_conv  # noqa: E402
from tinydl.kernels.cuda import launch as cuda_launch  # noqa: E402
from tinydl.kernels.cuda import matmul as cuda_matmul  # noqa: E402
from tinydl.kernels.cuda import pool as cuda_pool  # noqa: E402

GPU_EXAMPLES = settings(max_examples=25, deadline=None)  # the float64 reference loops dominate: keep the section short


@contextlib.contextmanager
def poisoned():
    previous = cuda_launch._poison_outputs
    cuda_launch._poison_outputs = True
    try:
        yield
    finally:
        cuda_launch._poison_outputs = previous


def _gpu(*arrays):
    import cupy

    return tuple(cupy.asarray(a) for a in arrays)


def _cpu(a):
    return a.get() if hasattr(a, "get") else a


@pytest.mark.parametrize("rung", ["naive", "tiled", "blocked"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@GPU_EXAMPLES
@given(shape=matmul_shapes(), seed=st.integers(0, 2**16))
def test_gpu_matmul_rungs_match_reference(rung, dtype, shape, seed):
    m, k, n = shape
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
    with poisoned():
        c = _cpu(getattr(cuda_matmul, f"matmul_{rung}")(*_gpu(a, b)))
    assert_close(c, a.astype(np.float64) @ b, k, np.abs(a).max() * np.abs(b).max(), dtype, f"{rung} {shape}")


def test_gpu_matmul_large_and_misaligned():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((1031, 517)).astype(np.float32), rng.standard_normal((517, 1029)).astype(np.float32)
    ga, gb = _gpu(a, b)
    for rung in ("tiled", "blocked"):
        with poisoned():
            assert_close(
                _cpu(getattr(cuda_matmul, f"matmul_{rung}")(ga, gb)),
                a.astype(np.float64) @ b,
                517,
                np.abs(a).max() * np.abs(b).max(),
                np.float32,
                rung,
            )
            # a view starting 4 bytes in: the float4 path must switch itself off
            assert_close(
                _cpu(cuda_matmul.matmul_blocked(ga[:, 1:], gb[1:])),
                a[:, 1:].astype(np.float64) @ b[1:],
                516,
                np.abs(a).max() * np.abs(b).max(),
                np.float32,
                "offset view",
            )


@pytest.mark.parametrize("impl", ["im2col", "direct"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@GPU_EXAMPLES
@given(problem=conv_problems(), seed=st.integers(0, 2**16), with_bias=st.booleans())
def test_gpu_conv_kernels_match_reference(impl, dtype, problem, seed, with_bias):
    x_shape, w_shape, stride, padding = problem
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)
    bias = rng.standard_normal(w_shape[:1]).astype(dtype) if with_bias else None
    y_want = reference.conv2d_forward(
        x.astype(np.float64), w.astype(np.float64), None if bias is None else bias.astype(np.float64), stride, padding
    )
    grad_y = rng.standard_normal(y_want.shape).astype(dtype)
    kernels = getattr(cuda_conv, impl)
    gx_, gw_, ggy = _gpu(x, w, grad_y)
    with poisoned():
        y = _cpu(kernels.conv2d_forward(gx_, gw_, None if bias is None else _gpu(bias)[0], stride, padding))
        gx = _cpu(kernels.conv2d_backward_input(ggy, gw_, x_shape, stride, padding))
        gw = _cpu(kernels.conv2d_backward_weight(ggy, gx_, w_shape, stride, padding))
    taps = w_shape[1] * w_shape[2] * w_shape[3]
    assert_close(y, y_want, taps, np.abs(x).max() * np.abs(w).max() + (np.abs(bias).max() if with_bias else 0), dtype)
    assert_close(
        gx,
        reference.conv2d_backward_input(grad_y.astype(np.float64), w.astype(np.float64), x_shape, stride, padding),
        w_shape[0] * w_shape[2] * w_shape[3],
        np.abs(grad_y).max() * np.abs(w).max(),
        dtype,
    )
    assert_close(
        gw,
        reference.conv2d_backward_weight(grad_y.astype(np.float64), x.astype(np.float64), w_shape, stride, padding),
        y.shape[0] * y.shape[2] * y.shape[3],
        np.abs(grad_y).max() * np.abs(x).max(),
        dtype,
    )


# NaN and ±Inf as in PyTorch (the same checks as tests/test_cuda_emulated.py, with NVRTC's compiler).
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", POOL_CASES, ids=[str(c[0]) for c in POOL_CASES])
def test_gpu_pool_kernel_lets_nan_win_as_torch_does(dtype, case):
    window, want_y, want_argmax = case
    x = np.array(window, dtype=dtype).reshape(1, 1, 2, 2)
    with poisoned():
        y, argmax = cuda_pool.maxpool2d_forward(*_gpu(x), (2, 2), (2, 2))
        grad_x = cuda_pool.maxpool2d_backward(*_gpu(np.ones((1, 1, 1, 1), dtype)), argmax, x.shape, (2, 2), (2, 2))
    np.testing.assert_array_equal(_cpu(y).ravel(), [want_y])
    assert int(_cpu(argmax).ravel()[0]) == want_argmax
    np.testing.assert_array_equal(_cpu(grad_x).ravel(), np.eye(4)[want_argmax])


@poisoned_arithmetic
@pytest.mark.parametrize("impl", ["im2col", "direct"])
@GPU_EXAMPLES
@given(data=st.data(), problem=small_fused_problems(), seed=st.integers(0, 2**16))
def test_gpu_conv_and_fused_kernels_match_reference_on_poisoned_inputs(impl, data, problem, seed):
    x_shape, w_shape, stride, padding, pool_size, pool_stride = problem
    x = data.draw(poisoned_arrays(x_shape, seed), label="x")
    w = data.draw(poisoned_arrays(w_shape, seed + 1, max_poisons=1), label="w")
    b = data.draw(poisoned_arrays(w_shape[:1], seed + 2, max_poisons=1), label="b")
    options = dict(stride=stride, padding=padding, pool_kernel=(pool_size,) * 2, pool_stride=(pool_stride,) * 2)
    y_want, arg_want = reference.conv2d_relu_maxpool2d_forward(x, w, b, **options)
    grad = np.random.default_rng(seed + 3).standard_normal(y_want.shape)
    want = reference.conv2d_relu_maxpool2d_backward(grad, y_want, arg_want, x, w, need_input_grad=True, **options)
    kernels = getattr(cuda_conv, impl)
    gx_, gw_, gb_, ggrad = _gpu(x, w, b, grad)
    with poisoned():
        y, argmax = kernels.conv2d_relu_maxpool2d_forward(gx_, gw_, gb_, **options)
        got = kernels.conv2d_relu_maxpool2d_backward(ggrad, y, argmax, gx_, gw_, need_input_grad=True, **options)
    assert_same_numbers(_cpu(y), y_want, what="fused forward")
    np.testing.assert_array_equal(_cpu(argmax), arg_want)
    for what, g, g_want in zip(("∂x", "∂w", "∂b"), got, want):
        assert_same_numbers(_cpu(g), g_want, what=what)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@GPU_EXAMPLES
@given(problem=pool_problems(), seed=st.integers(0, 2**16))
def test_gpu_pool_kernels_match_reference(dtype, problem, seed):
    x_shape, kernel, stride = problem
    x = np.round(np.random.default_rng(seed).standard_normal(x_shape) * 2).astype(dtype)  # ties
    y_want, arg_want = reference.maxpool2d_forward(x, kernel, stride)
    grad = np.random.default_rng(seed + 1).standard_normal(y_want.shape).astype(dtype)
    with poisoned():
        y, argmax = cuda_pool.maxpool2d_forward(*_gpu(x), kernel, stride)
        gx = cuda_pool.maxpool2d_backward(*_gpu(grad), argmax, x_shape, kernel, stride)
    np.testing.assert_array_equal(_cpu(y), y_want)
    np.testing.assert_array_equal(_cpu(argmax), arg_want)
    assert_close(
        _cpu(gx),
        reference.maxpool2d_backward(grad, arg_want, x_shape, kernel, stride),
        kernel[0] * kernel[1],
        np.abs(grad).max(),
        dtype,
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(64, 32, 26, 26), (7, 3, 5, 1), (512, 64), (3, 1)])
def test_gpu_batchnorm_kernels_match_the_formulas(dtype, shape):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    weight, bias = rng.standard_normal(shape[1]).astype(dtype), rng.standard_normal(shape[1]).astype(dtype)
    grad = rng.standard_normal(shape).astype(dtype)
    want = numpy_norm.batchnorm_train_forward(
        x.astype(np.float64), weight.astype(np.float64), bias.astype(np.float64), 1e-5
    )
    back_want = numpy_norm.batchnorm_train_backward(
        grad.astype(np.float64), want[1], want[4], weight.astype(np.float64), True
    )
    with poisoned():
        got = cuda_batchnorm.batchnorm_train_forward(*_gpu(x, weight, bias), 1e-5)
        back = cuda_batchnorm.batchnorm_train_backward(*_gpu(grad), got[1], got[4], *_gpu(weight), True)
    count = x.size // shape[1]
    scale = max(1.0, float(np.abs(want[4]).max()))
    for g, w in zip(got, want):
        assert_close(_cpu(g), w, count, scale * max(1.0, float(np.abs(w).max())), dtype)
    for g, w in zip(back, back_want):
        assert_close(_cpu(g), w, count, scale * np.abs(grad).max() * max(1.0, float(np.abs(weight).max())), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_fused_optimisers_equal_the_numpy_lines(dtype):
    rng = np.random.default_rng(0)
    start = rng.standard_normal(100_003).astype(dtype)
    grads = [rng.standard_normal(start.size).astype(dtype) for _ in range(3)]
    for make in (
        lambda p, fused: td.optim.Adam(p, lr=1e-2, weight_decay=0.01, fused=fused),
        lambda p, fused: td.optim.AdamW(p, lr=1e-2, fused=fused),
        lambda p, fused: td.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1, fused=fused),
    ):
        results = []
        for where, fused in (("cpu", False), ("cuda", True)):
            param = td.nn.Parameter(start.copy()).to(where) if where == "cuda" else td.nn.Parameter(start.copy())
            optimizer = make([param], fused)
            for g in grads:
                param.grad = td.tensor(g, device=where)
                optimizer.step()
            results.append(param.numpy())
        # --fmad=false: the GPU rounds a·b + c twice, as NumPy does
        np.testing.assert_array_equal(results[1], results[0])


@pytest.mark.parametrize("conv_impl", ["cupy_im2col", "cupy_direct"])
def test_gpu_gradcheck_of_conv_and_pooling_in_float64(conv_impl):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)

    def fn(x, w, b):
        y = td.nn.functional.conv2d(x.to("cuda"), w.to("cuda"), b.to("cuda"), stride=(1, 2), padding=1)
        return td.nn.functional.avg_pool2d(td.nn.functional.max_pool2d(td.relu(y), 2, stride=1), 2).to("cpu")

    with td.kernels.using("conv2d", conv_impl):
        td.gradcheck(
            fn, td.tensor(x, requires_grad=True), td.tensor(w, requires_grad=True), td.tensor(b, requires_grad=True)
        )


@pytest.mark.parametrize("model_name", ["small_cnn", "convnet"])
def test_zoo_models_train_on_the_gpu_like_on_the_cpu(model_name):
    rng = np.random.default_rng(0)
    data, labels = rng.standard_normal((32, 1, 28, 28)).astype(np.float32), rng.integers(0, 2, 32)
    losses = {}
    for where in ("cpu", "cuda"):
        td.manual_seed(0)
        model = td.models.create(model_name, in_channels=1, num_classes=2).to(where)
        optimizer = td.optim.Adam(model.parameters(), lr=1e-3)
        x = td.tensor(data, device=where)
        trace = []
        for _ in range(5):
            optimizer.zero_grad()
            loss = td.cross_entropy(model(x), labels)
            loss.backward()
            optimizer.step()
            trace.append(loss.item())
        losses[where] = trace
    np.testing.assert_allclose(losses["cuda"], losses["cpu"], rtol=1e-3, atol=1e-4)


def test_trainer_predict_and_save_on_the_gpu(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 1, 28, 28)).astype(np.float32), rng.integers(0, 2, 64)
    td.manual_seed(0)
    model = td.models.create("small_cnn", in_channels=1, num_classes=2).to("cuda")
    trainer = td.train.Trainer(model, epochs=2, batch_size=16, seed=0, progress=False)
    trainer.fit((x, y), (x[:16], y[:16]))
    probs = trainer.predict_proba(x)
    assert probs.shape == (64, 2) and isinstance(probs, np.ndarray)
    cams = td.explain.grad_cam(model, trainer.normalizer(x[:4]))
    assert np.asarray(cams).shape[0] == 4
    td.save(model, tmp_path / "model.npz")
    on_cpu = td.load(tmp_path / "model.npz")
    assert next(iter(on_cpu.parameters())).device == "cpu"
    np.testing.assert_allclose(td.train.predict_proba(on_cpu, x, trainer.normalizer), probs, atol=1e-5)
    back = on_cpu.to("cuda")
    np.testing.assert_allclose(td.train.predict_proba(back, x, trainer.normalizer), probs, atol=1e-5)
