"""What machine a benchmark ran on: CPU model, its widest vector instructions, Numba's vector width.

Every benchmark report prints these, because speed figures of one machine say little about
another (an AVX-512 Xeon and an AVX2-only EPYC differ most in exactly the kernels tinydl
tunes). Dependency-free (Numba and llvmlite only where asked), so any benchmark imports it.
"""

import os
import platform


def cpu_name():
    """The CPU's model name (from /proc/cpuinfo on Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def vector_isa():
    """The widest vector instruction set the CPU reports: "AVX-512", "AVX2", "AVX", "SSE4.2", "NEON" or "unknown"."""
    flags = set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"), ("sse4_2", "SSE4.2")):
        if flag in flags:
            return name
    if "asimd" in flags or platform.machine() in ("arm64", "aarch64"):
        return "NEON"
    return "unknown"


def numba_vector_width():
    """The vector width LLVM prefers for Numba's code here (see tinydl/kernels/numba_matmul.py, "SIMD width")."""
    import llvmlite.binding as llvm
    import numba

    if "-prefer-256-bit" in (numba.config.CPU_FEATURES or ""):
        return "512-bit (NUMBA_CPU_FEATURES has -prefer-256-bit)"
    try:
        has_avx512 = llvm.get_host_cpu_features().get("avx512f", False)
    except Exception:
        has_avx512 = False
    return "LLVM default (256-bit on most AVX-512 CPUs)" if has_avx512 else "LLVM default"


def cores():
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def describe():
    """One line: CPU model, vector instructions, cores, and NUMBA_CPU_NAME when a benchmark compiled for another CPU."""
    target = os.environ.get("NUMBA_CPU_NAME")
    line = f"{cpu_name()} ({vector_isa()}, {cores()} cores)"
    return line + (f", Numba compiled for NUMBA_CPU_NAME={target}" if target else "")
