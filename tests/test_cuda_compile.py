"""Every CUDA C file compiles with NVRTC for sm_80 and sm_90, as shipped, on a machine without a GPU.

NVRTC (the compiler CuPy uses) comes from the pip wheels of the ``gpu-test``
extra (nvidia-cuda-nvrtc-cu12 + cuda-bindings) and needs no driver. Compiling
to a cubin runs ptxas, whose report gives each kernel's registers, shared
memory and spills: the tiled and register-blocked kernels must not spill
(a spill puts the "registers" in slow off-chip memory, which defeats the
point of the tile). The table of every kernel is printed (``pytest -s``, or in
the report of a failure) and written to the terminal summary.
"""

import re

import pytest

from tinydl.kernels.cuda import launch
from tinydl.testing import cuda_emulator, nvrtc

pytestmark = pytest.mark.skipif(nvrtc.unavailable_reason() is not None, reason=str(nvrtc.unavailable_reason()))

ARCHS = ["sm_80", "sm_90"]
NO_SPILLS = re.compile(r"matmul_(tiled|blocked)|conv_(forward|backward_input|backward_weight)")

_results = {}


def compiled(family, arch):
    key = (family, arch)
    if key not in _results:
        _results[key] = nvrtc.compile_family(family, arch)
    return _results[key]


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("family", launch.families())
def test_every_cuda_file_compiles_cleanly_for_each_architecture(family, arch, pytestconfig):
    result = compiled(family, arch)
    assert result.cubin, f"{family}.cu: no cubin for {arch}"
    warnings = [line for line in result.log.splitlines() if "warning" in line]
    assert not warnings, f"{family}.cu has compiler warnings for {arch}:\n" + "\n".join(warnings)
    kernels = set(cuda_emulator.kernel_signatures(launch.source_path(family).read_text()))
    assert set(result.kernels) == kernels, "ptxas reported other kernels than the emulator found in the source"
    table = getattr(pytestconfig, "cuda_resource_table", None)  # printed at the end of the run (conftest.py)
    if table is None:
        table = pytestconfig.cuda_resource_table = []
    for name, r in sorted(result.kernels.items()):
        table.append(
            f"{family + '.cu':13} {name:26} {arch:6} {r.registers:9} {r.shared_bytes:9} "
            f"{r.spill_stores:9} {r.spill_loads:9}"
        )


@pytest.mark.parametrize("arch", ARCHS)
def test_tiled_and_blocked_kernels_do_not_spill(arch):
    checked = []
    for family in launch.families():
        for name, r in compiled(family, arch).kernels.items():
            if NO_SPILLS.match(name):
                checked.append(name)
                assert r.spill_stores == 0 and r.spill_loads == 0, f"{name} spills on {arch}: {r}"
                assert r.registers <= 255
    assert {"matmul_tiled_f32", "matmul_blocked_f32", "conv_forward_f32"} <= set(checked)


@pytest.mark.parametrize("arch", ARCHS)
def test_shared_memory_fits_in_the_static_limit(arch):
    """48 KiB is the most a block may declare statically (more needs dynamic shared memory)."""
    for family in launch.families():
        for name, r in compiled(family, arch).kernels.items():
            assert r.shared_bytes <= 48 * 1024, f"{name}: {r.shared_bytes} bytes of shared memory"


def test_a_compile_error_names_the_file_and_line():
    source = launch.source_path("matmul").read_text().replace("T sum = 0;", "T sum = 0; flot oops;", 1)
    with pytest.raises(nvrtc.NVRTCError, match=r'matmul\.cu\(\d+\): error: identifier "flot" is undefined'):
        nvrtc.compile_family("matmul", "sm_90", source=source)


def test_sources_are_self_contained():
    """As shipped: no #include (nothing but this folder could provide it), no macro the launcher must define."""
    for family in launch.families():
        text = launch.source_path(family).read_text()
        assert "#include" not in text, f"{family}.cu includes a header"
        assert not re.search(r"^\s*#\s*if", text, re.M), f"{family}.cu depends on preprocessor conditions"
