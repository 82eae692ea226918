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


def test_missing_data_falls_back_to_synthetic_only_without_data_and_marks_every_file(tmp_path, monkeypatch, capsys):
    import tinydl.plots as plots

    monkeypatch.setenv("TINYDL_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("TINYDL_CACHE_DIR", str(tmp_path / "cache"))
    notes = []
    roc = plots.roc_curves
    monkeypatch.setattr(plots, "roc_curves", lambda *a, note=None, **k: notes.append(note) or roc(*a, note=note, **k))
    # The README's first command (no --data): pneumoniamnist is missing, so synthetic images — said everywhere.
    assert main(["train", "--epochs", "1", "--quiet", "--no-download", "--out", str(tmp_path / "run")]) == 0
    captured = capsys.readouterr()
    assert "SYNTHETIC" in captured.err and "pneumoniamnist.npz" in captured.err
    assert "synthetic-lesions / train" in captured.out
    for name in ("metadata.json", "metrics.json"):
        record = json.loads((tmp_path / "run" / name).read_text())
        assert record["synthetic_data"] is True and "SYNTHETIC" in record["warning"], name
    assert json.loads((tmp_path / "run" / "metadata.json").read_text())["dataset"] == "synthetic-lesions"
    assert notes and all("SYNTHETIC" in note for note in notes)  # the plots' titles say it too
    # A data set named with --data is that data set or an error, never synthetic images instead.
    assert (
        main(["train", "--data", "breastmnist", "--epochs", "1", "--no-download", "--out", str(tmp_path / "r1")]) == 1
    )
    err = capsys.readouterr().err
    assert "breastmnist.npz" in err and "SYNTHETIC" not in err
    assert not (tmp_path / "r1").exists()
    args = ["train", "--epochs", "1", "--no-synthetic-fallback", "--no-download", "--out", str(tmp_path / "run2")]
    assert main(args) == 1
    assert "pneumoniamnist.npz" in capsys.readouterr().err
    assert not (tmp_path / "run2").exists()


def test_a_failed_download_falls_back_to_synthetic(tmp_path, monkeypatch, capsys):
    import urllib.error

    import tinydl.data.medmnist as medmnist

    def offline(url, timeout):
        raise urllib.error.URLError("no network in this test")

    monkeypatch.setattr(medmnist, "_open_url", offline)
    monkeypatch.setenv("TINYDL_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("TINYDL_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["train", "--epochs", "1", "--quiet", "--no-plots", "--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    assert "download failed" in err and "SYNTHETIC" in err
    assert not list((tmp_path / "cache").rglob("*.npz*"))  # nothing half-downloaded left behind


def test_hints_name_the_command_line_flags_not_python_arguments(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TINYDL_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("TINYDL_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["train", "--data", "breastmnist", "--no-download", "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert "without --no-download" in err and "download=True" not in err
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "--no-download" in out and "download=True" not in out
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "breastmnist.npz").write_bytes(b"<html>not the file</html>")
    assert main(["train", "--data", "breastmnist", "--no-download", "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert "MD5" in err and "check_md5" not in err and "download=True" not in err


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--weight-decay", "nan", "--weight-decay must be a finite number ≥ 0, got nan"),
        ("--lr", "inf", "--lr must be a finite number > 0, got inf"),
        ("--lr", "0", "--lr must be a finite number > 0"),
        ("--dropout", "1.0", "--dropout must be a number in [0, 1), got 1.0"),
        ("--brightness", "-0.5", "--brightness must be a number in [0, 1]"),
        ("--contrast", "nan", "--contrast must be a number in [0, 1]"),
        ("--val-fraction", "1.5", "--val-fraction must be a number in [0, 1)"),
        ("--test-fraction", "-0.1", "--test-fraction must be a number in [0, 1)"),
        ("--epochs", "0", "--epochs must be a whole number ≥ 1"),
        ("--image-size", "2", "--image-size must be a whole number ≥ 8"),
    ],
)
def test_each_numeric_option_is_checked_and_named(option, value, message, tmp_path, capsys):
    args = ["train", "--data", "synthetic", "--model", "convnet", "--out", str(tmp_path / "r"), option, value]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("n", ["-1", "0", "100000", "two"])
def test_explain_n_must_be_1_to_64(synthetic_run, n, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", str(synthetic_run), "--n", n])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--n" in err and "1 to 64" in err and "negative dimensions" not in err


def test_class_names_shorter_than_the_outputs_are_named(synthetic_run, tmp_path, capsys):
    damaged = tmp_path / "damaged"
    model = td.load(synthetic_run / "model.npz")
    meta = {k: v for k, v in model.metadata.items() if k not in td.serialization.RESERVED_KEYS}
    td.save(model, damaged / "model.npz", **dict(meta, class_names=["normal"]))  # the model has 2 outputs
    np.save(tmp_path / "img.npy", td.data.SyntheticLesions("test", seed=0).images[0])
    assert main(["predict", str(damaged), str(tmp_path / "img.npy")]) == 1
    err = capsys.readouterr().err
    assert "class_names" in err and str(damaged) in err and "2 outputs" in err and "IndexError" not in err


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


# ---------------------------------------------------------------------------- your own images
def write_pngs(dataset, root, per_class, start=0):
    """root/<class>/<index>.png: ``per_class`` real images of each class of ``dataset``, as PNG files."""
    from PIL import Image

    for label, name in enumerate(dataset.classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in np.flatnonzero(dataset.labels == label)[start : start + per_class]:
            Image.fromarray(dataset.images[i]).save(root / name / f"{i:05d}.png")


@pytest.fixture(scope="module")
def pneumonia(data_dir):
    if not (data_dir / "pneumoniamnist.npz").is_file():
        pytest.skip(f"pneumoniamnist.npz is not in {data_dir}")
    return {split: td.data.MedMNIST("pneumoniamnist", split, root=data_dir) for split in ("train", "test")}


def test_the_articles_layout_of_png_folders_trains_and_evaluates(pneumonia, tmp_path, capsys):
    data = tmp_path / "chest_xray"  # the article's layout: train/<class>/ and test/<class>/, no val/
    write_pngs(pneumonia["train"], data / "train", 40)
    write_pngs(pneumonia["test"], data / "test", 15)
    run = tmp_path / "run"
    args = ["train", "--data", str(data), "--epochs", "1", "--quiet", "--no-plots", "--val-fraction", "0.25"]
    assert main([*args, "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert "chest_xray / train: 60 images" in out and "chest_xray / val: 20 images" in out
    assert "Test (30 images)" in out
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["class_names"] == ["normal", "pneumonia"] and meta["image_shape"] == [1, 28, 28]
    assert meta["dataset"] == "chest_xray" and meta["dataset_source"] == f"image folder ({data})"
    assert meta["training"]["data"] == str(data) and "synthetic_data" not in meta
    splits = json.loads((run / "splits.json").read_text())
    assert splits["layout"] == "split-folders" and len(splits["splits"]["val"]["pneumonia"]) == 10
    assert main(["evaluate", str(run), "--split", "val"]) == 0  # the same 20 files, read again
    assert "chest_xray / val (20 images)" in capsys.readouterr().out
    assert json.loads((run / "eval-val" / "metrics.json").read_text())["n_images"] == 20
    assert main(["evaluate", str(run)]) == 0
    assert "chest_xray / test (30 images)" in capsys.readouterr().out
    png = next((data / "test" / "pneumonia").iterdir())
    assert main(["predict", str(run), str(png), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["class"] in ("normal", "pneumonia")
    assert main(["explain", str(run), "--n", "4", "--out", str(tmp_path / "cam.png")]) == 0
    assert (tmp_path / "cam.png").read_bytes()[:4] == b"\x89PNG"


def test_one_folder_of_classes_is_split_by_fraction_and_seed(pneumonia, tmp_path, capsys):
    data = tmp_path / "scans"
    write_pngs(pneumonia["train"], data, 30)
    runs = []
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        args = ["train", "--data", str(data), "--epochs", "1", "--quiet", "--no-plots", "--seed", seed]
        assert main([*args, "--val-fraction", "0.2", "--test-fraction", "0.2", "--out", str(tmp_path / name)]) == 0
        runs.append(json.loads((tmp_path / name / "splits.json").read_text())["splits"])
    assert runs[0] == runs[1] and runs[0] != runs[2]  # the seed alone decides the split
    files = {split: sum(runs[0][split].values(), []) for split in ("train", "val", "test")}
    assert [len(files[s]) for s in ("train", "val", "test")] == [36, 12, 12]
    assert not (set(files["train"]) & set(files["val"])) and not (set(files["val"]) & set(files["test"]))
    assert all(len(runs[0][split]["normal"]) == len(runs[0][split]["pneumonia"]) for split in files)  # stratified
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "a"), "--split", "test"]) == 0
    assert "scans / test (12 images)" in capsys.readouterr().out


def test_a_data_path_that_is_not_a_folder_is_named(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")]) == 1
    assert f"--data {tmp_path / 'nowhere'}: no such folder" in capsys.readouterr().err
