"""td.data.folders: the image-folder layouts `tinydl train --data PATH` reads, and their seeded, stratified splits."""

import json

import numpy as np
import pytest
from PIL import Image

from tinydl.data import DataFileError, folders


def make_folder(root, counts, size=(12, 12), mode="L", seed=0):
    """root/<class>/<i>.png with counts[class] small random images."""
    rng = np.random.default_rng(seed)
    for name, count in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            shape = size + ((3,) if mode == "RGB" else ())
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(root / name / f"{i:03d}.png")
    return root


# ---------------------------------------------------------------------------- stratified_split
def test_stratified_split_is_seeded_deterministic_and_keeps_each_class_share():
    labels = np.array([0] * 60 + [1] * 20 + [2] * 10)
    first = folders.stratified_split(labels, {"val": 0.2, "test": 0.1}, seed=4)
    assert {k: v.tolist() for k, v in first.items()} == {
        k: v.tolist() for k, v in folders.stratified_split(labels, {"val": 0.2, "test": 0.1}, seed=4).items()
    }
    other = folders.stratified_split(labels, {"val": 0.2, "test": 0.1}, seed=5)
    assert first["val"].tolist() != other["val"].tolist()
    together = np.concatenate(list(first.values()))
    assert sorted(together.tolist()) == list(range(len(labels)))  # every image in exactly one split
    assert np.bincount(labels[first["val"]]).tolist() == [12, 4, 2]
    assert np.bincount(labels[first["test"]]).tolist() == [6, 2, 1]


def test_stratified_split_gives_every_class_one_image_per_split_and_names_a_class_too_small():
    labels = np.array([0] * 30 + [1] * 3)
    parts = folders.stratified_split(labels, {"val": 0.05, "test": 0.05}, seed=0)
    assert all(set(labels[idx]) == {0, 1} for idx in parts.values())  # 5% of 3 images still gives one
    with pytest.raises(ValueError, match="class 'rare' has 2 image"):
        folders.stratified_split(
            np.array([0] * 30 + [1] * 2), {"val": 0.1, "test": 0.1}, class_names=["common", "rare"]
        )


@pytest.mark.parametrize("val, test", [(-0.1, 0.1), (float("nan"), 0.1), (0.1, 1.0), (0.6, 0.5)])
def test_fractions_out_of_range_are_named(val, test):
    with pytest.raises(ValueError, match="--val-fraction|--test-fraction"):
        folders.check_fractions(val, test)


# ---------------------------------------------------------------------------- layouts
def test_one_folder_of_classes_is_split_and_the_split_file_reads_the_same_files_back(tmp_path):
    root = make_folder(tmp_path / "scans", {"normal": 20, "pneumonia": 10})
    splits = folders.load_image_folders(root, val_fraction=0.2, test_fraction=0.2, seed=1)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [18, 6, 6]
    assert all(splits[s].class_counts()["pneumonia"] >= 2 for s in ("val", "test"))
    assert not set(splits["val"].files) & set(splits["test"].files) | (
        set(splits["train"].files) & set(splits["val"].files)
    )
    assert splits["train"].image_shape == (1, 12, 12) and splits["train"].name == "scans"
    path = folders.write_split_file(tmp_path / "splits.json", splits)
    record = json.loads(path.read_text())
    assert record["layout"] == "class-folders" and record["classes"] == ["normal", "pneumonia"]
    again = folders.read_split_file(path, "val")
    assert again.files == splits["val"].files
    np.testing.assert_array_equal(again.images, splits["val"].images)
    np.testing.assert_array_equal(again.labels, splits["val"].labels)
    (root / splits["test"].files[0]).unlink()
    with pytest.raises(FileNotFoundError, match="test split listed in .*splits.json are gone"):
        folders.read_split_file(path, "test")


def test_train_and_test_folders_without_val_draw_val_from_train(tmp_path):
    make_folder(tmp_path / "train", {"a": 10, "b": 10})
    make_folder(tmp_path / "test", {"a": 3, "b": 3}, seed=1)
    splits = folders.load_image_folders(tmp_path, val_fraction=0.2, seed=0)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [16, 4, 6]
    assert all(f.startswith("train/") for f in splits["val"].files)
    assert all(f.startswith("test/") for f in splits["test"].files)


def test_rgb_files_make_every_split_rgb_and_image_size_resizes(tmp_path):
    make_folder(tmp_path / "train", {"a": 4, "b": 4}, size=(20, 20), mode="RGB")
    make_folder(tmp_path / "val", {"a": 2, "b": 2}, size=(20, 20))
    make_folder(tmp_path / "test", {"a": 2, "b": 2}, size=(20, 20))
    splits = folders.load_image_folders(tmp_path, image_size=16)
    assert {splits[s].image_shape for s in splits} == {(3, 16, 16)}


def test_bad_layouts_are_named(tmp_path):
    make_folder(tmp_path / "one" / "train", {"a": 4, "b": 4})
    make_folder(tmp_path / "one" / "test", {"a": 2, "c": 2})
    with pytest.raises(DataFileError, match=r"test lacks b.*train lacks c"):
        folders.load_image_folders(tmp_path / "one")
    make_folder(tmp_path / "two" / "test", {"a": 2})
    with pytest.raises(DataFileError, match="no train/ folder"):
        folders.load_image_folders(tmp_path / "two")
    make_folder(tmp_path / "three" / "a", {"x": 3}, size=(10, 10))
    make_folder(tmp_path / "three", {"b": 3}, size=(14, 14))
    with pytest.raises(ValueError, match="--image-size"):
        folders.load_image_folders(tmp_path / "three")
    make_folder(tmp_path / "four", {"a": 6}, size=(10, 16))
    with pytest.raises(ValueError, match="10×16.*--image-size"):
        folders.load_image_folders(tmp_path / "four")
