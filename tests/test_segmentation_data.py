"""Segmentation data: .npz files (MedSegBench layout), image+mask folders, intensity steps, the synthetic
set, load_segmentation, and paired augmentation (one geometry for image and mask)."""

import dataclasses
import hashlib
import io
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinydl as td
from tinydl import data
from tinydl.data import medmnist, paired, segmentation

SEGMENTATION_ENV = "TINYDL_SEGMENTATION_DIR"


def real_file(name):
    folder = os.environ.get(SEGMENTATION_ENV)
    if not folder or not (Path(folder) / f"{name}.npz").is_file():
        pytest.skip(f"{name}.npz not found ({SEGMENTATION_ENV} unset or without it)")
    return Path(folder) / f"{name}.npz"


@pytest.fixture
def no_search_env(monkeypatch, tmp_path):
    """No environment folder and an empty cache, so only what a test puts there is found."""
    monkeypatch.delenv(SEGMENTATION_ENV, raising=False)
    monkeypatch.delenv("TINYDL_DATA_DIR", raising=False)
    monkeypatch.setenv("TINYDL_CACHE_DIR", str(tmp_path / "cache"))


def write_npz(path, splits=("train", "val", "test"), n=3, shape=(8, 8), images=None, masks=None, **extra):
    rng = np.random.default_rng(0)
    arrays = {}
    for split in splits:
        arrays[f"{split}_images"] = images if images is not None else rng.integers(0, 256, (n, *shape), dtype=np.uint8)
        arrays[f"{split}_label"] = masks if masks is not None else rng.integers(0, 2, (n, *shape), dtype=np.uint8)
    arrays.update(extra)
    np.savez(path, **arrays)
    return Path(path)


def fake_catalog_file(folder, name="liverct117", **kwargs):
    """A small file under a catalog set's file name (its MD5 is not the real one: load with check_md5=False)."""
    folder.mkdir(parents=True, exist_ok=True)
    info = segmentation.SEGMENTATION[name]
    masks = np.zeros((3, 8, 8), np.uint8)
    masks[:, 2:5, 2:5] = 1
    kwargs.setdefault("masks", masks)
    return write_npz(folder / info.file_name, **kwargs)


# ---------------------------------------------------------------------------- the real files


def test_real_liver_ct_has_hounsfield_images_three_classes_and_chooses_the_ct_window():
    path = real_file("liverct117")
    ds = data.SegmentationNPZ(path.stem, "test", root=path.parent)
    assert ds.images.dtype == np.int16 and ds.images.shape == (24, 128, 128)
    assert ds.masks.dtype == np.int64 and set(np.unique(ds.masks)) <= {0, 1, 2}
    assert ds.classes == ("background", "liver", "tumour") and ds.modality == "CT"
    assert ds.md5 == "94893cdf9520d2096899dbe8a75a7c9d"
    assert ds.intensity_spec == {"method": "ct", "level": 50.0, "width": 400.0}
    x, y = ds.arrays()
    assert x.shape == (24, 1, 128, 128) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    np.testing.assert_allclose(x[:, 0], np.clip((ds.images + 150.0) / 400.0, 0, 1), atol=1e-6)
    assert [len(data.SegmentationNPZ("liverct117", s, root=path.parent)) for s in ("train", "val")] == [90, 14]


def test_auto_intensity_follows_the_data_not_the_name(tmp_path):
    """The liver's Hounsfield units under another name are still windowed as CT; colin27's uint8 slices
    are MR through the catalog's modality, and plain 8-bit when the same arrays come by path."""
    liver = real_file("liverct117")
    with np.load(liver) as archive:
        renamed = write_npz(tmp_path / "anything.npz", images=archive["test_images"], masks=archive["test_label"])
    assert data.SegmentationNPZ(renamed, "test").intensity_spec["method"] == "ct"
    brain = real_file("colin27_brain")
    ds = data.SegmentationNPZ("colin27_brain", "val", root=brain.parent)
    assert ds.intensity_spec["method"] == "mr" and ds.images.dtype == np.uint8
    with np.load(brain) as archive:
        copied = write_npz(tmp_path / "colin27_brain.npz", images=archive["val_images"], masks=archive["val_label"])
    assert data.SegmentationNPZ(copied, "val").intensity_spec["method"] == "uint8"


