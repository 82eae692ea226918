"""Run tinydl's CUDA C kernels on the CPU: the same ``.cu`` source, compiled by the system C++ compiler.

    >>> import numpy as np
    >>> from tinydl.kernels.cuda import matmul
    >>> from tinydl.testing.cuda_emulator import emulate
    >>> a, b = np.random.rand(20, 30).astype(np.float32), np.random.rand(30, 10).astype(np.float32)
    >>> with emulate() as emulator:
    ...     c = matmul.matmul_tiled(a, b)       # the GPU launcher, unchanged, on NumPy arrays
    >>> bool(np.allclose(c, a @ b, rtol=1e-5))
    True
    >>> emulator.launches[-1]                   # what was launched, with the grid and block it computed
    ('matmul', 'matmul_tiled_f32', (1, 2, 1), (16, 16, 1))

How it works: for each family the driver writes one small C++ file —
``#include "cuda_emulator.h"`` (threadIdx, __shared__, __syncthreads() on the
CPU), ``#include "<family>.cu"``, and for every ``extern "C" __global__``
kernel a wrapper that unpacks an argument array and calls it — compiles it
into a shared library (cached on disk by a hash of everything that went in)
and calls the wrappers through ctypes, one block after another.

What it checks besides the numbers: every argument's type against the
kernel's parameter (a Python ``int`` for an ``int`` parameter is refused, as
CuPy would silently pass 64 bits), arrays contiguous, writes outside an
array (each array gets guard bytes on both sides, checked after the
launch), and a ``__syncthreads()`` that only some threads of a block reach.

Stepping through a kernel: ``emulate(debug=True)`` builds without
optimisation and with symbols, so ``gdb -p <python's pid>`` (or
``gdb --args python script.py``) can break in e.g. ``matmul_tiled`` and print
``threadIdx``, ``As`` and ``sum`` like any C++ function.
"""

import contextlib
import ctypes
import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

import numpy as np

from ...kernels.cuda import launch as _launch

HEADER = pathlib.Path(__file__).resolve().parent / "cuda_emulator.h"
GUARD_BYTES = 256  # bytes of a known pattern on each side of every array, to catch writes out of bounds
_GUARD_VALUE = 0xA5

_KERNEL = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?(\w+)\s*\(([^)]*)\)')

# C parameter type (without const / __restrict__) → NumPy dtype of the array or scalar it takes.
_C_TYPES = {
    "float": np.float32,
    "double": np.float64,
    "int": np.int32,
    "unsigned int": np.uint32,
    "unsigned": np.uint32,
    "long long": np.int64,
    "unsigned char": np.uint8,
}


class EmulatedKernelError(RuntimeError):
    """A kernel run through the emulation failed: bad arguments, a write out of bounds, a divergent barrier."""


class Parameter:
    """One kernel parameter: its name, C type, whether it is a pointer and whether it points to const."""

    def __init__(self, text):
        text = " ".join(text.replace("__restrict__", " ").split())
        match = re.fullmatch(r"(.*?)\s*(\w+)", text)
        if not match:
            raise ValueError(f"cannot read kernel parameter {text!r}")
        self.c_type, self.name = match.group(1), match.group(2)
        self.pointer = "*" in self.c_type
        self.const = self.c_type.startswith("const ")
        base = self.c_type.replace("const", " ").replace("*", " ")
        base = " ".join(base.split())
        if base not in _C_TYPES:
            raise ValueError(f"kernel parameter {text!r}: type {base!r} is not one the emulator knows")
        self.dtype = np.dtype(_C_TYPES[base])

    def unpack(self, index):
        """The C++ expression that turns args[index] back into this parameter."""
        if self.pointer:
            return f"({self.c_type})args[{index}]"
        return f"*({self.c_type}*)args[{index}]"


def kernel_signatures(source):
    """{kernel name: [Parameter, ...]} for every ``extern "C" __global__`` kernel in a CUDA source."""
    return {name: [Parameter(p) for p in params.split(",") if p.strip()] for name, params in _KERNEL.findall(source)}


