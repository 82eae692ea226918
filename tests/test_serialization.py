"""tinydl.serialization: save / load round trips, the file format, atomic writes and every error message."""

import datetime
import json
import os
import re

import numpy as np
import pytest

import tinydl as td
from tinydl import serialization
from tinydl.serialization import ModelFileError, load, load_metadata, load_weights, save


def small_cnn():
    return td.models.SmallCNN(in_channels=1, num_classes=3, channels=4, hidden=8)


def convnet():
    return td.models.ConvNet(in_channels=1, num_classes=3, channels=(4, 8), hidden=16)


def batch(n=4):
    return td.tensor(np.random.default_rng(7).standard_normal((n, 1, 28, 28)).astype(np.float32))


def rewrite(path, drop=(), add=None, **metadata_changes):
    """Rewrite a saved file with some metadata changed, entries dropped or added (to fake bad files)."""
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    metadata = json.loads(arrays["__metadata__"].tobytes())
    metadata.update(metadata_changes)
    arrays["__metadata__"] = np.frombuffer(json.dumps(metadata).encode(), dtype=np.uint8)
    for key in drop:
        del arrays[key]
    arrays.update(add or {})
    np.savez(path, **arrays)


@pytest.fixture
def saved(tmp_path):
    """A SmallCNN saved to tmp_path/run/model.npz; returns (path, model)."""
    td.manual_seed(0)
    model = small_cnn()
    return save(model, tmp_path / "run" / "model.npz"), model


# --------------------------------------------------------------------------- round trips
def test_small_cnn_round_trip_gives_identical_outputs(saved):
    path, model = saved
    loaded = load(path)
    assert type(loaded) is td.models.SmallCNN
    assert loaded.config == model.config
    assert loaded.training is False  # load() returns the model ready for inference
    model.eval()
    np.testing.assert_array_equal(loaded(batch()).numpy(), model(batch()).numpy())
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[key], value)


def test_convnet_round_trip_keeps_batchnorm_buffers(tmp_path):
    td.manual_seed(1)
    model = convnet()
    model.train()
    model(batch(8))  # a training-mode pass moves BatchNorm's running statistics away from 0 and 1
    running_mean = model.features[1].running_mean.numpy().copy()
    assert np.abs(running_mean).max() > 0

    loaded = load(save(model, tmp_path / "model.npz"))
    np.testing.assert_array_equal(loaded.features[1].running_mean.numpy(), running_mean)
    np.testing.assert_array_equal(loaded.features[5].running_var.numpy(), model.features[5].running_var.numpy())
    assert loaded.features[1].num_batches_tracked.numpy() == 1
    model.eval()
    np.testing.assert_array_equal(loaded(batch()).numpy(), model(batch()).numpy())


def test_float64_model_comes_back_in_float64(tmp_path):
    model = small_cnn().double()
    loaded = load(save(model, tmp_path / "model.npz"))
    assert loaded.features[0].weight.dtype == np.float64
    np.testing.assert_array_equal(loaded.features[0].weight.numpy(), model.features[0].weight.numpy())


def test_loading_does_not_disturb_the_random_generator(saved):
    path, _ = saved
    td.manual_seed(5)
    expected = td.rand(4).numpy()
    td.manual_seed(5)
    load(path)  # builds a model, which draws initial weights...
    np.testing.assert_array_equal(td.rand(4).numpy(), expected)  # ...but the generator is restored