def test_real_brain_mri_has_a_brain_mask_and_the_aal_category():
    path = real_file("colin27_brain")
    ds = data.SegmentationNPZ("colin27_brain", "train", root=path.parent)
    assert ds.images.shape == (99, 217, 181) and ds.classes == ("background", "brain")
    assert ds.md5 == "74d2f58935f6b838005521b6338deda2" and ds.image_shape == (1, 217, 181)
    x, _ = ds.arrays()
    assert x.dtype == np.float32 and x.min() == 0.0 and x.max() == 1.0
    aal = data.SegmentationNPZ("colin27_brain", "val", root=path.parent, category="aal")
    assert aal.n_classes == 117 and aal.classes[1] == "region 1" and aal.mask_key == "val_label_aal"
    assert aal.masks.max() <= 116


# ---------------------------------------------------------------------------- intensity


def test_ct_window_matches_hand_values():
    hu = np.array([-1000, -150, 0, 50, 250, 1000])
    np.testing.assert_allclose(data.ct_window(hu), [0, 0, 0.375, 0.5, 1, 1])
    np.testing.assert_allclose(data.ct_window(hu, level=40, width=80), [0, 0, 0, 0.625, 1, 1])  # window [0, 80]
    assert data.ct_window(20, level=40, width=80) == 0.25
    assert data.ct_window(hu).dtype == np.float32
    with pytest.raises(ValueError, match="width"):
        data.ct_window(hu, width=0)


def test_mr_normalize_scales_each_image_by_its_own_percentiles():
    ramp = np.arange(101, dtype=np.float32).reshape(1, 1, 101)  # percentile q of 0..100 is q
    np.testing.assert_allclose(data.mr_normalize(ramp, 10, 90)[0, 0], np.clip((ramp[0, 0] - 10) / 80, 0, 1), atol=1e-6)
    rng = np.random.default_rng(1)
    a = rng.normal(100, 20, (1, 16, 16))
    both = np.concatenate([a, 3 * a + 7, np.full((1, 16, 16), 5.0)])  # another scanner's scale; a blank slice
    out = data.mr_normalize(both)
    np.testing.assert_allclose(out[1], out[0], atol=1e-5)
    assert np.all(out[2] == 0) and out[0].min() == 0 and out[0].max() == 1


@pytest.mark.parametrize(
    "images, modality, method",
    [
        (np.full((1, 4, 4), -1000, np.int16), None, "ct"),
        (np.full((1, 4, 4), -600.0, np.float32), None, "ct"),
        (np.full((1, 4, 4), -100, np.int16), None, "minmax"),
        (np.zeros((1, 4, 4), np.uint8), None, "uint8"),
        (np.zeros((1, 4, 4), np.uint8), "MR", "mr"),
        (np.full((1, 4, 4), -1000, np.int16), "MR", "ct"),
        (np.zeros((1, 4, 4), np.uint16), None, "minmax"),
    ],
)
def test_auto_intensity_decides_from_dtype_minimum_and_modality(images, modality, method):
    assert data.resolve_intensity(images, "auto", modality)["method"] == method


def test_intensity_choices_and_a_clear_error_for_an_unknown_one():
    hu = np.array([[[-150, 50], [250, 0]]], np.int16)
    assert data.resolve_intensity(hu, ("ct", 40, 80)) == {"method": "ct", "level": 40.0, "width": 80.0}
    assert data.resolve_intensity(hu, {"level": 40, "width": 80})["method"] == "ct"
    np.testing.assert_allclose(data.apply_intensity(hu, "ct")[0, 0], [[0, 0.5], [1, 0.375]])
    np.testing.assert_array_equal(data.apply_intensity(hu, "none")[0, 0], hu[0].astype(np.float32))
    np.testing.assert_allclose(data.apply_intensity(hu, "minmax")[0, 0], [[0, 0.5], [1, 0.375]])
    colour = np.arange(2 * 3 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3, 3)
    assert data.apply_intensity(colour).shape == (2, 3, 3, 3)  # channels first
    np.testing.assert_allclose(data.apply_intensity(colour)[1, 2], colour[1, :, :, 2] / 255)
    with pytest.raises(ValueError, match="auto, ct, mr"):
        data.resolve_intensity(hu, "window")


