"""Recipes (issue 19): --recipe default | medmnist-paper | best, the ensemble they train, and the table script.

- tinydl.recipes: the mirror-asymmetry statistic, data_properties, and best_recipe's choices — each
  one moved by the property it names, and never by the data set's name.
- RunConfig: what each recipe fills, that flags given win, the errors for a wrong recipe.
- td.models.SoftVotingEnsemble: softmax(forward) is the mean of the members' probabilities over the
  views (float64, single- and multi-label); a save/load round trip.
- train_run --recipe best end to end on the built-in synthetic set: an ensemble in model.npz, the
  reasons in metadata.json, and evaluate/predict/explain on the run folder.
- Trainer: the multistep schedule's milestones, label smoothing and a fixed Normalizer.
- benchmarks/medmnist_table.py: a one-epoch smoke run on BreastMNIST writes the table beside the paper's.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinydl as td
from tinydl import recipes
from tinydl.data.base import ImageDataset

ROOT = Path(__file__).resolve().parents[1]


# ====================================================================== the data's properties
def test_mirror_asymmetry_of_symmetric_unrelated_and_rescaled_images():
    rng = np.random.default_rng(0)
    half = rng.random((10, 1, 8, 4))
    symmetric = np.concatenate([half, half[..., ::-1]], axis=-1)
    assert recipes.mirror_asymmetry(symmetric) == pytest.approx(0.0, abs=1e-12)
    unrelated = rng.random((4000, 1, 16, 16)) + np.linspace(0, 1, 16)  # brighter to the right
    assert recipes.mirror_asymmetry(unrelated) > 0.9
    # Brightness and contrast do not change it: the same images × 3 + 0.2 give the same figure.
    assert recipes.mirror_asymmetry(unrelated * 3 + 0.2) == pytest.approx(recipes.mirror_asymmetry(unrelated))
    assert recipes.mirror_asymmetry(np.ones((2, 3, 5, 5))) == 0.0  # a flat image: nothing to mirror


def dataset(n, classes=2, symmetric=True, channels=1, counts=None, name="anything", seed=0):
    rng = np.random.default_rng(seed)
    half = rng.random((n, channels, 8, 4)).astype(np.float32)
    right = half[..., ::-1] if symmetric else rng.random((n, channels, 8, 4)).astype(np.float32) + 1
    x = np.concatenate([half, right], axis=-1) / 2
    x = np.round(x.transpose(0, 2, 3, 1) * 255).astype(np.uint8)  # as MedMNIST stores images: (N, H, W, C)
    y = np.repeat(np.arange(classes), counts) if counts is not None else np.arange(n) % classes
    data = ImageDataset(x, y[:n].reshape(-1, 1), classes=[str(c) for c in range(classes)])
    data.task = "binary-class" if classes == 2 else "multi-class"
    data.name, data.split = name, "train"
    return data


def test_best_recipe_follows_the_data_not_the_name():
    small_symmetric = recipes.data_properties(dataset(500))
    settings, reasons = recipes.best_recipe(small_symmetric)
    assert settings["model"] == "resnet" and settings["flip"] and settings["tta"]
    assert settings["epochs"] == 60 and settings["members"] == 3 and settings["class_weights"] == "none"
    assert any("flips on" in r for r in reasons)

    sided = recipes.best_recipe(recipes.data_properties(dataset(500, symmetric=False)))[0]
    assert not sided["flip"] and not sided["tta"]

    large = recipes.best_recipe(dict(small_symmetric, n_train=30_000, image_size=[28, 28]))[0]
    assert large["members"] == 1 and large["epochs"] == 9 and large["batch_size"] == 64

    unequal = recipes.best_recipe(recipes.data_properties(dataset(500, counts=[450, 50])))
    assert unequal[0]["class_weights"] == "none"  # ACC is scored at the data's own frequencies
    assert any("9.0× the smallest" in r for r in unequal[1])

    # The same images under another name: the same filled settings (train_run's own path).
    from tinydl.run import fill_data_recipe

    filled = []
    for name in ("anything", "pneumoniamnist"):
        config = td.RunConfig(data="synthetic", recipe="best")
        fill_data_recipe(config, dataset(500, name=name), log=None)
        filled.append(config.as_metadata())
    assert filled[0] == filled[1]


def test_large_images_get_fewer_epochs_and_a_note():
    props = recipes.data_properties(dataset(500))
    settings, reasons = recipes.best_recipe(dict(props, image_size=[128, 128]))
    assert settings["epochs"] == recipes.best_epochs(500 * 128 * 128 / 784) < 60
    assert any("--image-size 64" in r for r in reasons)


def test_epochs_and_members_fall_with_the_size():
    sizes = [100, 546, 1080, 4708, 12_000, 34_561]
    epochs = [recipes.best_epochs(n) for n in sizes]
    assert epochs == sorted(epochs, reverse=True) and epochs[0] == 60 and epochs[-1] == 9
    assert [recipes.best_members(n) for n in sizes] == [3, 3, 3, 3, 2, 1]


# ====================================================================== RunConfig
def test_recipes_fill_what_was_left_out():
    default = td.RunConfig(data="synthetic")
    assert (default.recipe, default.model, default.epochs, default.optimizer, default.members) == (
        "default",
        "small_cnn",
        10,
        "adam",
        1,
    )
    paper = td.RunConfig(data="breastmnist", recipe="medmnist-paper")
    assert (paper.model, paper.epochs, paper.batch_size, paper.lr, paper.schedule, paper.normalize) == (
        "resnet18",
        100,
        128,
        1e-3,
        "multistep",
        "half",
    )
    assert not paper.augment
    given = td.RunConfig(data="breastmnist", recipe="medmnist-paper", epochs=3, lr=0.01)
    assert (given.epochs, given.lr, given.batch_size) == (3, 0.01, 128)  # flags win
    best = td.RunConfig(data="breastmnist", recipe="best", epochs=5)
    assert best.model is None and best.epochs == 5  # decided when the data are read


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(recipe="fast"), r"--recipe must be one of \['default', 'medmnist-paper', 'best'\], got 'fast'"),
        (dict(task="segmentation", recipe="best"), "--recipe best is for classifiers"),
        (dict(normalize="zscore"), r"--normalize must be one of \['train', 'half'\]"),
        (dict(members=0), "--members must be a whole number ≥ 1"),
        (dict(label_smoothing=1.0), r"--label-smoothing must be a number in \[0, 1\)"),
        (dict(schedule="linear"), "--schedule must be one of"),
    ],
)
def test_bad_recipe_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        td.RunConfig(data="synthetic", **kwargs)


def test_segmentation_refuses_classifier_options(tmp_path):
    config = td.RunConfig(data="synthetic-segmentation", members=3, tta=True, out=str(tmp_path / "s"))
    with pytest.raises(ValueError, match="--members, --tta: classifier options"):
        td.train_run(config, log=None)


def test_flags_switch_off_what_best_would_switch_on():
    from tinydl.cli import build_parser

    args = vars(build_parser().parse_args(["train", "--recipe", "best", "--no-flip", "--no-tta", "--epochs", "3"]))
    config = td.RunConfig(**{k: v for k, v in args.items() if k not in ("run", "command", "resume")})
    assert (config.flip, config.tta, config.epochs) == (False, False, 3)


def test_half_normalizer_on_colour_images():
    from tinydl.run import half_normalizer

    x = np.full((2, 3, 4, 4), 0.75, dtype=np.float32)
    np.testing.assert_allclose(half_normalizer(3)(x), 0.5)  # (0.75 − 0.5) / 0.5 on every channel


# ====================================================================== the ensemble
def members(n, **kwargs):
    td.manual_seed(0)
    return [td.models.ResNet(2, 3, blocks=(1,), widths=(3,), **kwargs).to(td.float64).eval() for _ in range(n)]


def test_soft_voting_is_the_mean_of_the_probabilities_over_members_and_views():
    models = members(3)
    ensemble = td.models.SoftVotingEnsemble.from_models(models, views=["identity", "hflip", "vflip"]).eval()
    x = td.tensor(np.random.default_rng(1).normal(size=(4, 2, 6, 5)))
    views = [x, td.flip(x, -1), td.flip(x, -2)]
    expected = np.mean([td.softmax(m(v), axis=1).numpy() for m in models for v in views], axis=0)
    np.testing.assert_allclose(td.softmax(ensemble(x), axis=1).numpy(), expected, rtol=1e-12, atol=1e-15)
    # predict_proba (float32, as a run predicts) gives the same probabilities
    ensemble32 = ensemble.to(td.float32)
    np.testing.assert_allclose(td.train.predict_proba(ensemble32, x.numpy()), expected, rtol=1e-4, atol=1e-6)


def test_multi_label_soft_voting_averages_the_sigmoids():
    models = members(2)
    ensemble = td.models.SoftVotingEnsemble.from_models(models, views=["identity", "hflip"], multi_label=True)
    x = td.tensor(np.random.default_rng(2).normal(size=(3, 2, 4, 4)) * 5)
    views = [x, td.flip(x, -1)]
    expected = np.mean([td.sigmoid(m(v)).numpy() for m in models for v in views], axis=0)
    np.testing.assert_allclose(td.sigmoid(ensemble.eval()(x)).numpy(), expected, rtol=1e-10, atol=1e-13)


def test_ensemble_save_load_round_trip_and_errors(tmp_path):
    ensemble = td.models.SoftVotingEnsemble.from_models(members(2), views=["identity", "hflip"])
    td.save(ensemble, tmp_path / "e.npz")
    loaded = td.load(tmp_path / "e.npz")
    x = td.tensor(np.random.default_rng(3).normal(size=(2, 2, 6, 6)))
    np.testing.assert_allclose(loaded(x).numpy(), ensemble.eval()(x).numpy(), rtol=1e-12)
    assert loaded.config["count"] == 2 and loaded.config["views"] == ["identity", "hflip"]
    with pytest.raises(ValueError, match="views must be a non-empty list"):
        td.models.SoftVotingEnsemble("resnet", {}, 2, views=["rotate"])
    with pytest.raises(ValueError, match="one architecture and config"):
        td.models.SoftVotingEnsemble.from_models([td.models.ResNet(1, 2), td.models.SmallCNN()])


# ====================================================================== a whole run
@pytest.fixture(scope="module")
def best_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("best") / "run"
    config = td.RunConfig(data="synthetic", recipe="best", epochs=1, members=2, quiet=True, no_plots=True, out=str(out))
    lines = []
    return td.train_run(config, log=lines.append), lines


def test_recipe_best_trains_an_ensemble_and_says_why(best_run):
    result, lines = best_run
    assert any(line.startswith("Recipe best, from the training data") for line in lines)
    assert any("member 2 of 2, seed 1000" in line for line in lines)  # seeds 0, 1, 2 of a table share no member
    meta = json.loads((result.run_dir / "metadata.json").read_text())
    assert meta["training"]["recipe"] == "best" and meta["training"]["model"] == "resnet"
    assert meta["recipe_reasons"]["properties"]["n_train"] > 0
    assert any("--epochs 1 (recipe:" in c for c in meta["recipe_reasons"]["choices"])  # the override is recorded
    report = json.loads((result.run_dir / "metrics.json").read_text())
    assert [m["seed"] for m in report["members"]] == [0, 1000]
    assert isinstance(td.load(result.run_dir / "model.npz"), td.models.SoftVotingEnsemble)
    assert (result.run_dir / "checkpoint-member2.npz").is_file()


def test_evaluate_predict_and_explain_take_the_ensemble_run(best_run, tmp_path):
    result, _ = best_run
    again = td.evaluate_run(result.run_dir, log=None, out=tmp_path / "eval")
    assert again.report["accuracy"] == result.report["accuracy"] and again.report["auc"] == result.report["auc"]
    x, _ = td.data.load_dataset("synthetic", split="test").arrays()
    image = tmp_path / "one.png"
    import matplotlib.image

    matplotlib.image.imsave(image, x[0, 0], cmap="gray", vmin=0, vmax=1)
    rows = td.predict_images(result.run_dir, [str(image)])
    assert sum(rows[0]["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
    explanation = td.explain_run(result.run_dir, n=2, out=tmp_path / "cam.png", log=None)
    assert explanation.path.is_file()


# ====================================================================== Trainer pieces
def test_multistep_schedule_label_smoothing_and_fixed_normalizer():
    data = dataset(64)
    model = td.models.ResNet(1, 2, blocks=(1,), widths=(2,))
    fixed = td.train.Normalizer(0.5, 0.5)
    trainer = td.train.Trainer(
        model, epochs=4, schedule="multistep", label_smoothing=0.1, normalize=fixed, progress=False
    )
    trainer.fit(data)
    assert trainer.normalizer is fixed
    lrs = [row["lr"] for row in trainer.history.rows]
    assert lrs == pytest.approx([1e-3, 1e-3, 1e-4, 1e-5])  # × 0.1 after epochs 2 (50 %) and 3 (75 %)
    with pytest.raises(ValueError, match="label_smoothing must be a number in"):
        td.train.Trainer(model, label_smoothing=1.5)
    with pytest.raises(ValueError, match="normalize must be True, False or a Normalizer"):
        td.train.Trainer(model, normalize="half")
    labels = np.eye(2, dtype=np.int64)[np.arange(64) % 2]
    multi = td.data.base.ImageDataset(np.zeros((64, 8, 8), np.uint8), labels, classes=["a", "b"])
    multi.task, multi.name, multi.split = "multi-label, binary-class", "multi", "train"
    with pytest.raises(ValueError, match="label_smoothing is for single-label tasks"):
        td.train.Trainer(model, label_smoothing=0.1, progress=False).fit(multi)


# ====================================================================== the table script
def test_medmnist_table_smoke_run(tmp_path, data_dir):
    if not (Path(data_dir) / "breastmnist.npz").is_file():
        pytest.skip("breastmnist.npz not found in the data folder")
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "medmnist_table.py"),
        "--datasets",
        "breastmnist",
        "--seeds",
        "0",
        "--epochs",
        "1",
        "--members",
        "1",
        "--out",
        str(tmp_path / "t"),
    ]
    env = dict(os.environ, TINYDL_DATA_DIR=str(data_dir), MPLBACKEND="Agg")
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    table = (tmp_path / "t" / "table.md").read_text()
    assert "| breastmnist |" in table and "0.901 / 0.863" in table and "0.919 (Google AutoML Vision)" in table
    assert "cores" in table  # the machine is named
    assert (tmp_path / "t" / "table.png").stat().st_size > 1000
    saved = json.loads((tmp_path / "t" / "table.json").read_text())
    assert 0.0 <= saved["table"]["breastmnist"]["auc"][0] <= 1.0
    rerun = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert rerun.returncode == 0 and (tmp_path / "t-2" / "table.md").is_file()  # never overwritten
