"""Devices: where a tensor's data lives — ``'cpu'`` (a NumPy array) or ``'cuda'`` / ``'cuda:N'`` (a CuPy array on GPU N).

    >>> import tinydl as td
    >>> td.device("cuda:1")
    device('cuda:1')
    >>> x = td.tensor([1.0, 2.0])            # on the CPU
    >>> x.device
    device('cpu')

Every op is written once against the array module of its inputs (NumPy or
CuPy, see :mod:`tinydl.backend`), so the same code runs on both; only the
hot kernels have a GPU version of their own, in CUDA C (``tinydl/kernels/cuda/``:
conv, pooling, matmul, batch norm, the Adam/SGD updates). CuPy is imported the
first time a GPU is asked for, never by ``import tinydl``.

``model.to("cuda")`` (or ``tinydl train --device cuda``) trains on the GPU.
Without a GPU the tests compile those kernels with NVRTC and run them in a CPU
emulation; tinydl has not yet been measured on a real GPU.
"""

GPU_INSTALL_HINT = (
    'install the GPU extra on a machine with an NVIDIA GPU and CUDA 12: pip install "tinydl[gpu]" '
    "(or a CuPy wheel matching your CUDA, e.g. cupy-cuda12x)"
)


class Device:
    """A place for tensors: ``Device("cpu")``, ``Device("cuda")`` (GPU 0) or ``Device("cuda:1")``."""

    __slots__ = ("type", "index")

    def __init__(self, spec="cpu"):
        if isinstance(spec, Device):
            self.type, self.index = spec.type, spec.index
            return
        if not isinstance(spec, str):
            raise TypeError(f"a device is given as a string such as 'cpu', 'cuda' or 'cuda:0', got {spec!r}")
        kind, _, index = spec.strip().lower().partition(":")
        if kind == "cpu" and not index:
            self.type, self.index = "cpu", None
        elif kind == "cuda" and (not index or (index.isdigit())):
            self.type, self.index = "cuda", int(index) if index else 0
        else:
            raise ValueError(f"unknown device {spec!r}: expected 'cpu', 'cuda' or 'cuda:N' with N = 0, 1, …")

    def __eq__(self, other):
        try:
            other = Device(other)
        except (TypeError, ValueError):
            return NotImplemented
        return (self.type, self.index) == (other.type, other.index)

    def __hash__(self):
        return hash((self.type, self.index))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        return f"device('{self}')"


def device(spec="cpu"):
    """``td.device('cpu' | 'cuda' | 'cuda:N')``: a :class:`Device` (one is returned unchanged)."""
    return spec if isinstance(spec, Device) else Device(spec)


CPU = Device("cpu")


def device_of(array):
    """The device an array lives on: CPU for NumPy arrays, ``cuda:N`` for CuPy arrays."""
    if type(array).__module__.startswith("cupy"):  # recognised by name: CuPy need not be imported
        return Device(f"cuda:{array.device.id}")
    return CPU


def require_cupy():
    """Import CuPy and check that a GPU is there; raise a clear error (with the install hint) if not."""
    try:
        import cupy
    except ImportError:
        raise RuntimeError(f"CUDA was asked for, but CuPy is not installed: {GPU_INSTALL_HINT}") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # no driver, no GPU: CuPy raises its own CUDA runtime errors
        raise RuntimeError(f"CUDA was asked for, but no GPU is usable here ({e}); {GPU_INSTALL_HINT}") from None
    if count == 0:
        raise RuntimeError(f"CUDA was asked for, but this machine has no NVIDIA GPU; {GPU_INSTALL_HINT}")
    return cupy


def move(array, target):
    """``array`` on device ``target`` (the same object when it is already there)."""
    target = device(target)
    if device_of(array) == target:
        return array
    if target.type == "cpu":
        return array.get()
    cupy = require_cupy()
    if target.index >= cupy.cuda.runtime.getDeviceCount():
        raise RuntimeError(f"{target} asked for, but this machine has {cupy.cuda.runtime.getDeviceCount()} GPU(s)")
    with cupy.cuda.Device(target.index):
        return cupy.asarray(array)


def is_device_spec(target):
    """True when ``target`` names a device (``'cpu'``, ``'cuda'``, ``'cuda:1'``, a Device), not a dtype.

    ``tensor.to(target)`` and ``module.to(target)`` take either; this tells them which.
    """
    return isinstance(target, Device) or (
        isinstance(target, str) and target.strip().lower().split(":")[0] in ("cpu", "cuda")
    )