# ---------------------------------------------------------------------------- .npz errors


def test_a_missing_key_names_the_file_the_key_and_the_keys_present(tmp_path):
    path = write_npz(tmp_path / "set.npz", splits=("train",))
    with pytest.raises(data.DataFileError, match=r"set\.npz has no array 'val_images'.*train_images"):
        data.SegmentationNPZ(path, "val")
    with pytest.raises(data.DataFileError, match="train_label_aal"):
        data.SegmentationNPZ(path, "train", category="aal")


@pytest.mark.parametrize(
    "images, masks, message",
    [
        (np.zeros((3, 8), np.uint8), np.zeros((3, 8), np.uint8), r"train_images must have shape \(N, H, W\)"),
        (np.zeros((3, 8, 8, 5), np.uint8), np.zeros((3, 8, 8), np.uint8), "C in 1..4"),
        (np.zeros((3, 8, 8), np.uint8), np.zeros((2, 8, 8), np.uint8), r"train_label has shape \(2, 8, 8\)"),
        (np.zeros((3, 8, 8), np.uint8), np.full((3, 8, 8), -1, np.int8), "labels from -1"),
        (np.zeros((3, 8, 8), np.uint8), np.full((3, 8, 8), 0.5), "not whole numbers"),
        (np.zeros((3, 8, 8), bool), np.zeros((3, 8, 8), np.uint8), "must hold numbers"),
    ],
)
def test_bad_shapes_and_labels_are_refused_with_the_key_named(tmp_path, images, masks, message):
    path = write_npz(tmp_path / "bad.npz", splits=("train",), images=images, masks=masks)
    with pytest.raises(data.DataFileError, match=message):
        data.SegmentationNPZ(path, "train")


def test_mask_values_beyond_a_catalog_sets_classes_are_refused(tmp_path, no_search_env):
    masks = np.zeros((3, 8, 8), np.uint8)
    masks[0, 0, 0] = 3
    fake_catalog_file(tmp_path, masks=masks)  # liverct117 has 3 classes: labels 0..2
    with pytest.raises(data.DataFileError, match="labels from 0 to 3, but they must be 0..2"):
        data.SegmentationNPZ("liverct117", "train", root=tmp_path, check_md5=False)
    binary = np.zeros((3, 8, 8), np.uint8)
    binary[:, :4] = 255
    fake_catalog_file(tmp_path / "b", name="busi", masks=binary)
    with pytest.raises(data.DataFileError, match="0/255 need y // 255"):
        data.SegmentationNPZ("busi", "train", root=tmp_path / "b", check_md5=False)


def test_a_pickled_object_array_is_refused(tmp_path):
    path = tmp_path / "pickled.npz"
    objects = np.empty(3, dtype=object)
    objects[:] = [np.zeros((8, 8))] * 3
    np.savez(path, train_images=objects, train_label=np.zeros((3, 8, 8), np.uint8))
    with pytest.raises(data.DataFileError, match="pickled object array"):
        data.SegmentationNPZ(path, "train")


def test_a_file_that_is_not_an_npz_is_refused(tmp_path):
    path = tmp_path / "page.npz"
    path.write_text("<html>error</html>")
    with pytest.raises(data.DataFileError, match="page.npz"):
        data.SegmentationNPZ(path, "train")
    with pytest.raises(ValueError, match="neither a known segmentation set"):
        data.SegmentationNPZ("nosuchset", "train")
    with pytest.raises(data.DataFileNotFoundError, match="missing.npz"):
        data.SegmentationNPZ(tmp_path / "missing.npz", "train")


def test_a_file_by_path_gets_classes_from_the_largest_label_of_all_splits(tmp_path):
    masks = {s: np.zeros((2, 6, 6), np.uint8) for s in ("train", "val", "test")}
    masks["test"][0, 0, 0] = 2  # only the test split holds label 2: the train split must know it too
    arrays = {f"{s}_images": np.zeros((2, 6, 6), np.uint8) for s in masks}
    arrays.update({f"{s}_label": m for s, m in masks.items()})
    np.savez(tmp_path / "mine.npz", **arrays)
    ds = data.SegmentationNPZ(tmp_path / "mine.npz", "train")
    assert ds.classes == ("background", "class 1", "class 2") and ds.name == "mine" and ds.task == "segmentation"
    named = data.SegmentationNPZ(tmp_path / "mine.npz", "test", classes=("bg", "a", "b"))
    assert named.classes == ("bg", "a", "b")
    assert data.load_segmentation(ds.reference, "val").path == ds.path  # the path, since the name is not known
    x, y = ds.arrays()
    xi, yi = ds[1]
    np.testing.assert_array_equal(xi, x[1])
    np.testing.assert_array_equal(yi, y[1])


