"""The `tinydl` command line: a whole run folder, evaluate / predict / explain on it, and clear errors."""

import json

import numpy as np
import pytest

import tinydl as td
from tinydl.cli import main

RUN_FILES = {
    "model.npz",
    "metadata.json",
    "metrics.json",
    "history.csv",
    "training_curves.png",
    "confusion_matrix.png",
    "roc_curve.png",
    "calibration.png",
    "sample_predictions.png",
    "gradcam.png",
}


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "syn"
    assert main(["train", "--data", "synthetic", "--epochs", "2", "--quiet", "--seed", "3", "--out", str(out)]) == 0
    return out


def test_train_writes_a_complete_run_folder(synthetic_run, capsys):
    assert RUN_FILES <= {p.name for p in synthetic_run.iterdir()}
    assert not [p for p in synthetic_run.iterdir() if p.name.startswith(".tmp")]
    metrics = json.loads((synthetic_run / "metrics.json").read_text())
    meta = json.loads((synthetic_run / "metadata.json").read_text())
    assert 0.5 < metrics["accuracy"] <= 1 and 0.5 < metrics["auc"] <= 1
    assert meta["class_names"] == ["normal", "lesion"] and meta["dataset_source"] == "synthetic"
    assert meta["seed"] == 3 and meta["architecture"] == "small_cnn" and len(meta["normalization"]["mean"]) == 1
    header = (synthetic_run / "history.csv").read_text().splitlines()[0]
    assert header.startswith("epoch,train_loss,train_acc")
    model = td.load(synthetic_run / "model.npz")  # loads with the same numbers as during training
    assert model.metadata["metrics"]["accuracy"] == pytest.approx(metrics["accuracy"])


def test_evaluate_predict_and_explain_use_the_saved_run(synthetic_run, tmp_path, capsys):
    assert main(["evaluate", str(synthetic_run), "--split", "val"]) == 0
    assert (synthetic_run / "eval-val" / "metrics.json").is_file()
    test = td.data.SyntheticLesions("test", seed=0)
    for i in range(2):
        np.save(tmp_path / f"img{i}.npy", test.images[i])
    capsys.readouterr()
    assert main(["predict", str(synthetic_run), str(tmp_path / "img0.npy"), str(tmp_path / "img1.npy"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["class"] in ("normal", "lesion") for row in rows] == [True, True]
    assert all(abs(sum(row["probabilities"].values()) - 1) < 1e-3 for row in rows)
    out = tmp_path / "cam.png"
    assert main(["explain", str(synthetic_run), str(tmp_path / "img0.npy"), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_on_real_pneumonia_data(data_dir, tmp_path, capsys):
    out = tmp_path / "pneu"
    code = main(
        [
            "train",
            "--data",
            "pneumoniamnist",
            "--data-dir",
            str(data_dir),
            "--epochs",
            "1",
            "--quiet",
            "--no-plots",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "pneumoniamnist / train: 4708 images" in text and "Test (624 images): accuracy" in text
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["dataset_md5"] == "28209eda62fecd6e6a2d98b1501bb15f"


def test_missing_data_falls_back_to_synthetic_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TINYDL_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("TINYDL_CACHE_DIR", str(tmp_path / "cache"))
    assert (
        main(
            [
                "train",
                "--data",
                "breastmnist",
                "--epochs",
                "1",
                "--quiet",
                "--no-plots",
                "--no-download",
                "--out",
                str(tmp_path / "run"),
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "SYNTHETIC" in captured.err and "breastmnist.npz" in captured.err
    assert "synthetic-lesions / train" in captured.out
    assert (
        main(
            [
                "train",
                "--data",
                "breastmnist",
                "--epochs",
                "1",
                "--no-synthetic-fallback",
                "--no-download",
                "--out",
                str(tmp_path / "run2"),
            ]
        )
        == 1
    )
    assert "breastmnist.npz" in capsys.readouterr().err
    assert not (tmp_path / "run2").exists()


def test_a_failed_download_falls_back_to_synthetic(tmp_path, monkeypatch, capsys):
    import urllib.error

    import tinydl.data.medmnist as medmnist

    def offline(url, timeout):
        raise urllib.error.URLError("no network in this test")

    monkeypatch.setattr(medmnist, "_open_url", offline)
    monkeypatch.setenv("TINYDL_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("TINYDL_CACHE_DIR", str(tmp_path / "cache"))
    assert (
        main(
            ["train", "--data", "breastmnist", "--epochs", "1", "--quiet", "--no-plots", "--out", str(tmp_path / "run")]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "download failed" in err and "SYNTHETIC" in err
    assert not list((tmp_path / "cache").rglob("*.npz*"))  # nothing half-downloaded left behind


def test_errors_are_one_clear_line(synthetic_run, tmp_path, capsys):
    assert main(["predict", str(tmp_path / "nowhere"), "x.png"]) == 1
    assert "no model file" in capsys.readouterr().err
    assert main(["predict", str(synthetic_run), str(tmp_path / "missing.png")]) == 1
    assert "image not found" in capsys.readouterr().err
    bad = tmp_path / "rgb.npy"
    np.save(bad, np.zeros((5, 28, 28), np.uint8))  # 5 channels: neither grey nor RGB
    assert main(["predict", str(synthetic_run), str(bad)]) == 1
    assert "rgb.npy" in capsys.readouterr().err
    assert main(["train", "--data", "nosuchmnist", "--epochs", "1"]) == 1
    assert "known:" in capsys.readouterr().err
    assert main(["train", "--data", "synthetic", "--dropout", "0.2", "--out", str(tmp_path / "d")]) == 1
    assert "no dropout layer" in capsys.readouterr().err
    bare = tmp_path / "bare" / "model.npz"
    td.save(td.models.SmallCNN(1, 2), bare)  # weights and architecture only: no classes, no image shape
    assert main(["predict", str(bare.parent), str(tmp_path / "img.npy")]) == 1
    assert "lacks the metadata" in capsys.readouterr().err


def test_datasets_lists_known_sets_and_local_files(data_dir, capsys):
    assert main(["datasets", "--data-dir", str(data_dir)]) == 0
    text = capsys.readouterr().out
    assert "pneumoniamnist" in text and "chestmnist" in text and str(data_dir) in text