def compiler():
    """The C++ compiler used ($CXX, else g++, else clang++), or None."""
    for name in (os.environ.get("CXX"), "g++", "clang++", "c++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _cache_dir():
    root = os.environ.get("TINYDL_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tinydl"
    )
    return pathlib.Path(root) / "cuda_emulator"


class _Module:
    """One family compiled for the CPU: the shared library and its kernels' signatures."""

    def __init__(self, library_path, signatures):
        self.library = ctypes.CDLL(str(library_path))
        self.library.tinydl_emu_launch.restype = ctypes.c_int
        self.library.tinydl_emu_launch.argtypes = [ctypes.c_void_p, ctypes.c_void_p] + [ctypes.c_uint] * 6
        self.library.tinydl_emu_error.restype = ctypes.c_char_p
        self.signatures = signatures


class Emulator:
    """Compiles kernel families for the CPU (once, cached) and launches their kernels on NumPy arrays.

    ``threads=True`` runs each CUDA thread as an OS thread meeting at a C++20
    ``std::barrier`` (needed for ThreadSanitizer); the default runs them as
    fibers on one OS thread, deterministically. ``debug=True`` compiles with
    ``-O0 -g`` for stepping through a kernel in gdb. ``flags`` are extra
    compiler flags (e.g. ``("-fsanitize=thread",)``).
    """

    def __init__(self, threads=False, debug=False, flags=(), cache_dir=None):
        self.cxx = compiler()
        if self.cxx is None:
            raise EmulatedKernelError("no C++ compiler found (set CXX, or install g++): the CUDA emulation needs one")
        self.threads, self.debug, self.flags = threads, debug, tuple(flags)
        self.cache_dir = pathlib.Path(cache_dir) if cache_dir else _cache_dir()
        self.launches = []  # (family, kernel, grid, block) of every launch, in order
        self._modules = {}
        self._sources = {}  # family → CUDA source text to use instead of the file (see with_source)

    def compile_flags(self):
        flags = [
            "-std=c++20" if self.threads else "-std=c++17",
            "-fPIC",
            "-shared",
            "-ffp-contract=off",
            "-O0" if self.debug else "-O1",
            "-g" if self.debug else "-g0",
            "-w",
        ]
        if self.threads:
            flags += ["-DTINYDL_EMU_OS_THREADS", "-pthread"]
        return flags + list(self.flags)

    def with_source(self, family, source):
        """Use ``source`` instead of ``<family>.cu`` from now on (tests plant bugs in a copy this way)."""
        self._sources[family] = source
        self._modules.pop(family, None)

    def module(self, family):
        """The family compiled for the CPU (compiled on first use; later loaded from the disk cache)."""
        module = self._modules.get(family)
        if module is None:
            module = self._modules[family] = self._build(family)
        return module

    def _build(self, family):
        cu_path = _launch.source_path(family)
        source = self._sources.get(family, cu_path.read_text())
        signatures = kernel_signatures(source)
        if not signatures:
            raise EmulatedKernelError(f'{cu_path}: no extern "C" __global__ kernels found')
        wrappers = [f'#include "{HEADER}"', '#line 1 "' + str(cu_path) + '"', source, ""]
        for name, params in signatures.items():
            call = ", ".join(p.unpack(i) for i, p in enumerate(params))
            wrappers.append(f'extern "C" void tinydl_emu_call_{name}(void **args) {{ {name}({call}); }}')
        program = "\n".join(wrappers) + "\n"
        flags = self.compile_flags()
        version = subprocess.run([self.cxx, "--version"], capture_output=True, text=True).stdout
        key = hashlib.sha256("\0".join([program, HEADER.read_text(), " ".join(flags), version]).encode()).hexdigest()[
            :20
        ]
        library = self.cache_dir / f"{family}-{key}.so"
        if not library.exists():
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=self.cache_dir) as work:
                cpp = pathlib.Path(work) / f"{family}_emulated.cpp"
                cpp.write_text(program)
                built = pathlib.Path(work) / "kernel.so"
                result = subprocess.run([self.cxx, *flags, str(cpp), "-o", str(built)], capture_output=True, text=True)
                if result.returncode != 0:
                    raise EmulatedKernelError(f"{cu_path.name} did not compile for the CPU emulation:\n{result.stderr}")
                os.replace(built, library)  # atomic: a parallel test run never loads half a file
        return _Module(library, signatures)

    def launch(self, family, kernel, grid, block, args):
        module = self.module(family)
        params = module.signatures.get(kernel)
        if params is None:
            raise EmulatedKernelError(f"{family}.cu has no kernel {kernel!r}; it has {sorted(module.signatures)}")
        if len(args) != len(params):
            raise EmulatedKernelError(
                f"{kernel} takes {len(params)} arguments ({', '.join(p.name for p in params)}), got {len(args)}"
            )
        threads = block[0] * block[1] * block[2]
        if threads > 1024:
            raise EmulatedKernelError(f"{kernel}: a block of {block} is {threads} threads; CUDA allows at most 1024")
        keep_alive, pointers, guarded = [], [], {}
        for param, arg in zip(params, args):
            pointers.append(self._argument(kernel, param, arg, keep_alive, guarded))
        argv = (ctypes.c_void_p * len(pointers))(*pointers)
        trampoline = ctypes.cast(getattr(module.library, f"tinydl_emu_call_{kernel}"), ctypes.c_void_p)
        self.launches.append((family, kernel, grid, block))
        failed = module.library.tinydl_emu_launch(trampoline, argv, *grid, *block)
        for original, buffer, writable, name in guarded.values():
            data = buffer[GUARD_BYTES : GUARD_BYTES + original.nbytes]
            if (buffer[:GUARD_BYTES] != _GUARD_VALUE).any() or (
                buffer[GUARD_BYTES + original.nbytes :] != _GUARD_VALUE
            ).any():
                raise EmulatedKernelError(
                    f"{kernel} (grid {grid}, block {block}) wrote outside the array "
                    f"passed as {name!r} (shape {original.shape})"
                )
            if writable:
                original.reshape(-1).view(np.uint8)[:] = data
        if failed:
            raise EmulatedKernelError(f"{kernel}: {module.library.tinydl_emu_error().decode()}")

    def _argument(self, kernel, param, arg, keep_alive, guarded):
        where = f"{kernel}: parameter {param.name!r} ({param.c_type})"
        if param.pointer:
            if not isinstance(arg, np.ndarray):
                raise EmulatedKernelError(f"{where} needs a NumPy array, got {type(arg).__name__}")
            if arg.dtype != param.dtype:
                raise EmulatedKernelError(f"{where} needs {param.dtype} data, got an array of {arg.dtype}")
            if not arg.flags.c_contiguous:
                raise EmulatedKernelError(
                    f"{where} needs a C-contiguous array (the kernel indexes it flat), got strides {arg.strides}"
                )
            if not param.const and not arg.flags.writeable:
                raise EmulatedKernelError(f"{where} is written by the kernel, but the array is read-only")
            entry = guarded.get(id(arg))
            if entry is None:
                buffer = np.full(arg.nbytes + 2 * GUARD_BYTES, _GUARD_VALUE, dtype=np.uint8)
                buffer[GUARD_BYTES : GUARD_BYTES + arg.nbytes] = arg.reshape(-1).view(np.uint8)
                guarded[id(arg)] = [arg, buffer, not param.const, param.name]
            else:
                buffer = entry[1]
                entry[2] = entry[2] or not param.const
            return buffer.ctypes.data + GUARD_BYTES
        if not isinstance(arg, np.generic) or arg.dtype != param.dtype:
            got = f"{type(arg).__name__} {arg!r}" if not isinstance(arg, np.generic) else f"a {arg.dtype} scalar"
            raise EmulatedKernelError(
                f"{where} needs a NumPy {param.dtype} scalar (CuPy passes a Python int as 64 "
                f"bits and a Python float as a double), got {got}"
            )
        scalar = np.array(arg, dtype=param.dtype)
        keep_alive.append(scalar)
        return scalar.ctypes.data


