"""The benchmark script runs end to end (``--quick``) and writes sane results.

Only the shape of the output is checked — tables present, timings finite and
positive, files that parse — never a speed: timings depend on the machine.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench.py"
TIMING_UNITS = ("GFLOP/s", "ms")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=BENCH.parents[1],
    )
    return result, out


def test_quick_benchmark_exits_cleanly(quick_run):
    result, _ = quick_run
    assert result.returncode == 0, f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr


def test_quick_benchmark_prints_and_saves_the_tables(quick_run):
    result, out = quick_run
    markdown = (out / "results.md").read_text(encoding="utf-8")
    for text in (result.stdout, markdown):
        assert "### Matrix multiplication" in text
        assert "| numpy BLAS (GFLOP/s) |" in text
        assert "blocked / BLAS" in text
    # The conv and training-step sections run where tinydl has those layers, else say why not.
    for section in ("Conv2d", "One training step"):
        assert f"### {section}" in result.stdout or "not available yet" in result.stdout


def test_quick_benchmark_json_has_finite_positive_timings(quick_run):
    _, out = quick_run
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["meta"]["numba_threads"] >= 1
    sections = {section["name"]: section for section in results["sections"]}
    assert "matmul" in sections
    for section in sections.values():
        assert section["rows"], f"section {section['name']} has no rows"
        timing_columns = [i for i, unit in enumerate(section["units"]) if unit in TIMING_UNITS]
        assert timing_columns
        measured = 0
        for row in section["rows"]:
            assert len(row) == len(section["columns"])
            for i in timing_columns:
                value = row[i]
                if value is None or value == "skipped":  # torch missing / naive matmul too slow
                    continue
                assert isinstance(value, (int, float)) and math.isfinite(value) and value > 0, (section["name"], row)
                measured += 1
        assert measured > 0
    # The blocked kernel and BLAS are measured at every matmul size, so the ratio is always there.
    ratio_column = sections["matmul"]["columns"].index("blocked / BLAS")
    assert all(row[ratio_column] > 0 for row in sections["matmul"]["rows"])


def test_quick_benchmark_writes_a_png(quick_run):
    _, out = quick_run
    png = (out / "results.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.image

    image = matplotlib.image.imread(out / "results.png")
    assert image.shape[0] > 100 and image.shape[1] > 100


def test_bench_rejects_an_unknown_section():
    result = subprocess.run(
        [sys.executable, str(BENCH), "--only", "matmul,nope"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "unknown section" in result.stderr


MEDMNIST_BENCH = BENCH.parent / "medmnist_vs_torch.py"


def test_medmnist_benchmark_quick_mode_trains_both_frameworks_on_the_same_batches(data_dir, tmp_path):
    """--quick: one epoch of the article's CNN in tinydl and (where installed) PyTorch, same start, same batches."""
    env = dict(__import__("os").environ, TINYDL_DATA_DIR=str(data_dir))
    result = subprocess.run(
        [sys.executable, str(MEDMNIST_BENCH), "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=BENCH.parents[1],
        env=env,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
    assert "| pneumoniamnist |" in (tmp_path / "medmnist.md").read_text()
    results = json.loads((tmp_path / "medmnist.json").read_text())
    (row,) = results["article_cnn"]
    assert 0.5 < row["tinydl_acc"] <= 1 and 0.5 < row["tinydl_auc"] <= 1 and row["tinydl_seconds"] > 0
    if results["torch"] is not None:
        # Same initial weights and batches: after one epoch the two models differ only by rounding.
        assert abs(row["tinydl_auc"] - row["torch_auc"]) < 0.01
    (best,) = results["best"]
    assert 0.5 < best["acc"] <= 1 and math.isfinite(best["seconds"])
