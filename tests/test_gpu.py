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
