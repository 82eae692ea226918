"""Devices on a machine without a GPU: parsing, errors, lazy CuPy, and the mixed-device check.

What needs a GPU is in tests/test_gpu.py (marker ``gpu``, skipped where none is present).
"""
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
    for make in (lambda: td.tensor([1.0], device="cuda"), lambda: td.tensor([1.0]).cuda(),
                 lambda: td.nn.Linear(2, 2).to("cuda:0")):
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


def test_convolution_on_a_gpu_tensor_says_the_kernels_are_cpu_only(monkeypatch):
    """Without a GPU we fake the device: the error must name the device and the way out."""
    x = td.zeros(1, 1, 5, 5)
    w = td.zeros(2, 1, 3, 3)
    monkeypatch.setattr(type(x), "device", property(lambda self: td.device("cuda:0")))
    with pytest.raises(NotImplementedError, match=r"cuda:0.*CPU only.*\.to\('cpu'\)"):
        td.nn.functional.conv2d(x, w)
    with pytest.raises(NotImplementedError, match="max_pool2d"):
        td.nn.functional.max_pool2d(x, 2)
