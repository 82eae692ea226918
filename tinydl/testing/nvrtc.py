"""Compile tinydl's CUDA kernels with NVRTC on a machine without a GPU, and read ptxas's resource report.

NVRTC (CUDA's runtime compiler, the one CuPy uses) needs no driver and no GPU;
it ships as pip wheels (``pip install "tinydl[gpu-test]"``: ``nvidia-cuda-nvrtc-cu12``
and ``cuda-bindings``). Compiling to a cubin for a real architecture runs
ptxas too, whose ``-v`` report says, per kernel, how many registers a thread
uses, how much shared memory a block takes and whether anything spilled to
(slow, off-chip) local memory:

    >>> from tinydl.testing import nvrtc
    >>> result = nvrtc.compile_family("matmul", "sm_90")
    >>> result.kernels["matmul_blocked_f32"]
    KernelResources(registers=..., shared_bytes=8192, spill_stores=0, spill_loads=0, stack_bytes=0)
"""

import dataclasses
import re

from ..kernels.cuda import launch as _launch


class NVRTCError(RuntimeError):
    """NVRTC refused a source file; the message is its log (file and line of each error)."""


@dataclasses.dataclass
class KernelResources:
    registers: int
    shared_bytes: int
    spill_stores: int
    spill_loads: int
    stack_bytes: int


@dataclasses.dataclass
class CompileResult:
    family: str
    arch: str
    log: str
    cubin: bytes
    kernels: dict  # kernel name → KernelResources


def unavailable_reason():
    """Why NVRTC cannot be used here (the pip wheels are missing), or None."""
    try:
        from cuda.bindings import nvrtc  # noqa: F401

        _check(*nvrtc.nvrtcVersion()[:1], "nvrtcVersion")
    except Exception as e:  # ImportError, or the NVRTC library itself not found
        return f'NVRTC is not usable ({type(e).__name__}: {e}); pip install "tinydl[gpu-test]"'
    return None


def version():
    from cuda.bindings import nvrtc

    result, major, minor = nvrtc.nvrtcVersion()
    _check(result, "nvrtcVersion")
    return major, minor


def _check(result, what, log=""):
    from cuda.bindings import nvrtc

    if result != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        raise NVRTCError(f"{what} failed ({result.name})" + (f":\n{log}" if log else ""))


def compile_source(source, name, arch="sm_90", options=()):
    """Compile CUDA C ``source`` (called ``name`` in messages) to a cubin for ``arch``; returns (cubin, log)."""
    from cuda.bindings import nvrtc

    result, program = nvrtc.nvrtcCreateProgram(source.encode(), name.encode(), 0, [], [])
    _check(result, "nvrtcCreateProgram")
    try:
        flags = [*options, f"--gpu-architecture={arch}", "-Xptxas=-v"]
        (compiled,) = nvrtc.nvrtcCompileProgram(program, len(flags), [f.encode() for f in flags])
        result, size = nvrtc.nvrtcGetProgramLogSize(program)
        _check(result, "nvrtcGetProgramLogSize")
        log = b" " * size
        (result,) = nvrtc.nvrtcGetProgramLog(program, log)
        log = log.rstrip(b"\0 ").decode(errors="replace")
        _check(compiled, f"compiling {name} for {arch}", log)
        result, size = nvrtc.nvrtcGetCUBINSize(program)
        _check(result, "nvrtcGetCUBINSize")
        cubin = b" " * size
        (result,) = nvrtc.nvrtcGetCUBIN(program, cubin)
        _check(result, "nvrtcGetCUBIN")
        return cubin, log
    finally:
        nvrtc.nvrtcDestroyProgram(program)


_ENTRY = re.compile(r"Compiling entry function '(\w+)'")
_FRAME = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_USED = re.compile(r"Used (\d+) registers(?:.*?(\d+) bytes smem)?")


def parse_resources(log):
    """{kernel: KernelResources} from ptxas's ``-v`` report in an NVRTC log."""
    kernels, current, frame = {}, None, (0, 0, 0)
    for line in log.splitlines():
        if m := _ENTRY.search(line):
            current, frame = m.group(1), (0, 0, 0)
        elif (m := _FRAME.search(line)) and current:
            frame = tuple(int(v) for v in m.groups())
        elif (m := _USED.search(line)) and current:
            kernels[current] = KernelResources(
                registers=int(m.group(1)),
                shared_bytes=int(m.group(2) or 0),
                spill_stores=frame[1],
                spill_loads=frame[2],
                stack_bytes=frame[0],
            )
            current = None
    return kernels


def compile_family(family, arch="sm_90", source=None):
    """Compile ``tinydl/kernels/cuda/<family>.cu`` exactly as the GPU launcher does (same options)."""
    path = _launch.source_path(family)
    source = path.read_text() if source is None else source
    cubin, log = compile_source(source, path.name, arch, _launch.options(family))
    return CompileResult(family, arch, log, cubin, parse_resources(log))
