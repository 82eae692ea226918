"""Launching a CUDA C kernel: the one place where tinydl talks to CuPy's ``RawModule``.

Every GPU kernel of tinydl is CUDA C in a ``.cu`` file beside this one, one
file per family (``matmul.cu``, ``conv.cu``, ...). The Python launcher of a
family (``matmul.py`` next to ``matmul.cu``) allocates the outputs, works out
the launch configuration (grid, block, tile edges) and calls :func:`launch`.

:func:`launch` sends the call to one of two places:

* CuPy arrays → the kernel compiled by NVRTC through ``cupy.RawModule``
  (compiled once per process, cached on disk by CuPy) and run on the GPU;
* NumPy arrays, inside ``tinydl.testing.cuda_emulator.emulate()`` → the *same
  source* compiled by the system C++ compiler and run on the CPU.

So the tests run the launchers themselves — the very code that computes the
grid and the block for the GPU — on a machine without one. CuPy is imported
only when a CuPy array reaches :func:`launch`.

Scalars are passed as NumPy scalars of the kernel parameter's exact type
(``np.int32`` for ``int``, the array's float type for ``float``/``double``):
CuPy would pass a Python ``int`` as a 64-bit integer and a Python ``float``
as a ``double``, and a kernel reading ``int``/``float`` would see garbage.
The emulator refuses anything else, so that mistake fails on the CPU too.
"""

import functools
import pathlib
import re
from types import SimpleNamespace

import numpy as np

KERNEL_DIR = pathlib.Path(__file__).resolve().parent

# NVRTC options for every family (CUDA 12 and 13 both accept them); some families add their own.
NVRTC_OPTIONS = ("--std=c++17",)
FAMILY_OPTIONS = {
    # The optimiser updates must give the NumPy lines' numbers: no fused multiply-adds there
    # (a·b + c rounded once differs from NumPy's two roundings in the last bit).
    "optim": ("--fmad=false",),
}

# Set by tinydl.testing.cuda_emulator.emulate(); None otherwise.
_emulator = None
# While True, launchers fill fresh outputs with NaN (or -2³¹ for integers) instead of leaving them
# uninitialised, so that a kernel that forgets to write an element is caught (tests and gpu_check).
_poison_outputs = False
_cupy_modules = {}


def source_path(family):
    """The ``.cu`` file of a kernel family, e.g. ``source_path("matmul")``."""
    path = KERNEL_DIR / f"{family}.cu"
    if not path.is_file():
        known = sorted(p.stem for p in KERNEL_DIR.glob("*.cu"))
        raise ValueError(f"no CUDA kernel family {family!r}: {path} does not exist (known: {known})")
    return path


def families():
    """Names of all kernel families (one ``.cu`` file each)."""
    return sorted(p.stem for p in KERNEL_DIR.glob("*.cu"))


def options(family):
    """The NVRTC options the family is compiled with (on the GPU and in the compile test)."""
    return NVRTC_OPTIONS + FAMILY_OPTIONS.get(family, ())


_CONSTANT = re.compile(r"^constexpr int (\w+) = ([^;]+);", re.M)


def constants(family):
    """The file-scope ``constexpr int NAME = value;`` lines of a family's ``.cu`` file, as a dict.

    Tile edges are written once, in the CUDA source; the launcher reads them from
    there, so the grid it computes always fits the tile the kernel was compiled with.
    Values may use earlier names and + - * / (integer division) and parentheses.
    """
    values = {}
    for name, expression in _CONSTANT.findall(source_path(family).read_text()):
        if not re.fullmatch(r"[\w\s()+\-*/]+", expression):
            raise ValueError(f"{family}.cu: cannot read constexpr {name} = {expression}")
        values[name] = int(eval(expression.replace("/", "//"), {"__builtins__": {}}, dict(values)))
    return values


@functools.lru_cache(maxsize=None)
def tiles(family):
    """:func:`constants` of a family as attributes (``tiles("matmul").BM``), read once per process."""
    return SimpleNamespace(**constants(family))


def ceil_div(a, b):
    return -(-a // b)


def suffix(dtype):
    """Kernel name suffix for an array dtype: ``_f32`` or ``_f64`` (the kernels exist in both)."""
    dtype = np.dtype(dtype)
    if dtype == np.float32:
        return "_f32"
    if dtype == np.float64:
        return "_f64"
    raise TypeError(f"tinydl's CUDA kernels take float32 or float64 arrays, got {dtype}")


def check_index_range(where, *sizes):
    """The kernels index with 32-bit ints: refuse arrays of 2³¹ elements or more, clearly."""
    for size in sizes:
        if size >= 2**31:
            raise ValueError(f"{where}: {size} elements is too many for the 32-bit indices of the CUDA kernels")


def empty(xp, shape, dtype):
    """A fresh output array (NaN- or -2³¹-filled while outputs are poisoned)."""
    if not _poison_outputs:
        return xp.empty(shape, dtype=dtype)
    fill = np.nan if np.dtype(dtype).kind == "f" else np.iinfo(dtype).min
    return xp.full(shape, fill, dtype=dtype)


def _is_cupy(value):
    return type(value).__module__.startswith("cupy")


def _cupy_module(family):
    module = _cupy_modules.get(family)
    if module is None:
        import cupy

        module = cupy.RawModule(code=source_path(family).read_text(), options=options(family))
        _cupy_modules[family] = module
    return module


def launch(family, kernel, grid, block, args):
    """Run ``kernel`` of ``family`` on a ``grid`` of ``block``-shaped thread blocks with ``args``.

    ``grid`` and ``block`` are 3-tuples; ``args`` are arrays (C-contiguous) and NumPy scalars
    in the order of the kernel's parameters.
    """
    grid, block = tuple(int(g) for g in grid), tuple(int(b) for b in block)
    if len(grid) != 3 or len(block) != 3 or min(grid + block) < 1:
        raise ValueError(f"{family}.{kernel}: grid {grid} and block {block} must be three positive sizes")
    if any(_is_cupy(a) for a in args):
        function = _cupy_module(family).get_function(kernel)
        function(grid, block, tuple(args))
        return
    if _emulator is None:
        raise TypeError(
            f"{family}.{kernel}: the CUDA kernels take CuPy arrays (on a GPU); NumPy arrays run them only "
            "inside tinydl.testing.cuda_emulator.emulate() (the CPU emulation used by the tests)"
        )
    _emulator.launch(family, kernel, grid, block, args)
