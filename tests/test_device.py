"""Devices on a machine without a GPU: parsing, errors, lazy CuPy, and the mixed-device check.

What needs a GPU is in tests/test_gpu.py (marker ``gpu``, skipped where none is present).
"""

import contextlib
import importlib.machinery
import importlib.util
import subprocess
import sys
import types

import numpy as np
import pytest

import tinydl as td


def test_device_parsing_and_equality():
    assert td.device("cpu") == td.device("CPU") == "cpu"
    assert td.device("cuda") == td.device("cuda:0") == "cuda:0"
    assert td.device("cuda:1").index == 1 and td.device("cuda:1").type == "cuda"
    assert repr(td.device("cuda:1")) == "device('cuda:1')" and str(td.device("cpu")) == "cpu"
    assert td.device(td.device("cpu")) == td.device("cpu")
    assert len({td.device("cuda"), td.device("cuda:0"), td.device("cpu")}) == 2


@pytest.mark.parametrize("spec", ["gpu", "cuda:x", "cuda:-1", "cpu:0", ""])
def test_unknown_device_is_named_in_the_error(spec):
    with pytest.raises(ValueError, match=f"unknown device '{spec}'"):
        td.device(spec)


def test_device_must_be_a_string():
    with pytest.raises(TypeError, match="a device is given as a string"):
        td.device(0)


def test_cpu_tensors_and_modules():
    x = td.tensor([1.0, 2.0], device="cpu")
    assert x.device == "cpu" and x.to("cpu") is x and x.cpu() is x
    assert x.to(td.float64).dtype == np.float64
    model = td.nn.Linear(2, 3)
    assert model.to("cpu") is model and model.weight.device == "cpu"
    assert model.to(td.float64).weight.dtype == np.float64


@pytest.mark.skipif(td.cuda.is_available(), reason="a GPU is present here")
def test_asking_for_cuda_without_a_gpu_says_how_to_install_the_extra():
    assert td.cuda.is_available() is False and td.cuda.device_count() == 0
    for make in (
        lambda: td.tensor([1.0], device="cuda"),
        lambda: td.tensor([1.0]).cuda(),
        lambda: td.nn.Linear(2, 2).to("cuda:0"),
    ):
        with pytest.raises(RuntimeError, match=r'pip install "tinydl\[gpu\]"'):
            make()