# --------------------------------------------------------------------------- metadata
def test_metadata_round_trip(tmp_path):
    model = convnet()
    path = save(
        model,
        tmp_path / "run" / "model.npz",
        write_json=True,
        class_names=["normal", "pneumonia", "covid"],
        mean=np.float32(0.5),
        std=np.array([0.25]),  # NumPy values are stored as plain numbers / lists
        dataset="pneumoniamnist",
        dataset_md5="0" * 32,
        metrics={"test": {"auc": 0.93, "accuracy": 0.88}},
        seed=42,
        notes=None,
    )
    metadata = load_metadata(path)
    assert metadata["format_version"] == serialization.FORMAT_VERSION == 1
    assert metadata["architecture"] == "convnet"
    assert metadata["config"] == {
        "in_channels": 1,
        "num_classes": 3,
        "image_size": 28,
        "channels": [4, 8],
        "hidden": 16,
        "dropout": 0.3,
    }
    assert metadata["tinydl_version"] == td.__version__
    created = datetime.datetime.fromisoformat(metadata["created"])
    assert abs((datetime.datetime.now(datetime.timezone.utc) - created).total_seconds()) < 600
    assert metadata["class_names"] == ["normal", "pneumonia", "covid"]
    assert metadata["mean"] == 0.5 and metadata["std"] == [0.25]
    assert metadata["dataset"] == "pneumoniamnist" and metadata["dataset_md5"] == "0" * 32
    assert metadata["metrics"] == {"test": {"auc": 0.93, "accuracy": 0.88}}
    assert metadata["seed"] == 42 and metadata["notes"] is None

    # write_json=True: the same metadata beside the weights, for people and other tools.
    assert sorted(os.listdir(tmp_path / "run")) == ["metadata.json", "model.npz"]
    assert json.loads((tmp_path / "run" / "metadata.json").read_text()) == metadata
    assert load(path).metadata == metadata


def test_file_is_plain_npz_without_pickle(tmp_path):
    path = save(convnet(), tmp_path / "model.npz")
    with np.load(path, allow_pickle=False) as archive:  # allow_pickle=False is also NumPy's default
        files = archive.files
        for key in files:
            assert archive[key].dtype.kind in "biuf", key
        assert archive["__metadata__"].dtype == np.uint8
        assert json.loads(archive["__metadata__"].tobytes())["architecture"] == "convnet"
    assert "features.0.weight" in files and "features.1.running_mean" in files
    assert "features.1.num_batches_tracked" in files
    assert set(files) == set(convnet().state_dict()) | {"__metadata__"}


# --------------------------------------------------------------------------- atomic writes
def test_failed_write_leaves_the_old_file_and_no_temporary_file(saved, monkeypatch):
    path, _ = saved
    before = path.read_bytes()

    def savez_that_fails_midway(file, **arrays):
        file.write(b"PK\x03\x04 half of a zip archive")  # some bytes reach the disk...
        raise OSError("No space left on device")  # ...then the write fails

    monkeypatch.setattr(np, "savez", savez_that_fails_midway)
    with pytest.raises(OSError, match="No space left"):
        save(convnet(), path)
    assert path.read_bytes() == before  # the previous model is intact
    assert os.listdir(path.parent) == ["model.npz"]  # and the temporary file is gone
    monkeypatch.undo()
    assert type(load(path)) is td.models.SmallCNN


def test_failed_first_write_creates_nothing(tmp_path, monkeypatch):
    def interrupted(file, **arrays):
        file.write(b"PK")
        raise KeyboardInterrupt  # even Ctrl-C cleans up

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save(small_cnn(), tmp_path / "model.npz", write_json=True)
    assert os.listdir(tmp_path) == []


def test_overwrite_replaces_the_file(saved):
    path, _ = saved
    save(convnet(), path)
    assert load_metadata(path)["architecture"] == "convnet"
    assert os.listdir(path.parent) == ["model.npz"]


# --------------------------------------------------------------------------- errors when loading
def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match=r"nothing\.npz: no such file"):
        load(tmp_path / "nothing.npz")
    with pytest.raises(ModelFileError, match="is a folder"):
        load(tmp_path)


def test_model_file_error_is_a_value_error():
    assert issubclass(ModelFileError, ValueError)


def test_truncated_file(saved):
    path, _ = saved
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # e.g. a copy that was cut off
    with pytest.raises(ModelFileError, match=r"model\.npz: not a readable \.npz model file \(truncated or corrupt\?\)"):
        load(path)
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        load_metadata(path)


def test_empty_file(tmp_path):
    (tmp_path / "model.npz").write_bytes(b"")
    with pytest.raises(ModelFileError, match=r"model\.npz: is empty \(0 bytes\)"):
        load(tmp_path / "model.npz")


def test_not_an_npz_file(tmp_path):
    (tmp_path / "model.npz").write_text("these are not the weights you are looking for")
    with pytest.raises(ModelFileError, match=r"is not a NumPy \.npz file \(a zip archive\).*tinydl\.save\(\)"):
        load(tmp_path / "model.npz")
    with open(tmp_path / "array.npz", "wb") as f:
        np.save(f, np.zeros(3))
    with pytest.raises(ModelFileError, match=r"is a NumPy \.npy file \(a single array\), not a NumPy \.npz"):
        load(tmp_path / "array.npz")


