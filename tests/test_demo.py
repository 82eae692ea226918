"""tinydl.demo (the spirals training run) and tinydl.datasets_toy."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from tinydl.datasets_toy import make_moons, make_spirals
from tinydl.demo import run_demo

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("make", [make_spirals, make_moons])
def test_toy_data_sets_are_balanced_shuffled_and_deterministic(make):
    x, y = make(n_per_class=50, seed=3)
    assert x.shape == (100, 2) and x.dtype == np.float32
    assert y.shape == (100,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [50, 50]
    assert 0 < y[:50].sum() < 50  # shuffled: the first half holds both classes
    x2, y2 = make(n_per_class=50, seed=3)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(make(n_per_class=50, seed=4)[0], x)


def test_demo_learns_the_spirals_and_draws_them(tmp_path):
    result = run_demo(out=tmp_path / "demo.png", seed=0, verbose=False)
    assert result["accuracy"] > 0.95  # on held-out points
    assert result["train_accuracy"] > 0.95
    assert result["losses"][-1] < result["losses"][0] / 10
    assert result["seconds"] < 10
    assert pathlib.Path(result["path"]) == tmp_path / "demo.png"
    assert (tmp_path / "demo.png").read_bytes()[:8] == PNG_MAGIC


def test_demo_is_deterministic_and_draws_nothing_without_out():
    first = run_demo(epochs=15, seed=1, verbose=False)
    second = run_demo(epochs=15, seed=1, verbose=False)
    assert first["losses"] == second["losses"]
    assert first["path"] is None
    assert run_demo(epochs=15, seed=2, verbose=False)["losses"] != first["losses"]


def test_demo_prints_progress(capsys):
    run_demo(epochs=20, verbose=True)
    printed = capsys.readouterr().out
    assert "epoch   20/20" in printed and "loss" in printed and "test" in printed


def test_command_line_entry_point(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    command = [sys.executable, "-m", "tinydl.demo", "--out", str(tmp_path), "--quiet"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "test accuracy" in result.stdout
    accuracy = float(result.stdout.split("test accuracy")[1].strip().rstrip("%")) / 100
    assert accuracy > 0.95
    assert (tmp_path / "demo.png").read_bytes()[:8] == PNG_MAGIC  # a folder gets demo.png inside it


def test_command_line_rejects_bad_arguments(tmp_path):
    from tinydl.demo import main

    with pytest.raises(SystemExit):
        main(["--epochs", "0", "--out", str(tmp_path / "x.png")])