@contextlib.contextmanager
def emulate(threads=False, debug=False, flags=(), poison=True, emulator=None):
    """Inside this block the CUDA launchers run their kernels on NumPy arrays, on the CPU.

    ``poison``: fresh outputs are filled with NaN (integers: -2³¹), so an element a
    kernel forgets to write shows. Yields the :class:`Emulator` (its ``launches``
    list records every launch).
    """
    emulator = emulator or Emulator(threads=threads, debug=debug, flags=flags)
    previous = _launch._emulator, _launch._poison_outputs
    _launch._emulator, _launch._poison_outputs = emulator, poison
    try:
        yield emulator
    finally:
        _launch._emulator, _launch._poison_outputs = previous


def unavailable_reason(threads=False):
    """Why the emulation cannot run here (no compiler, or no C++20 ``<barrier>`` for threads), or None."""
    cxx = compiler()
    if cxx is None:
        return "no C++ compiler (g++ or clang++) found"
    if threads:
        probe = "#include <barrier>\nint main() { std::barrier<> b(1); b.arrive_and_wait(); }\n"
        with tempfile.TemporaryDirectory() as work:
            path = pathlib.Path(work) / "probe.cpp"
            path.write_text(probe)
            result = subprocess.run(
                [cxx, "-std=c++20", "-pthread", str(path), "-o", str(path.with_suffix(""))],
                capture_output=True,
                text=True,
            )
        if result.returncode != 0:
            return f"{cxx} has no C++20 <barrier>: {result.stderr.strip()[:200]}"
    return None