def test_npz_without_metadata(tmp_path):
    np.savez(tmp_path / "weights.npz", **small_cnn().state_dict())
    with pytest.raises(
        ModelFileError, match=r"weights\.npz: has no '__metadata__' entry.*entries: \['features\.0\.weight'"
    ):
        load(tmp_path / "weights.npz")


def test_bad_metadata_json(saved):
    path, model = saved
    np.savez(
        path,
        __metadata__=np.frombuffer(b'{"format_version": 1, "architecture": ', dtype=np.uint8),
        **model.state_dict(),
    )
    with pytest.raises(ModelFileError, match="the metadata is not valid JSON"):
        load(path)
    np.savez(path, __metadata__=np.frombuffer(b"[1, 2]", dtype=np.uint8))
    with pytest.raises(ModelFileError, match="must be a JSON object, got list"):
        load_metadata(path)
    np.savez(path, __metadata__=np.array([1.5, 2.5]))
    with pytest.raises(ModelFileError, match="must be a 1-D uint8 array of JSON bytes, got float64"):
        load_metadata(path)


def test_newer_format_version(saved):
    path, _ = saved
    rewrite(path, format_version=2, tinydl_version="9.0.0")
    with pytest.raises(
        ModelFileError, match=r"format version 2 by a newer tinydl \(9\.0\.0\); this tinydl reads up to version 1"
    ):
        load(path)
    rewrite(path, format_version="one")
    with pytest.raises(ModelFileError, match="no integer 'format_version'"):
        load_metadata(path)


def test_unknown_architecture(saved):
    path, _ = saved
    rewrite(path, architecture="resnet152")
    with pytest.raises(
        ModelFileError,
        match=r"unknown architecture 'resnet152'; this tinydl knows \['convnet', 'ensemble', 'resnet', 'resnet18', 'small_cnn', 'unet'\]",
    ):
        load(path)


def test_config_the_constructor_rejects(saved):
    path, _ = saved
    rewrite(path, config={"in_channels": 1, "layers": 50})
    with pytest.raises(ModelFileError, match="cannot build 'small_cnn' with config"):
        load(path)


def test_missing_and_unexpected_keys(saved):
    path, _ = saved
    rewrite(path, drop=["classifier.3.bias"], add={"classifier.9.weight": np.zeros(3, np.float32)})
    with pytest.raises(
        ModelFileError, match=r"missing from the file \(the model has them\): 'classifier\.3\.bias'"
    ) as info:
        load(path)
    assert "unexpected in the file (the model has no such entry): 'classifier.9.weight'" in str(info.value)
    assert "nothing was loaded" in str(info.value)


def test_shape_mismatch(saved):
    path, _ = saved
    # A file whose config says hidden=16 but whose weights were made with hidden=8.
    rewrite(path, config={**small_cnn().config, "hidden": 16})
    with pytest.raises(
        ModelFileError,
        match=r"shape mismatch for 'classifier\.1\.weight': file has \(8, 676\), model expects \(16, 676\)",
    ):
        load(path)


# --------------------------------------------------------------------------- weights only, load_weights
def test_load_weights_into_a_model_you_built(saved):
    path, model = saved
    target = small_cnn()
    target.train()
    assert load_weights(path, target) is target
    assert target.training is True  # load_weights leaves the mode alone
    target.eval(), model.eval()
    np.testing.assert_array_equal(target(batch()).numpy(), model(batch()).numpy())
    assert target.metadata["architecture"] == "small_cnn"

    other = td.models.SmallCNN(in_channels=1, num_classes=3, channels=4, hidden=16)
    before = other.state_dict()
    with pytest.raises(
        ModelFileError,
        match=r"shape mismatch for 'classifier\.1\.weight': file has \(8, 676\), model expects \(16, 676\)",
    ):
        load_weights(path, other)
    for key, value in other.state_dict().items():  # a failed load changes nothing
        np.testing.assert_array_equal(value, before[key])


class TwoLayer(td.nn.Module):
    """A model outside the zoo."""

    def __init__(self):
        super().__init__()
        self.hidden = td.nn.Linear(3, 4)
        self.out = td.nn.Linear(4, 2)

    def forward(self, x):
        return self.out(td.relu(self.hidden(x)))


