"""benchmarks/bench_segmentation.py --quick: tinydl and its PyTorch twin train on the same batches."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_segmentation.py"


@pytest.mark.torch
def test_quick_segmentation_benchmark_trains_both_frameworks_on_the_same_batches(torch, tmp_path):
    folder = os.environ.get("TINYDL_SEGMENTATION_DIR")
    if not folder or not (Path(folder) / "liverct117.npz").is_file():
        pytest.skip("liverct117.npz not found: set TINYDL_SEGMENTATION_DIR to the folder holding it")
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--datasets", "liverct117", "--out", f"{tmp_path}/"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=BENCH.parents[1],
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
    (json_path,) = tmp_path.glob("segmentation-*.json")
    assert "| liverct117 | tinydl |" in json_path.with_suffix(".md").read_text()
    results = json.loads(json_path.read_text())
    assert results["meta"]["cores"] >= 1 and results["meta"]["cpu"]
    (row,) = results["rows"]
    tiny, twin = row["tinydl"], row["torch"]
    # Same initial weights, images, batches and loss: the first step's losses agree to rounding.
    first_tinydl, first_torch = row["first_step_losses"]
    assert abs(first_tinydl - first_torch) < 1e-4
    for r in (tiny, twin):
        assert set(r["dice"]) == {"background", "class 1", "class 2"}
        assert all(v is None or 0 <= v <= 1 for v in r["dice"].values())
        assert len(r["epoch_seconds"]) == 2 and r["train_seconds"] > 0
        assert r["best_epoch"] in (1, 2)
    assert math.isfinite(row["time_ratio"]) and row["time_ratio"] > 0