# ---------------------------------------------------------------------------- search, MD5, download


def test_search_order_is_root_then_segmentation_dir_then_data_dir_then_cache(tmp_path, monkeypatch):
    folders = {k: tmp_path / k for k in ("root", "seg", "data", "cache")}
    monkeypatch.setenv(SEGMENTATION_ENV, str(folders["seg"]))
    monkeypatch.setenv("TINYDL_DATA_DIR", str(folders["data"]))
    monkeypatch.setenv("TINYDL_CACHE_DIR", str(folders["cache"]))
    assert data.segmentation_cache_dir() == folders["cache"] / "segmentation"
    fake_catalog_file(folders["cache"] / "segmentation")
    order = [("cache", folders["cache"] / "segmentation")]
    for key, label in (("data", "TINYDL_DATA_DIR"), ("seg", SEGMENTATION_ENV), ("root", "root argument")):
        fake_catalog_file(folders[key])
        order.append((label, folders[key]))
    for label, folder in reversed(order):  # remove the winner each time: the next one in line is used
        ds = data.SegmentationNPZ("liverct117", "train", root=folders["root"], check_md5=False)
        assert ds.source.startswith(label) and ds.path == folder / "liverct117.npz"
        ds.path.unlink()


def test_not_found_lists_every_place_and_how_to_get_the_file(tmp_path, monkeypatch, no_search_env):
    monkeypatch.setenv(SEGMENTATION_ENV, str(tmp_path / "seg"))
    with pytest.raises(data.DataFileNotFoundError) as caught:
        data.SegmentationNPZ("busi", "train", root=tmp_path / "root")
    message = str(caught.value)
    for place in (tmp_path / "root" / "busi_128.npz", tmp_path / "seg" / "busi_128.npz", "TINYDL_DATA_DIR: (not set)"):
        assert str(place) in message
    assert str(tmp_path / "cache" / "segmentation" / "busi_128.npz") in message
    assert "pass download=True" in message and "68877751adef0ab639de73946aac0985" in message
    assert "https://zenodo.org/records/13358372/files/busi_128.npz?download=1" in message
    assert len(caught.value.searched) == 3
    with pytest.raises(data.DataFileNotFoundError) as caught:
        data.SegmentationNPZ("liverct117", "train", download=True, hints="cli")
    assert "cannot be downloaded" in str(caught.value) and "liver-ct-segmentation-package" in str(caught.value)


def test_a_wrong_md5_is_caught_for_a_catalog_file(tmp_path, no_search_env):
    fake_catalog_file(tmp_path)
    with pytest.raises(data.ChecksumError, match="94893cdf9520d2096899dbe8a75a7c9d"):
        data.SegmentationNPZ("liverct117", "train", root=tmp_path)


def test_download_writes_the_checked_file_and_refuses_a_set_without_url(tmp_path, monkeypatch, no_search_env):
    buffer = io.BytesIO()
    np.savez(buffer, train_images=np.zeros((2, 8, 8), np.uint8), train_label=np.ones((2, 8, 8), np.uint8))
    payload = buffer.getvalue()
    info = dataclasses.replace(segmentation.SEGMENTATION["busi"], md5=hashlib.md5(payload).hexdigest())
    monkeypatch.setitem(segmentation.SEGMENTATION, "busi", info)
    urls = []

    def fake_open(url, timeout):
        urls.append(url)
        return io.BytesIO(payload)

    monkeypatch.setattr(medmnist, "_open_url", fake_open)
    ds = data.SegmentationNPZ("busi", "train", root=tmp_path, download=True)
    assert urls == [info.url] and ds.path == tmp_path / "busi_128.npz" and ds.source.startswith("download")
    assert ds.classes == ("background", "lesion") and ds.modality == "ultrasound"
    with pytest.raises(ValueError, match="cannot be downloaded"):
        data.download_segmentation("colin27_brain", root=tmp_path)