def test_model_outside_the_zoo(tmp_path):
    model = TwoLayer()
    with pytest.raises(ValueError, match=r"TwoLayer is not in the model zoo.*architecture=None.*load_weights"):
        save(model, tmp_path / "model.npz")
    assert os.listdir(tmp_path) == []

    path = save(model, tmp_path / "model.npz", architecture=None, class_names=["a", "b"])
    assert load_metadata(path)["architecture"] is None
    with pytest.raises(ModelFileError, match=r"holds weights only \(saved with architecture=None\).*load_weights"):
        load(path)
    copy = load_weights(path, TwoLayer())
    x = td.tensor([[0.1, -0.2, 0.3]])
    np.testing.assert_array_equal(copy(x).numpy(), model(x).numpy())
    assert copy.metadata["class_names"] == ["a", "b"]


def test_explicit_architecture_must_match_the_class(tmp_path):
    with pytest.raises(ValueError, match=r"architecture='convnet' does not match the model's class SmallCNN"):
        save(small_cnn(), tmp_path / "model.npz", architecture="convnet")


# --------------------------------------------------------------------------- errors when saving
@pytest.mark.parametrize(
    "key, value, why",
    [
        ("class_names", {"normal", "pneumonia"}, "set is not JSON-serialisable"),
        ("metrics", {"auc": float("nan")}, "Out of range float values"),  # NaN is not JSON: store None
        ("optimizer", td.optim.SGD([td.nn.Parameter(np.zeros(1))], lr=0.1), "SGD is not JSON-serialisable"),
    ],
)
def test_metadata_must_be_json(tmp_path, key, value, why):
    with pytest.raises(ValueError, match=rf"metadata '{key}' cannot be stored as JSON \({why}"):
        save(small_cnn(), tmp_path / "model.npz", **{key: value})
    assert os.listdir(tmp_path) == []  # nothing written


def test_reserved_metadata_keys_and_suffix(tmp_path):
    with pytest.raises(ValueError, match="metadata key 'config' is filled in by save"):
        save(small_cnn(), tmp_path / "model.npz", config={})
    with pytest.raises(ValueError, match=r"must end in \.npz"):
        save(small_cnn(), tmp_path / "model.pt")


# --------------------------------------------------------------------------- what a file really is (issue 15)
def test_an_html_page_saved_as_npz_is_named_as_such_not_as_pickled_data(tmp_path):
    path = tmp_path / "model.npz"
    path.write_text("<!DOCTYPE html><html><body>404 Not Found</body></html>")
    for read in (load, load_metadata, lambda p: load_weights(p, small_cnn())):
        with pytest.raises(
            ModelFileError, match=r"model\.npz: is not a NumPy \.npz file \(a zip archive\).*web page"
        ) as err:
            read(path)
        assert "pickle" not in str(err.value)


def test_an_object_array_in_a_model_file_is_refused_without_numpys_advice(saved, tmp_path):
    path, model = saved
    arrays = dict(np.load(path))
    arrays["classifier.1.bias"] = np.array([{"a": 1}] * 16, dtype=object)
    hostile = tmp_path / "hostile.npz"
    np.savez(hostile, **arrays)  # np.savez pickles object arrays
    with pytest.raises(ModelFileError, match=r"hostile\.npz, entry 'classifier\.1\.bias', holds Python objects") as err:
        load(hostile)
    assert "allow_pickle" not in str(err.value)


# --------------------------------------------------------------------------- non-finite weights (issue 15)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_model_file_with_non_finite_weights_is_refused_naming_file_and_parameter(saved, tmp_path, bad):
    path, model = saved
    state = model.state_dict()
    key = next(k for k, v in state.items() if v.ndim == 2)
    weights = state[key].copy()
    weights[0, 3] = bad
    model.load_state_dict({**state, key: weights})  # Module.load_state_dict itself does not check
    broken = save(model, tmp_path / "broken.npz")
    pattern = rf"broken\.npz: parameter '{re.escape(key)}' holds 1 non-finite value.*{bad} at index \(0, 3\)"
    with pytest.raises(ModelFileError, match=pattern):
        load(broken)
    with pytest.raises(ModelFileError, match=pattern):
        load_weights(broken, small_cnn())
    assert load_metadata(broken)["architecture"] == "small_cnn"  # the metadata can still be read
