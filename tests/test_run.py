"""td.run: one Python call does what one `tinydl` command does — same files, same figures."""

import dataclasses
import json

import numpy as np
import pytest
from test_cli import RUN_FILES  # what a run folder holds, listed once

import tinydl as td
from tinydl.cli import build_parser, main


@pytest.fixture(scope="module")
def python_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "py"
    return td.train_run(td.RunConfig(data="synthetic", epochs=2, seed=3, quiet=True, out=str(out)), log=None)


def test_run_config_has_one_field_per_train_flag_in_the_same_order():
    flags = [k for k in vars(build_parser().parse_args(["train"])) if k not in ("run", "command", "resume")]
    assert [f.name for f in dataclasses.fields(td.RunConfig)] == flags
    defaults = vars(build_parser().parse_args(["train"]))
    # The flags' defaults (None where the task's recipe decides) make the same config as RunConfig().
    assert td.RunConfig(**{k: defaults[k] for k in flags}) == td.RunConfig()
    assert all(getattr(td.RunConfig(), k) == defaults[k] for k in flags if defaults[k] is not None)


def test_train_run_writes_what_the_command_writes(python_run, tmp_path, capsys):
    assert RUN_FILES <= {p.name for p in python_run.run_dir.iterdir()}
    assert python_run.report == json.loads((python_run.run_dir / "metrics.json").read_text())
    assert len(python_run.history) == 2 and python_run.trainer.monitor_used == "val_auc"
    out = tmp_path / "cli"
    assert main(["train", "--data", "synthetic", "--epochs", "2", "--quiet", "--seed", "3", "--out", str(out)]) == 0
    ours, theirs = (json.loads((d / "metrics.json").read_text()) for d in (python_run.run_dir, out))
    ours.pop("train_seconds"), theirs.pop("train_seconds")
    assert ours == theirs
    ours, theirs = (json.loads((d / "metadata.json").read_text()) for d in (python_run.run_dir, out))
    for meta in (ours, theirs):
        meta.pop("created", None), meta["training"].pop("out")
    assert ours == theirs
    assert (python_run.run_dir / "history.csv").read_text().splitlines()[0] == (
        out / "history.csv"
    ).read_text().splitlines()[0]


def test_evaluate_predict_and_explain_from_python(python_run, tmp_path):
    result = td.evaluate_run(python_run.run_dir, split="val", out=tmp_path / "eval", log=None)
    assert result.out_dir == tmp_path / "eval" and result.dataset.startswith("synthetic")
    assert result.report == json.loads((tmp_path / "eval" / "metrics.json").read_text())
    image = tmp_path / "img0.npy"
    np.save(image, td.data.SyntheticLesions("test", seed=0).images[0])
    rows = td.predict_images(python_run.run_dir, [str(image)])
    assert rows == td.predict_images(python_run.run_dir, str(image))  # one file without a list
    assert rows[0]["class"] in ("normal", "lesion") and abs(sum(rows[0]["probabilities"].values()) - 1) < 1e-3
    explained = td.explain_run(python_run.run_dir, [str(image)], out=tmp_path / "cam.png")
    assert explained.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [name for name, _, _ in explained.predictions] == ["img0.npy"]
    assert explained.predictions[0][1] == rows[0]["class"]


def test_a_run_that_fails_before_training_leaves_no_folder(tmp_path):
    with pytest.raises(ValueError, match="no dropout layer"):
        td.train_run(td.RunConfig(data="synthetic", dropout=0.2, out=str(tmp_path / "d")), log=None)
    assert not (tmp_path / "d").exists()
    with pytest.raises(FileNotFoundError, match="no model file"):
        td.evaluate_run(tmp_path / "nowhere")


def test_log_receives_the_messages(tmp_path):
    lines = []
    td.train_run(
        td.RunConfig(data="synthetic", epochs=1, quiet=True, no_plots=True, out=str(tmp_path / "r")), log=lines.append
    )
    assert "synthetic-lesions / train" in lines[0] and lines[1].startswith("Training small_cnn")


def test_run_config_names_the_option_of_a_bad_number():
    with pytest.raises(ValueError, match=r"--weight-decay must be a finite number ≥ 0, got nan"):
        td.RunConfig(weight_decay=float("nan"))
    with pytest.raises(ValueError, match=r"--val-fraction \+ --test-fraction must be below 1"):
        td.RunConfig(val_fraction=0.5, test_fraction=0.5)


def test_explain_run_limits_n(python_run):
    for n in (-1, 0, 100000):
        with pytest.raises(ValueError, match="--n must be a whole number from 1 to 64"):
            td.explain_run(python_run.run_dir, n=n, log=None)


def test_plots_of_synthetic_data_say_so_above_the_figure():
    matrix = np.array([[3, 1], [0, 4]])
    figure = td.plots.confusion_matrix(matrix, ["a", "b"], note=td.run.plot_note("synthetic-lesions"))
    assert "SYNTHETIC" in figure._suptitle.get_text()
    assert td.run.plot_note("pneumoniamnist") is None


def test_the_gradcam_figure_of_synthetic_data_says_so():
    images, maps = np.zeros((2, 1, 8, 8)), np.zeros((2, 8, 8))
    figure = td.explain.plot_explanations(images, maps, note=td.run.plot_note("synthetic-lesions"))
    assert "SYNTHETIC" in figure._suptitle.get_text()