def test_catalog_rows_have_urls_md5s_classes_and_modalities():
    assert set(data.SEGMENTATION) == {"liverct117", "colin27_brain", "covidquex", "busi", "drive", "isic2016",
                                      "promise12", "kvasir"}  # fmt: skip
    for info in data.SEGMENTATION.values():
        assert len(info.md5) == 32 and info.classes[0] == "background"
        assert info.modality in segmentation.MODALITIES and info.licence and info.citation
    assert data.SEGMENTATION["liverct117"].url is None and data.SEGMENTATION["colin27_brain"].url is None
    assert data.SEGMENTATION["drive"].channels == 3 and data.SEGMENTATION["kvasir"].classes[1] == "polyp"
    assert "Kuş" in data.SEGMENTATION["promise12"].citation


def test_segmentation_table_says_where_each_file_is(tmp_path, no_search_env):
    fake_catalog_file(tmp_path)
    table = data.segmentation_table(root=tmp_path)
    assert str(tmp_path / "liverct117.npz") in table and "[root argument]" in table
    assert "busi" in table and "missing" in table and "synthetic-segmentation" in table


# ---------------------------------------------------------------------------- folders


def save_png(path, array):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def make_folder(base, n=3, size=(10, 12), binary255=False):
    rng = np.random.default_rng(2)
    for i in range(n):
        image = rng.integers(0, 256, size, dtype=np.uint8)
        mask = np.zeros(size, np.uint8)
        mask[2:6, 3 + i : 8] = 255 if binary255 else 1
        mask[0, 0] = 0 if binary255 else 2
        save_png(base / "images" / f"case{i}.png", image)
        save_png(base / "masks" / f"case{i}.png", mask)


def test_a_flat_folder_of_pngs_is_read_with_its_masks(tmp_path):
    make_folder(tmp_path / "flat")
    ds = data.SegmentationFolder(tmp_path / "flat")
    assert len(ds) == 3 and ds.images.dtype == np.uint8 and ds.classes == ("background", "class 1", "class 2")
    assert [p.name for p, _ in ds.files] == ["case0.png", "case1.png", "case2.png"]
    x, y = ds.arrays()
    assert x.shape == (3, 1, 10, 12) and y.shape == (3, 10, 12) and ds.intensity_spec["method"] == "uint8"
    assert y[0, 0, 0] == 2 and y[1, 2, 4] == 1 and y[1, 2, 3] == 0


def test_split_folders_and_binary_0_255_masks(tmp_path):
    for split in ("train", "val"):
        make_folder(tmp_path / "set" / split, binary255=True)
    ds = data.SegmentationFolder(tmp_path / "set", split="val")
    assert ds.split == "val" and set(np.unique(ds.masks)) == {0, 1} and ds.n_classes == 2
    assert data.load_segmentation(tmp_path / "set", "train").source.endswith(f"{tmp_path / 'set' / 'train'})")
    with pytest.raises(data.DataFileNotFoundError, match="split folders"):
        data.SegmentationFolder(tmp_path / "set")
    with pytest.raises(data.DataFileNotFoundError, match="test"):
        data.SegmentationFolder(tmp_path / "set", split="test")


def test_images_without_masks_are_listed(tmp_path):
    make_folder(tmp_path / "f", n=7)
    for i in range(1, 7):
        (tmp_path / "f" / "masks" / f"case{i}.png").unlink()
    with pytest.raises(data.DataFileError, match=r"6 of the images.*case1, case2, case3, case4, case5 and 1 more"):
        data.SegmentationFolder(tmp_path / "f")


def test_grey_level_masks_are_refused_as_not_small_whole_numbers(tmp_path):
    make_folder(tmp_path / "f")
    save_png(tmp_path / "f" / "masks" / "case0.png", np.arange(120, dtype=np.uint8).reshape(10, 12))
    with pytest.raises(data.DataFileError, match="small whole numbers"):
        data.SegmentationFolder(tmp_path / "f")


