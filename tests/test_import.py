"""`import tinydl` must stay light: no Numba compilation, no matplotlib, no CuPy, no torch."""

import subprocess
import sys

HEAVY = ("numba", "matplotlib", "cupy", "torch", "hypothesis")


def test_import_loads_no_heavy_module():
    code = f"import sys, tinydl; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import tinydl pulled in: {out.stdout.strip()}"


def test_public_api_is_present():
    import tinydl as td

    for name in ("tensor", "Tensor", "no_grad", "gradcheck", "manual_seed", "nn", "optim", "Function"):
        assert hasattr(td, name), name
    assert hasattr(td.nn, "functional")