def test_import_and_cpu_ops_never_import_cupy():
    code = (
        "import sys, tinydl as td\n"
        "td.cuda.is_available(); (td.tensor([1.0], requires_grad=True) * 2).sum().backward()\n"
        "assert not td.device('cuda').index\n"
        "print('cupy' in sys.modules and sys.modules['cupy'] is not None and hasattr(sys.modules['cupy'], 'ndarray'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    # is_available() may import CuPy where it is installed; without CuPy nothing is imported at all.
    import importlib.util

    if importlib.util.find_spec("cupy") is None:
        assert out == "False"


class _FakeGpuArray(np.ndarray):
    """A NumPy array that says it lives on GPU 0 (enough for the device check, which runs before any maths)."""

    __module__ = "cupy._core.core"
    device = types.SimpleNamespace(id=0)


def test_mixing_devices_in_one_op_names_both_devices():
    on_gpu = td.Tensor._from_array(np.ones((2, 3)).view(_FakeGpuArray))
    on_cpu = td.tensor(np.ones((2, 3)))
    assert on_gpu.device == "cuda:0" and on_cpu.device == "cpu"
    with pytest.raises(RuntimeError, match=r"Add: inputs are on different devices \(cpu \(2, 3\), cuda:0 \(2, 3\)\)"):
        on_cpu + on_gpu
    with pytest.raises(RuntimeError, match="different devices"):
        td.matmul(on_gpu, on_cpu.T)


# ---------------------------------------------------------------- the kernel registry, per device
CUDA_NAMES = {
    "conv2d": ["cupy_im2col", "cupy_direct"],
    "conv2d_relu_maxpool2d": ["cupy_im2col", "cupy_direct"],
    "maxpool2d": ["cuda"],
    "matmul": ["cublas", "cuda_naive", "cuda_tiled", "cuda_blocked"],
    "batchnorm": ["cuda", "cupy"],
}


@pytest.fixture
def cupy_installed(monkeypatch):
    """Pretend CuPy is installed: the registry asks importlib whether it could be imported, and a
    module in sys.modules answers yes. Nothing calls into it (the GPU arrays here are faked too)."""
    if importlib.util.find_spec("cupy") is None:
        stand_in = types.ModuleType("cupy")
        stand_in.__spec__ = importlib.machinery.ModuleSpec("cupy", None)
        monkeypatch.setitem(sys.modules, "cupy", stand_in)
    yield
    for op in td.kernels.ROLES:
        td.kernels.use(op, None, device="cuda")


@pytest.mark.parametrize("op", sorted(CUDA_NAMES))
def test_registry_lists_each_device_apart(op, cupy_installed):
    assert td.kernels.registered(op, device="cuda") == CUDA_NAMES[op]
    assert td.kernels.available(op, device="cuda") == CUDA_NAMES[op]
    assert td.kernels.available(op, device="cuda:1") == CUDA_NAMES[op]
    cpu = td.kernels.available(op)
    assert cpu == td.kernels.available(op, device="cpu") and not set(cpu) & set(CUDA_NAMES[op])
    assert td.kernels.default(op, device="cuda") == CUDA_NAMES[op][0]
    assert td.kernels.current(op, device=td.device("cuda")) == CUDA_NAMES[op][0]


def test_without_cupy_no_cuda_implementation_is_available(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # importlib then finds no CuPy, installed or not
    assert td.kernels.available("conv2d", device="cuda") == []
    assert td.kernels.registered("conv2d", device="cuda") == CUDA_NAMES["conv2d"]
    with pytest.raises(RuntimeError, match="needs cupy"):
        td.kernels.default("conv2d", device="cuda")
    with pytest.raises(RuntimeError, match="needs cupy, which is not installed"):
        td.kernels.use("matmul", "cuda_tiled")


def test_each_device_keeps_its_own_choice(cupy_installed):
    cpu_before = td.kernels.current("conv2d")
    td.kernels.use("conv2d", "cupy_direct")  # the name says which device
    try:
        assert td.kernels.current("conv2d", device="cuda") == "cupy_direct"
        assert td.kernels.current("conv2d") == cpu_before
        with td.kernels.using("conv2d", "reference"):
            assert td.kernels.current("conv2d") == "reference"
            assert td.kernels.current("conv2d", device="cuda") == "cupy_direct"
        with td.kernels.using("matmul", "cuda_blocked", device="cuda"):
            assert td.kernels.current("matmul", device="cuda") == "cuda_blocked"
            assert td.kernels.current("matmul") == td.kernels.default("matmul")
        assert td.kernels.current("matmul", device="cuda") == "cublas"
    finally:
        td.kernels.use("conv2d", None, device="cuda")
    assert td.kernels.current("conv2d", device="cuda") == "cupy_im2col"


def test_a_name_of_the_other_device_is_refused_clearly(cupy_installed):
    with pytest.raises(ValueError, match=r"'cupy_im2col' is a cuda implementation of 'conv2d', not a cpu one"):
        td.kernels.use("conv2d", "cupy_im2col", device="cpu")
    with pytest.raises(ValueError, match=r"'numba' is a cpu implementation"):
        td.kernels.use("conv2d", "numba", device="cuda")
    with pytest.raises(ValueError, match=r"no implementation 'cuda_fast' of 'matmul'"):
        td.kernels.use("matmul", "cuda_fast", device="cuda")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        td.kernels.available("conv2d", device="tpu")


def test_ops_on_gpu_tensors_call_the_cuda_kernels(monkeypatch, cupy_installed):
    """Without a GPU we fake the arrays' device and register a recording CUDA implementation:
    conv2d, max_pool2d and the fused block on a 'CUDA' tensor must go through the CUDA registry."""
    import tinydl.kernels.reference as reference

    calls = []
    recording = types.SimpleNamespace()
    roles = {r for op in ("conv2d", "maxpool2d", "conv2d_relu_maxpool2d") for r in td.kernels.ROLES[op]}
    for role in roles:  # (only the forward roles run here: no_grad)

        def record(*args, _role=role, **kwargs):
            calls.append(_role)
            out = getattr(reference, _role)(
                *(np.asarray(a) if isinstance(a, np.ndarray) else a for a in args), **kwargs
            )
            return tuple(o.view(_FakeGpuArray) for o in out) if isinstance(out, tuple) else out.view(_FakeGpuArray)

        setattr(recording, role, record)
    monkeypatch.setitem(sys.modules, "fake_cuda_kernels", recording)
    ops = ("conv2d", "maxpool2d", "conv2d_relu_maxpool2d")
    try:
        with contextlib.ExitStack() as chosen:
            for op in ops:
                td.kernels.register(op, "recording", "fake_cuda_kernels", device="cuda")
                chosen.enter_context(td.kernels.using(op, "recording"))  # the name says which device
            x = td.Tensor._from_array(np.ones((1, 1, 6, 6), np.float32).view(_FakeGpuArray))
            w = td.Tensor._from_array(np.ones((2, 1, 3, 3), np.float32).view(_FakeGpuArray))
            with td.no_grad():
                td.nn.functional.conv2d(x, w)
                td.nn.functional.max_pool2d(x, 2)
                td.nn.functional.conv2d_relu_maxpool2d(x, w)
        assert calls == ["conv2d_forward", "maxpool2d_forward", "conv2d_relu_maxpool2d_forward"]
    finally:
        for op in ops:
            if "recording" in td.kernels.registered(op, device="cuda"):
                td.kernels.unregister(op, "recording")
    assert "recording" not in td.kernels.registered("conv2d", device="cuda")


def test_the_cuda_launchers_import_without_cupy_and_refuse_numpy_outside_the_emulation():
    code = (
        "import sys\n"
        "import tinydl.kernels.cuda.conv, tinydl.kernels.cuda.matmul, tinydl.kernels.cuda.pool\n"
        "import tinydl.kernels.cuda.batchnorm, tinydl.kernels.cuda.optim, tinydl.testing.cuda_emulator\n"
        "print('cupy' in sys.modules, 'numba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
    from tinydl.kernels.cuda import matmul

    with pytest.raises(TypeError, match=r"take CuPy arrays.*cuda_emulator\.emulate\(\)"):
        matmul.matmul_tiled(np.ones((2, 2), np.float32), np.ones((2, 2), np.float32))


def test_asking_for_cuda_in_the_command_line_without_a_gpu_fails_before_training(tmp_path, capsys):
    if td.cuda.is_available():
        pytest.skip("a GPU is present here")
    from tinydl import cli

    code = cli.main(["train", "--device", "cuda", "--data", "synthetic", "--epochs", "1", "--out", str(tmp_path / "r")])
    assert code == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert "tinydl train: error: CUDA was asked for" in err and 'pip install "tinydl[gpu]"' in err
    assert not (tmp_path / "r").exists()


def test_unregister_removes_a_kernel_and_a_choice_of_it():
    td.kernels.register("matmul", "experiment", "tinydl.kernels.reference")
    td.kernels.use("matmul", "experiment")
    assert td.kernels.current("matmul") == "experiment"
    td.kernels.unregister("matmul", "experiment")
    assert "experiment" not in td.kernels.registered("matmul")
    assert td.kernels.current("matmul") == td.kernels.default("matmul")
    with pytest.raises(ValueError, match="no implementation 'experiment' of 'matmul' to remove"):
        td.kernels.unregister("matmul", "experiment")