def test_folder_resizes_images_bilinear_and_masks_nearest(tmp_path):
    make_folder(tmp_path / "f", size=(10, 12))
    ds = data.SegmentationFolder(tmp_path / "f", size=20)
    assert ds.images.shape == (3, 20, 20) and ds.images.dtype == np.uint8 and ds.masks.shape == (3, 20, 20)
    assert set(np.unique(ds.masks)) == {0, 1, 2}


def test_npy_images_of_hounsfield_units_in_a_folder_are_windowed(tmp_path):
    (tmp_path / "f" / "images").mkdir(parents=True)
    np.save(tmp_path / "f" / "images" / "a.npy", np.full((8, 8), -1000, np.int16))
    (tmp_path / "f" / "masks").mkdir()
    np.save(tmp_path / "f" / "masks" / "a.npy", np.zeros((8, 8), np.uint8))
    ds = data.SegmentationFolder(tmp_path / "f")
    assert ds.intensity_spec["method"] == "ct" and ds.arrays()[0].max() == 0.0


# ---------------------------------------------------------------------------- synthetic and load_segmentation


def test_synthetic_set_is_deterministic_per_split_with_organs_and_lesions():
    a, b = data.SyntheticSegmentation("train", n=16, size=32), data.SyntheticSegmentation("train", n=16, size=32)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.masks, b.masks)
    other = data.SyntheticSegmentation("val", n=16, size=32)
    assert not np.array_equal(a.images, other.images)
    assert a.classes == ("background", "organ", "lesion") and a.name == "synthetic-segmentation"
    assert a.source == "synthetic" and a.images.dtype == np.uint8 and a.image_shape == (1, 32, 32)
    big = data.SyntheticSegmentation("train", n=64)
    assert set(np.unique(big.masks)) == {0, 1, 2}
    x, y = big.arrays()
    means = [x[:, 0][y == k].mean() for k in range(3)]
    assert means[0] < means[2] < means[1]  # dark background, bright organ, darker lesions inside it


def test_load_segmentation_falls_back_to_synthetic_only_when_allowed(tmp_path, no_search_env):
    with pytest.raises(data.DataFileNotFoundError):
        data.load_segmentation("liverct117", "train", root=tmp_path)
    with pytest.warns(data.SyntheticFallbackWarning, match="SYNTHETIC"):
        ds = data.load_segmentation("liverct117", "val", root=tmp_path, fallback_synthetic=True, intensity="minmax")
    assert ds.source == "synthetic" and "liverct117.npz not found" in ds.fallback_reason
    assert ds.intensity_spec["method"] == "minmax" and ds.split == "val"
    assert "SYNTHETIC" in data.describe_source(ds)
    assert isinstance(data.load_segmentation("synthetic", "test", n=4), data.SyntheticSegmentation)
    assert ds.reference == "synthetic-segmentation"
    path = write_npz(tmp_path / "x.npz")
    assert isinstance(data.load_segmentation(str(path), "test"), data.SegmentationNPZ)


def test_a_small_unet_learns_the_synthetic_organs():
    train = data.SyntheticSegmentation("train", n=64, size=32)
    test = data.SyntheticSegmentation("test", n=32, size=32)
    td.manual_seed(0)
    model = td.models.UNet(1, 3, base_width=8, depth=2)
    optimizer = td.optim.Adam(model.parameters(), lr=1e-2)
    loader = data.DataLoader(train, batch_size=8, shuffle=True, seed=0)
    for _ in range(6):
        model.train()
        for xb, yb in loader:
            logits, target = model(td.tensor(xb)), td.tensor(yb)
            loss = td.nn.functional.cross_entropy(logits, target) + td.nn.functional.dice_loss(logits, target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    x, y = test.arrays()
    with td.no_grad():
        predicted = model(td.tensor(x)).numpy().argmax(1)
    assert td.metrics.dice_score(y, predicted, 3, average=None)[1] > 0.9


# ---------------------------------------------------------------------------- paired augmentation


def organ_batch(n=4, size=24, seed=3):
    ds = data.SyntheticSegmentation("train", n=n, size=size, seed=seed)
    return ds.arrays()


def test_flips_are_exact_on_image_and_mask():
    x, y = organ_batch()
    x2, y2 = data.PairedRandomFlip(horizontal=True, vertical=True, p=1.0, seed=0)(x, y)
    np.testing.assert_array_equal(x2, x[:, :, ::-1, ::-1])
    np.testing.assert_array_equal(y2, y[:, ::-1, ::-1])
    x3, y3 = data.PairedRandomFlip(p=0.0, seed=0)(x, y)
    np.testing.assert_array_equal(x3, x)
    np.testing.assert_array_equal(y3, y)
    x4, y4 = data.PairedRandomFlip(p=0.5, seed=1)(x, y)  # each image flipped or not, image and mask alike
    for i in range(len(x)):
        flipped = np.array_equal(y4[i], y[i, :, ::-1]) and not np.array_equal(y[i], y[i, :, ::-1])
        np.testing.assert_array_equal(x4[i], x[i, :, :, ::-1] if flipped else x[i])


def test_identity_affine_and_elastic_give_the_input_back():
    x, y = organ_batch()
    for t in (data.PairedRandomAffine(degrees=0, scale=(1, 1), shift=0, seed=0), data.PairedElastic(alpha=0, seed=0)):
        x2, y2 = t(x, y)
        np.testing.assert_array_equal(x2, x)
        np.testing.assert_array_equal(y2, y)


def test_affine_grid_turns_by_90_degrees_and_shifts_by_whole_pixels_exactly():
    x, y = organ_batch(size=16)
    rows, cols = paired.affine_grid((len(x), 16, 16), 90, 1.0, 0, 0)
    np.testing.assert_array_equal(paired.sample_bilinear(x, rows, cols), np.rot90(x, axes=(2, 3)))
    np.testing.assert_array_equal(paired.sample_nearest(y, rows, cols), np.rot90(y, axes=(1, 2)))
    rows, cols = paired.affine_grid((len(x), 16, 16), 0, 1.0, 2, -3)  # 2 down, 3 left
    expected = np.zeros_like(y)
    expected[:, 2:, : 16 - 3] = y[:, : 16 - 2, 3:]
    np.testing.assert_array_equal(paired.sample_nearest(y, rows, cols), expected)


@settings(deadline=None)
@given(
    seed=st.integers(0, 2**16),
    degrees=st.floats(0, 45),
    low=st.floats(0.6, 1.0),
    shift=st.floats(0, 0.2),
    labels=st.sets(st.integers(0, 5), min_size=1, max_size=4),
)
def test_affine_and_elastic_never_invent_labels_and_move_image_and_mask_together(seed, degrees, low, shift, labels):
    rng = np.random.default_rng(seed)
    labels = np.array(sorted(labels | {0}))
    y = labels[rng.integers(0, len(labels), (2, 4, 4))].repeat(4, axis=1).repeat(4, axis=2)  # blocks of 4×4
    x = y[:, None].astype(np.float32)  # an image made of the mask
    for t in (data.PairedRandomAffine(degrees, (low, 1.2), shift, seed=seed), data.PairedElastic(4, 3, 1.0, seed=seed)):
        x2, y2 = t(x, y)
        assert set(np.unique(y2)) <= set(labels)
        # Bilinear and nearest read at the same positions: away from the blocks' borders they agree exactly,
        # and a disagreement is always a mixture of labels (between the smallest and largest present).
        agree = np.isclose(x2[:, 0], y2, atol=1e-4).mean()
        assert agree > 0.6
        assert x2.min() >= labels.min() - 1e-4 and x2.max() <= labels.max() + 1e-4


def test_the_transformed_mask_agrees_with_the_rounded_transformed_image_almost_everywhere():
    x, y = organ_batch(n=8, size=48)
    binary = (y > 0).astype(np.int64)
    x2, y2 = data.PairedRandomAffine(degrees=20, scale=(0.8, 1.2), shift=0.1, seed=5)(
        binary[:, None].astype(np.float32), binary
    )
    assert (np.round(x2[:, 0]) == y2).mean() > 0.98
    assert not np.array_equal(y2, binary)  # it did move


def test_seeds_reproduce_and_different_seeds_differ():
    x, y = organ_batch()

    def run(seed):
        return data.segmentation_augmentation(seed=seed)(x, y)

    (xa, ya), (xb, yb), (xc, _) = run(4), run(4), run(5)
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(xa, xc)


def test_image_only_changes_the_image_and_compose_shares_one_generator():
    x, y = organ_batch()
    t = data.ImageOnly(data.RandomBrightnessContrast(0.2, 0.2, seed=0))
    x2, y2 = t(x, y)
    assert y2 is y and not np.array_equal(x2, x)
    augment = data.segmentation_augmentation(seed=0)
    assert augment.paired and "PairedRandomAffine(degrees=10.0" in repr(augment)
    # What the Trainer's checkpoint walks (tinydl/train.py, _random_generators): .transforms and .rng.
    found, pending = [], [augment]
    while pending:
        step = pending.pop(0)
        pending[:0] = list(getattr(step, "transforms", []))
        if getattr(step, "rng", None) is not None and all(step.rng is not g for g in found):
            found.append(step.rng)
    assert len(found) == 1 and isinstance(found[0], np.random.Generator)
    with pytest.raises(ValueError, match="do not match"):
        augment(x, y[:, :-1])


def test_resize_masks_is_nearest_and_resize_images_keeps_constants():
    y = np.array([[[0, 1], [2, 3]]])
    np.testing.assert_array_equal(data.resize_masks(y, (4, 4))[0], np.repeat(np.repeat(y[0], 2, 0), 2, 1))
    np.testing.assert_allclose(data.resize_images(np.full((1, 2, 5, 7), 0.3), (9, 4)), 0.3, rtol=1e-6)


def test_dataloader_gives_a_paired_transform_both_batches():
    x, y = organ_batch(n=6)
    loader = data.DataLoader(
        (x, y), batch_size=3, transform=data.PairedRandomFlip(vertical=True, horizontal=False, p=1.0)
    )
    xb, yb = next(iter(loader))
    np.testing.assert_array_equal(xb, x[:3, :, ::-1])
    np.testing.assert_array_equal(yb, y[:3, ::-1])
    plain = data.DataLoader((x, y), batch_size=3, transform=data.RandomFlip(vertical=True, p=1.0, seed=0))
    xb, yb = next(iter(plain))  # a one-image transform still gets x only
    np.testing.assert_array_equal(xb, x[:3, :, ::-1])
    np.testing.assert_array_equal(yb, y[:3])


def test_a_folder_mask_of_fractions_is_refused_not_truncated(tmp_path):
    (tmp_path / "f" / "images").mkdir(parents=True)
    (tmp_path / "f" / "masks").mkdir()
    save_png(tmp_path / "f" / "images" / "a.png", np.zeros((6, 6), np.uint8))
    np.save(tmp_path / "f" / "masks" / "a.npy", np.full((6, 6), 0.5))
    with pytest.raises(data.DataFileError, match=r"a\.npy: a mask must hold small whole numbers"):
        data.SegmentationFolder(tmp_path / "f")


def test_sampling_and_resizing_agree_with_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x = rng.random((2, 3, 9, 11)).astype(np.float32)
    y = rng.integers(0, 4, (2, 9, 11))
    rows, cols = rng.uniform(-2, 11, (2, 6, 5)), rng.uniform(-2, 13, (2, 6, 5))
    # grid_sample's grid is (x, y) in [-1, 1] with align_corners=True: -1 is pixel 0, +1 the last pixel.
    grid = torch.tensor(np.stack([cols / (11 - 1) * 2 - 1, rows / (9 - 1) * 2 - 1], axis=-1))
    expected = torch.nn.functional.grid_sample(torch.tensor(x, dtype=torch.float64), grid, "bilinear", "zeros", True)
    np.testing.assert_allclose(paired.sample_bilinear(x, rows, cols), expected.numpy(), atol=1e-5)
    nearest = torch.nn.functional.grid_sample(
        torch.tensor(y[:, None], dtype=torch.float64), grid, "nearest", "zeros", True
    )
    np.testing.assert_array_equal(paired.sample_nearest(y, rows, cols), nearest.numpy()[:, 0].astype(np.int64))
    for size in ((18, 22), (5, 4)):
        resized = torch.nn.functional.interpolate(torch.tensor(x), size=size, mode="bilinear", align_corners=False)
        np.testing.assert_allclose(data.resize_images(x, size), resized.numpy(), atol=1e-5)
