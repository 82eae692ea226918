"""tinydl.data: MedMNIST files (real ones from ../shared/medmnist), image folders, synthetic data,
DataLoader and transforms. No network: downloads go through a replaced URL opener."""

import io
import pathlib
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinydl import data
from tinydl.data import medmnist as medmnist_module


@pytest.fixture(autouse=True)
def isolated_places(tmp_path, monkeypatch):
    """No test sees the user's real cache or TINYDL_DATA_DIR: each gets its own empty cache folder."""
    monkeypatch.delenv("TINYDL_DATA_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("TINYDL_CACHE_DIR", str(tmp_path / "tinydl-cache"))


@pytest.fixture
def real_dir(data_dir, monkeypatch):
    """The shared folder of real MedMNIST files, set as TINYDL_DATA_DIR (skips if absent)."""
    monkeypatch.setenv("TINYDL_DATA_DIR", str(data_dir))
    return data_dir


def write_fake_npz(path, n=6, channels=1, n_classes=2, drop=(), **replace):
    """A small MedMNIST-shaped .npz: every split has n images and labels (overridable per key)."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split in data.SPLITS:
        shape = (n, 28, 28) + ((3,) if channels == 3 else ())
        arrays[f"{split}_images"] = rng.integers(0, 256, size=shape, dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % n_classes).astype(np.uint8).reshape(n, 1)
    arrays.update(replace)
    for key in drop:
        del arrays[key]
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


# --- the table ----------------------------------------------------------------------------------


def test_table_has_the_2d_sets_with_consistent_records():
    for name in (
        "pathmnist",
        "chestmnist",
        "dermamnist",
        "octmnist",
        "pneumoniamnist",
        "retinamnist",
        "breastmnist",
        "bloodmnist",
        "tissuemnist",
        "organamnist",
        "organcmnist",
        "organsmnist",
    ):
        info = data.MEDMNIST[name]
        assert info.url == f"https://zenodo.org/records/10519652/files/{name}.npz?download=1"
        assert info.file_name == f"{name}.npz"
        assert len(info.md5) == 32 and int(info.md5, 16) >= 0
        assert info.task in ("binary-class", "multi-class", "multi-label, binary-class", "ordinal-regression")
        assert info.n_channels in (1, 3) and set(info.n_samples) == {"train", "val", "test"}
        assert info.license.startswith("CC BY") and "Scientific Data" in info.citation
    assert data.MEDMNIST["chestmnist"].n_classes == 14 and data.MEDMNIST["chestmnist"].multi_label
    assert data.get_info("PneumoniaMNIST") is data.get_info("pneumonia") is data.MEDMNIST["pneumoniamnist"]


def test_unknown_name_and_split_list_the_choices():
    with pytest.raises(ValueError, match="known: pathmnist, chestmnist"):
        data.MedMNIST("kneemnist")
    with pytest.raises(ValueError, match="train, val, test"):
        data.MedMNIST("pneumoniamnist", "validation")


# --- real files ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, classes",
    [
        ("pneumoniamnist", ["normal", "pneumonia"]),
        ("breastmnist", ["malignant", "normal, benign"]),
    ],
)
def test_real_grey_binary_sets(real_dir, name, classes):
    info = data.MEDMNIST[name]
    for split in data.SPLITS:
        ds = data.MedMNIST(name, split)
        n = info.n_samples[split]
        assert len(ds) == n and ds.images.shape == (n, 28, 28) and ds.images.dtype == np.uint8
        assert ds.labels.shape == (n,) and ds.labels.dtype == np.int64
        assert ds.classes == classes and ds.task == "binary-class" and ds.n_channels == 1
        assert ds.path == real_dir / f"{name}.npz" and ds.source.startswith("TINYDL_DATA_DIR")
        x, y = ds.arrays()
        assert x.shape == (n, 1, 28, 28) and x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
        assert y.dtype == np.int64 and set(np.unique(y)) == {0, 1}
        image, label = ds[3]
        np.testing.assert_array_equal(image, x[3])
        assert label == y[3]


def test_real_retina_is_rgb_and_ordinal(real_dir):
    ds = data.MedMNIST("retinamnist", "train")
    assert ds.images.shape == (1080, 28, 28, 3) and ds.n_channels == 3 and ds.task == "ordinal-regression"
    x, y = ds.arrays()
    assert x.shape == (1080, 3, 28, 28)
    np.testing.assert_allclose(x[5, 2], ds.images[5, :, :, 2] / 255.0, rtol=1e-6)  # channel 2 = blue
    assert y.min() == 0 and y.max() == 4 and len(ds.classes) == 5


def test_real_organa_sizes_and_classes(real_dir):
    ds = data.MedMNIST("organamnist", "val")
    assert len(ds) == 6491 and ds.n_classes == 11 and ds.classes[6] == "liver"
    assert set(np.unique(ds.labels)) == set(range(11))


def test_real_pneumonia_md5_matches_the_table(real_dir):
    path = real_dir / "pneumoniamnist.npz"
    assert data.md5(path) == data.MEDMNIST["pneumoniamnist"].md5 == "28209eda62fecd6e6a2d98b1501bb15f"
    assert data.MedMNIST("pneumoniamnist", "val").md5 == data.MEDMNIST["pneumoniamnist"].md5


def test_available_reports_found_files(real_dir):
    rows = {row.name: row for row in data.available()}
    assert rows["pneumoniamnist"].found and rows["pneumoniamnist"].path == real_dir / "pneumoniamnist.npz"
    assert rows["synthetic-lesions"].found
    table = data.datasets_table()
    assert "pneumoniamnist" in table and str(real_dir) in table and "chestmnist" in table


# --- where files are looked for ------------------------------------------------------------------


def test_lookup_order_root_then_env_then_cache(tmp_path, monkeypatch):
    root, env, cache = tmp_path / "root", tmp_path / "env", tmp_path / "cache-base"
    monkeypatch.setenv("TINYDL_DATA_DIR", str(env))
    monkeypatch.setenv("TINYDL_CACHE_DIR", str(cache))
    for folder in (root, env, cache / "medmnist"):
        write_fake_npz(folder / "breastmnist.npz")

    def source_of(**kw):
        return data.MedMNIST("breastmnist", "test", check_md5=False, **kw).path

    assert source_of(root=root) == root / "breastmnist.npz"
    assert source_of() == env / "breastmnist.npz"
    (env / "breastmnist.npz").unlink()
    assert source_of() == cache / "medmnist" / "breastmnist.npz"
    ds = data.MedMNIST("breastmnist", "test", check_md5=False)
    assert ds.source.startswith("cache")


def test_default_cache_dir_follows_xdg_and_home(tmp_path, monkeypatch):
    monkeypatch.delenv("TINYDL_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.cache_dir() == tmp_path / "xdg" / "tinydl" / "medmnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data.cache_dir() == tmp_path / "home" / ".cache" / "tinydl" / "medmnist"


def test_missing_file_error_names_every_place_and_the_way_out(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYDL_DATA_DIR", str(tmp_path / "env"))
    with pytest.raises(FileNotFoundError) as err:
        data.MedMNIST("pneumoniamnist", root=tmp_path / "root")
    message = str(err.value)
    assert isinstance(err.value, data.DataFileNotFoundError)
    for place in (tmp_path / "root", tmp_path / "env", data.cache_dir()):
        assert str(place / "pneumoniamnist.npz") in message
    assert "download=True" in message and "TINYDL_DATA_DIR" in message
    assert data.MEDMNIST["pneumoniamnist"].url in message
    assert len(err.value.searched) == 3


# --- damaged and hostile files -------------------------------------------------------------------


def test_wrong_md5_is_detected_and_named(real_dir, tmp_path):
    damaged = tmp_path / "breastmnist.npz"
    raw = bytearray((real_dir / "breastmnist.npz").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    damaged.write_bytes(bytes(raw))
    with pytest.raises(data.ChecksumError) as err:
        data.MedMNIST("breastmnist", root=tmp_path)
    message = str(err.value)
    assert data.MEDMNIST["breastmnist"].md5 in message and data.md5(damaged) in message
    assert str(damaged) in message and "download=True" in message


def test_truncated_file_gives_a_clear_error(real_dir, tmp_path):
    truncated = tmp_path / "breastmnist.npz"
    raw = (real_dir / "breastmnist.npz").read_bytes()
    truncated.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(data.ChecksumError):  # the default MD5 check catches it first
        data.MedMNIST("breastmnist", root=tmp_path)
    with pytest.raises(data.DataFileError, match="truncated") as err:
        data.MedMNIST("breastmnist", root=tmp_path, check_md5=False)
    assert str(truncated) in str(err.value)


def test_not_an_npz_at_all(tmp_path):
    (tmp_path / "breastmnist.npz").write_bytes(b"<html>429 Too Many Requests</html>")
    with pytest.raises(data.DataFileError, match="breastmnist.npz"):
        data.MedMNIST("breastmnist", root=tmp_path, check_md5=False)


class _Trap:
    """Unpickling this would create a file: proof that a pickle ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_pickled_object_arrays_are_refused_not_unpickled(tmp_path):
    marker = tmp_path / "pickle-ran"
    hostile = np.empty(6, dtype=object)
    hostile[:] = [_Trap(marker)] * 6
    write_fake_npz(tmp_path / "breastmnist.npz", train_labels=hostile)
    with pytest.raises(data.DataFileError, match="pickle"):
        data.MedMNIST("breastmnist", "train", root=tmp_path, check_md5=False)
    assert not marker.exists()


def test_missing_key_names_the_key_and_what_is_there(tmp_path):
    write_fake_npz(tmp_path / "breastmnist.npz", drop=("val_labels",))
    with pytest.raises(data.DataFileError, match="'val_labels'") as err:
        data.MedMNIST("breastmnist", "val", root=tmp_path, check_md5=False)
    assert "val_images" in str(err.value)


@pytest.mark.parametrize(
    "replace, pattern",
    [
        ({"train_labels": np.array([[0], [1], [2], [0], [1], [0]], np.uint8)}, "between 0 and 1"),
        ({"train_labels": np.zeros((5, 1), np.uint8)}, r"shape \(5, 1\), expected \(6,\)"),
        ({"train_labels": np.zeros((6, 1), np.float32)}, "integers"),
        ({"train_images": np.zeros((6, 32, 32), np.uint8)}, r"uint8 of shape \(N, 28, 28\)"),
        ({"train_images": np.zeros((6, 28, 28), np.float32)}, "float32"),
        ({"train_images": np.zeros((6, 28, 28, 3), np.uint8)}, "BreastMNIST"),
    ],
)
def test_bad_contents_are_named(tmp_path, replace, pattern):
    write_fake_npz(tmp_path / "breastmnist.npz", **replace)
    with pytest.raises(data.DataFileError, match=pattern):
        data.MedMNIST("breastmnist", "train", root=tmp_path, check_md5=False)


def test_multilabel_chest_layout(tmp_path):
    labels = np.random.default_rng(1).integers(0, 2, size=(6, 14), dtype=np.uint8)
    write_fake_npz(tmp_path / "chestmnist.npz", train_labels=labels)
    ds = data.MedMNIST("chestmnist", "train", root=tmp_path, check_md5=False)
    assert ds.labels.shape == (6, 14) and ds.labels.dtype == np.int64 and ds[0][1].shape == (14,)
    assert ds.arrays()[1].shape == (6, 14) and sum(ds.class_counts().values()) == labels.sum()
    write_fake_npz(tmp_path / "bad" / "chestmnist.npz")  # (N, 1) labels: not 14 findings
    with pytest.raises(data.DataFileError, match=r"\(6, 14\)"):
        data.MedMNIST("chestmnist", "train", root=tmp_path / "bad", check_md5=False)


# --- download (no network: the opener is replaced) -----------------------------------------------


class FakeResponse(io.BytesIO):
    """What urlopen returns, enough for download_file: read(), headers, context manager."""

    def __init__(self, payload, content_length=None, fail_after=None, error=ConnectionResetError):
        super().__init__(payload)
        length = len(payload) if content_length is None else content_length
        self.headers = {"Content-Length": str(length)}
        self.fail_after, self.error = fail_after, error

    def read(self, size=-1):
        if self.fail_after is not None and self.tell() >= self.fail_after:
            raise self.error("connection reset by peer")
        return super().read(size)


@pytest.fixture
def breast_bytes(data_dir):
    return (data_dir / "breastmnist.npz").read_bytes()


def serve(monkeypatch, response):
    calls = []

    def fake_open(url, timeout):
        calls.append(url)
        return response

    monkeypatch.setattr(medmnist_module, "_open_url", fake_open)
    return calls


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_success_then_load(monkeypatch, tmp_path, breast_bytes):
    calls = serve(monkeypatch, FakeResponse(breast_bytes))
    ds = data.MedMNIST("breastmnist", "val", root=tmp_path / "d", download=True)
    assert calls == [data.MEDMNIST["breastmnist"].url]
    assert ds.source.startswith("download") and len(ds) == 78
    assert leftovers(tmp_path / "d") == ["breastmnist.npz"]  # no temporary file left
    assert data.md5(tmp_path / "d" / "breastmnist.npz") == data.MEDMNIST["breastmnist"].md5


def test_download_goes_to_the_cache_without_root(monkeypatch, breast_bytes):
    serve(monkeypatch, FakeResponse(breast_bytes))
    path = data.download("breastmnist", quiet=True)
    assert path == data.cache_dir() / "breastmnist.npz" and path.is_file()
    assert data.MedMNIST("breastmnist", "test").source.startswith("cache")


def test_download_with_wrong_md5_leaves_nothing(monkeypatch, tmp_path, breast_bytes):
    serve(monkeypatch, FakeResponse(breast_bytes[:-1] + bytes([breast_bytes[-1] ^ 0xFF])))
    with pytest.raises(data.ChecksumError, match=data.MEDMNIST["breastmnist"].md5):
        data.MedMNIST("breastmnist", root=tmp_path, download=True)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "response, error",
    [
        (lambda b: FakeResponse(b[:1000], content_length=len(b)), data.DownloadError),  # server closed early
        (lambda b: FakeResponse(b, fail_after=200_000), data.DownloadError),  # connection reset midway
        (lambda b: FakeResponse(b, fail_after=200_000, error=KeyboardInterrupt), KeyboardInterrupt),  # Ctrl-C
    ],
)
def test_interrupted_download_leaves_nothing(monkeypatch, tmp_path, breast_bytes, response, error):
    serve(monkeypatch, response(breast_bytes))
    with pytest.raises(error):
        data.MedMNIST("breastmnist", root=tmp_path, download=True)
    assert leftovers(tmp_path) == []


def test_download_file_with_a_real_file_url(tmp_path, data_dir):
    # urllib's own opener, with a file:// address: the real code path, no network.
    url = (data_dir / "breastmnist.npz").as_uri()
    dest = data.download_file(url, tmp_path / "x" / "breastmnist.npz", data.MEDMNIST["breastmnist"].md5, quiet=True)
    assert dest.read_bytes() == (data_dir / "breastmnist.npz").read_bytes()
    with pytest.raises(ValueError, match="without an MD5"):
        data.download_file(url, tmp_path / "y.npz", None)


# --- image folders and single images --------------------------------------------------------------


@pytest.fixture
def image_tree(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    for cls, count in (("pneumonia", 3), ("normal", 2)):
        (root / cls).mkdir(parents=True)
        for i in range(count):
            grey = rng.integers(0, 256, size=(40, 30), dtype=np.uint8)
            Image.fromarray(grey).save(root / cls / f"{i}.png")
    (root / "normal" / "notes.txt").write_text("not an image")
    return root


def test_image_folder_grey_pngs_resized(image_tree):
    ds = data.ImageFolder(image_tree)
    assert ds.classes == ["normal", "pneumonia"] and ds.class_to_idx == {"normal": 0, "pneumonia": 1}
    assert ds.images.shape == (5, 28, 28) and ds.n_channels == 1 and ds.task == "binary-class"
    assert ds.labels.tolist() == [0, 0, 1, 1, 1]
    x, y = ds.arrays()
    assert x.shape == (5, 1, 28, 28) and x.dtype == np.float32
    native = data.ImageFolder(image_tree, size=None)
    assert native.images.shape == (5, 40, 30)
    assert data.ImageFolder(image_tree, grayscale=False).images.shape == (5, 28, 28, 3)


def test_image_folder_rgb_jpeg_and_mixed(image_tree):
    from PIL import Image

    colour = np.zeros((28, 28, 3), np.uint8)
    colour[..., 0] = 200
    Image.fromarray(colour).save(image_tree / "normal" / "red.jpg", quality=95)
    ds = data.ImageFolder(image_tree)  # one colour file → RGB for all
    assert ds.images.shape == (6, 28, 28, 3)
    red = ds.images[ds.paths.index(image_tree / "normal" / "red.jpg")]
    assert abs(int(red[..., 0].mean()) - 200) < 5 and red[..., 1].mean() < 10
    grey = data.ImageFolder(image_tree, grayscale=True)
    assert grey.images.shape == (6, 28, 28)
    red_grey = grey.images[grey.paths.index(image_tree / "normal" / "red.jpg")]
    assert abs(red_grey.mean() - 0.299 * 200) < 5  # ITU-R 601 luma


def test_image_folder_sixteen_bit_png_is_scaled_not_clipped(tmp_path):
    from PIL import Image

    (tmp_path / "a").mkdir()
    Image.fromarray(np.full((28, 28), 32896, np.uint16)).save(tmp_path / "a" / "x.png")  # 128·257
    ds = data.ImageFolder(tmp_path)
    assert ds.images.dtype == np.uint8 and int(ds.images[0, 0, 0]) == 128


def test_image_folder_errors(tmp_path, image_tree):
    with pytest.raises(FileNotFoundError, match="not found"):
        data.ImageFolder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(data.DataFileError, match="no class sub-folders"):
        data.ImageFolder(tmp_path / "empty")
    (tmp_path / "empty" / "cls").mkdir()
    with pytest.raises(data.DataFileError, match="no images"):
        data.ImageFolder(tmp_path / "empty")
    (image_tree / "normal" / "broken.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(data.DataFileError, match="broken.png"):
        data.ImageFolder(image_tree)
    (image_tree / "normal" / "broken.png").unlink()
    from PIL import Image

    Image.fromarray(np.zeros((10, 10), np.uint8)).save(image_tree / "normal" / "small.png")
    with pytest.raises(data.DataFileError, match="differ in size"):
        data.ImageFolder(image_tree, size=None)


def test_load_image_png_and_npy(tmp_path):
    from PIL import Image

    grey = np.arange(28 * 28, dtype=np.uint32).reshape(28, 28).astype(np.uint8)
    Image.fromarray(grey).save(tmp_path / "a.png")
    x = data.load_image(tmp_path / "a.png")
    assert x.shape == (1, 28, 28) and x.dtype == np.float32
    np.testing.assert_allclose(x[0], grey / 255.0, rtol=1e-6)
    assert data.load_image(tmp_path / "a.png", channels=3).shape == (3, 28, 28)

    np.save(tmp_path / "hw.npy", grey)
    np.testing.assert_allclose(data.load_image(tmp_path / "hw.npy"), x)
    rgb = np.random.default_rng(0).random((40, 40, 3)).astype(np.float32)
    np.save(tmp_path / "hwc.npy", rgb)
    assert data.load_image(tmp_path / "hwc.npy", channels=3).shape == (3, 28, 28)
    assert data.load_image(tmp_path / "hwc.npy", channels=1, size=None).shape == (1, 40, 40)


def test_load_image_errors(tmp_path):
    from PIL import Image

    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "big.png")
    with pytest.raises(ValueError, match=r"32×32 \(H×W\), expected 28×28"):
        data.load_image(tmp_path / "big.png", resize=False)
    with pytest.raises(ValueError, match="1 channel"):
        data.load_image(tmp_path / "big.png", channels=3, convert=False, size=None)
    np.save(tmp_path / "rgb.npy", np.zeros((3, 28, 28), np.uint8))
    with pytest.raises(ValueError, match="3 channel"):
        data.load_image(tmp_path / "rgb.npy", channels=1, convert=False)
    np.save(tmp_path / "scaled.npy", np.full((28, 28), 200.0))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        data.load_image(tmp_path / "scaled.npy")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(data.DataFileError, match="pickled"):
        data.load_image(tmp_path / "objects.npy")
    with pytest.raises(FileNotFoundError):
        data.load_image(tmp_path / "missing.png")
    (tmp_path / "junk.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(data.DataFileError, match="junk.jpg"):
        data.load_image(tmp_path / "junk.jpg")
    with pytest.raises(ValueError, match="channels"):
        data.load_image(tmp_path / "big.png", channels=2)


# --- synthetic data and load_dataset --------------------------------------------------------------


def test_synthetic_is_deterministic_and_has_both_classes():
    a, b = data.SyntheticLesions("train", n=300, seed=3), data.SyntheticLesions("train", n=300, seed=3)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, data.SyntheticLesions("train", n=300, seed=4).images)
    assert not np.array_equal(a.images, data.SyntheticLesions("test", n=300, seed=3).images)
    assert a.images.shape == (300, 28, 28) and a.images.dtype == np.uint8
    assert a.class_counts() == {"normal": 150, "lesion": 150} and a.task == "binary-class"
    x, y = a.arrays()
    assert x.shape == (300, 1, 28, 28) and y.dtype == np.int64
    with_transform = data.SyntheticLesions(
        "train", n=300, seed=3, transform=data.Standardize(0.5, 0.5), target_transform=lambda label: 1 - label
    )
    image, label = with_transform[7]
    np.testing.assert_allclose(image, (x[7] - 0.5) / 0.5, atol=1e-6)
    assert label == 1 - y[7]
    np.testing.assert_array_equal(with_transform.arrays()[0], x)  # arrays() never augments
    # A lesion is a bright disc: the brightest pixel is brighter with one, on average.
    peak = a.images.reshape(300, -1).max(axis=1)
    assert peak[a.labels == 1].mean() > peak[a.labels == 0].mean() + 20


def test_synthetic_is_fast():
    start = time.perf_counter()
    data.SyntheticLesions("train", n=3000)
    assert time.perf_counter() - start < 0.5


def test_load_dataset_real_synthetic_and_fallback(real_dir, monkeypatch):
    real = data.load_dataset("pneumoniamnist", "test")
    assert real.source.startswith("TINYDL_DATA_DIR") and "pneumoniamnist" in data.describe_source(real)
    assert data.load_dataset("synthetic", "val").source == "synthetic"
    monkeypatch.delenv("TINYDL_DATA_DIR")
    with pytest.raises(data.DataFileNotFoundError):
        data.load_dataset("pneumoniamnist", "test")
    with pytest.warns(data.SyntheticFallbackWarning, match="SYNTHETIC"):
        fallback = data.load_dataset("pneumoniamnist", "test", fallback_synthetic=True)
    assert fallback.source == "synthetic" and "pneumoniamnist.npz not found in" in fallback.fallback_reason
    assert "SYNTHETIC" in data.describe_source(fallback) and "not found" in data.describe_source(fallback)


# --- DataLoader -----------------------------------------------------------------------------------


@given(n=st.integers(1, 70), batch_size=st.integers(1, 20), drop_last=st.booleans())
def test_loader_batch_count_and_every_sample_once(n, batch_size, drop_last):
    x = np.arange(n, dtype=np.float32).reshape(n, 1, 1, 1)
    loader = data.DataLoader((x, np.arange(n)), batch_size=batch_size, shuffle=True, seed=0, drop_last=drop_last)
    batches = list(loader)
    assert len(batches) == len(loader) == (n // batch_size if drop_last else -(-n // batch_size))
    seen = np.concatenate([yb for _, yb in batches]) if batches else np.array([], int)
    if drop_last:
        assert len(seen) == len(loader) * batch_size and len(set(seen.tolist())) == len(seen)
    else:
        assert sorted(seen.tolist()) == list(range(n))
    for xb, yb in batches:
        np.testing.assert_array_equal(xb[:, 0, 0, 0], yb)  # x and y stay paired


def test_loader_shuffle_is_reproducible_and_new_each_epoch():
    y = np.arange(50)
    x = np.zeros((50, 1, 2, 2), np.float32)

    def epochs(seed):
        loader = data.DataLoader((x, y), batch_size=8, shuffle=True, seed=seed)
        return [np.concatenate([yb for _, yb in loader]) for _ in range(3)]

    first, again = epochs(7), epochs(7)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], first[1])
    assert not np.array_equal(first[0], epochs(8)[0])
    in_order = data.DataLoader((x, y), batch_size=8)
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in in_order]), y)


def test_loader_from_dataset_with_transform():
    ds = data.SyntheticLesions("val", n=40)
    loader = data.DataLoader(ds, batch_size=16, transform=data.Standardize(0.5, 0.25))
    xb, yb = next(iter(loader))
    assert xb.shape == (16, 1, 28, 28) and xb.dtype == np.float32 and yb.dtype == np.int64
    np.testing.assert_allclose(xb, (ds.arrays()[0][:16] - 0.5) / 0.25, rtol=1e-5, atol=1e-6)
    assert len(loader) == 3
    with pytest.raises(ValueError, match="40 samples but y has 39"):
        data.DataLoader((np.zeros((40, 1)), np.zeros(39)))
    with pytest.raises(TypeError, match="arrays"):
        data.DataLoader(np.zeros((4, 1)))
    with pytest.raises(ValueError, match="batch_size"):
        data.DataLoader(ds, batch_size=0)


# --- transforms -----------------------------------------------------------------------------------


def _batch(n=6, c=1, h=28, w=28, seed=0):
    return np.random.default_rng(seed).random((n, c, h, w), dtype=np.float32)


@pytest.mark.parametrize(
    "make",
    [
        lambda s: data.RandomRotation(15, seed=s),
        lambda s: data.RandomShift(3, seed=s),
        lambda s: data.GaussianNoise(0.1, seed=s),
        lambda s: data.RandomFlip(horizontal=True, seed=s),
        lambda s: data.default_augmentation(flip=True, seed=s),
    ],
)
def test_random_transforms_keep_shape_and_are_seeded(make):
    x = _batch(c=3)
    before = x.copy()
    out = make(0)(x)
    assert out.shape == x.shape and out.dtype == np.float32
    np.testing.assert_array_equal(x, before)  # input untouched
    np.testing.assert_array_equal(out, make(0)(x))
    assert not np.array_equal(out, make(1)(x))
    t = make(0)
    assert not np.array_equal(t(x), t(x))  # a new draw each call (each epoch)
    assert make(0)(x[0]).shape == x[0].shape  # one image (C, H, W) works too


def test_flip_is_off_by_default():
    x = _batch()
    np.testing.assert_array_equal(data.RandomFlip(seed=0)(x), x)
    assert not any(isinstance(t, data.RandomFlip) for t in data.default_augmentation().transforms)
    assert any(isinstance(t, data.RandomFlip) for t in data.default_augmentation(flip=True).transforms)
    np.testing.assert_array_equal(data.RandomFlip(horizontal=True, p=1.0)(x), x[..., ::-1])


def test_rotation_by_zero_is_identity_and_by_90_is_rot90():
    x = _batch(c=2)
    np.testing.assert_array_equal(data.rotate(x, 0.0), x)
    np.testing.assert_allclose(data.rotate(x, 90.0), np.rot90(x, k=1, axes=(2, 3)), atol=1e-5)
    np.testing.assert_allclose(data.rotate(x, -90.0), np.rot90(x, k=-1, axes=(2, 3)), atol=1e-5)
    np.testing.assert_allclose(data.RandomRotation(0.0, seed=0)(x), x)


@given(angle=st.floats(-30, 30))
def test_rotation_keeps_the_centre_and_fills_outside(angle):
    x = np.zeros((1, 1, 29, 29), np.float32)
    x[0, 0, 14, 14] = 1.0  # the centre pixel does not move
    out = data.rotate(x, angle)
    assert out[0, 0, 14, 14] == pytest.approx(1.0, abs=1e-5)
    corners = data.rotate(np.ones((1, 1, 29, 29), np.float32), 45.0, fill=0.0)[0, 0]
    assert corners[0, 0] == 0.0 and corners[14, 14] == 1.0


def test_shift_moves_content_by_whole_pixels():
    x = np.zeros((1, 1, 8, 8), np.float32)
    x[0, 0, 3, 3] = 1.0
    t = data.RandomShift(2, seed=0)
    dy, dx = np.random.default_rng(0).integers(-2, 3, size=(2, 1))
    out = t(x)
    assert out.sum() == 1.0 and out[0, 0, 3 + dy[0], 3 + dx[0]] == 1.0


def test_noise_has_the_requested_spread():
    x = np.zeros((50, 1, 28, 28), np.float32)
    assert data.GaussianNoise(0.1, seed=0)(x).std() == pytest.approx(0.1, rel=0.05)
    clipped = data.GaussianNoise(0.5, clip=(0.0, 1.0), seed=0)(x)
    assert clipped.min() >= 0.0 and clipped.max() <= 1.0


def test_standardize_from_training_statistics(real_dir):
    x_train, _ = data.MedMNIST("breastmnist", "train").arrays()
    standardize = data.Standardize.fit(x_train)
    z = standardize(x_train)
    assert abs(z.mean()) < 1e-4 and z.std() == pytest.approx(1.0, rel=1e-3)
    x_test, _ = data.MedMNIST("breastmnist", "test").arrays()
    assert abs(standardize(x_test).mean()) < 0.2  # same statistics reused, close but not exact


def test_standardize_per_channel_rescale_and_compose():
    x = _batch(n=20, c=3) * np.array([1, 2, 3], np.float32).reshape(1, 3, 1, 1)
    mean, std = data.channel_mean_std(x)
    assert mean.shape == std.shape == (3,)
    z = data.Standardize(mean, std)(x)
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=(0, 2, 3)), 1, rtol=1e-4)
    with pytest.raises(ValueError, match="3 channel"):
        data.Standardize([0, 0], [1, 1])(x)
    with pytest.raises(ValueError, match="positive"):
        data.Standardize(0, 0)
    raw = np.full((2, 1, 4, 4), 255, np.uint8)
    np.testing.assert_array_equal(data.Rescale()(raw), np.ones((2, 1, 4, 4), np.float32))
    both = data.Compose([data.Rescale(), data.Standardize(0.5, 0.5)])
    np.testing.assert_allclose(both(raw), 1.0)


# --- light import ---------------------------------------------------------------------------------


def test_import_tinydl_data_is_light():
    code = (
        "import sys, tinydl.data; "
        "print(','.join(m for m in ('matplotlib', 'numba', 'torch', 'PIL', 'urllib.request') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_brightness_contrast_changes_exposure_per_image_reproducibly():
    from tinydl.data import RandomBrightnessContrast

    rng = np.random.default_rng(0)
    x = rng.uniform(0.3, 0.7, size=(8, 1, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(RandomBrightnessContrast(0.0, 0.0, seed=0)(x), x, atol=1e-6)  # no change asked
    a, b = RandomBrightnessContrast(0.1, 0.2, seed=3)(x), RandomBrightnessContrast(0.1, 0.2, seed=3)(x)
    np.testing.assert_array_equal(a, b)
    # x' − mean(x') = c·(x − mean(x)) with one c per image in [0.8, 1.2]; the means move by at most 0.1
    da = (a - a.mean(axis=(1, 2, 3), keepdims=True)).reshape(8, -1)
    dx = (x - x.mean(axis=(1, 2, 3), keepdims=True)).reshape(8, -1)
    c = (da * dx).sum(axis=1) / (dx * dx).sum(axis=1)  # least-squares c per image
    np.testing.assert_allclose(da, c[:, None] * dx, atol=1e-5)
    assert np.all((c >= 0.8 - 1e-6) & (c <= 1.2 + 1e-6)) and np.ptp(c) > 0
    assert np.all(np.abs(a.mean(axis=(1, 2, 3)) - x.mean(axis=(1, 2, 3))) <= 0.1 + 1e-6)
    with pytest.raises(ValueError, match="contrast"):
        RandomBrightnessContrast(0.1, 1.5)


# ---------------------------------------------------------------------------- what a .npy file really is (issue 15)
def test_npy_images_that_are_not_npy_or_hold_objects_are_named_without_numpys_advice(tmp_path):
    (tmp_path / "page.npy").write_text("<html><body>Not found</body></html>")
    with pytest.raises(data.DataFileError, match=r"page\.npy is not a NumPy \.npy file.*web page") as err:
        data.load_image(tmp_path / "page.npy")
    assert "pickle" not in str(err.value)
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(data.DataFileError, match=r"objects\.npy holds Python objects.*refuses") as err:
        data.load_image(tmp_path / "objects.npy")
    assert "allow_pickle" not in str(err.value)


def test_numpy_file_problem_says_what_a_file_is(tmp_path):
    (tmp_path / "a.npz").write_bytes(b"")
    assert data.numpy_file_problem(tmp_path / "a.npz", "npz").startswith("is empty (0 bytes)")
    (tmp_path / "b.npz").write_bytes(b"\x89PNG\r\n\x1a\n....")
    assert "a PNG image" in data.numpy_file_problem(tmp_path / "b.npz", "npz")
    np.save(tmp_path / "c.npy", np.zeros(2))
    assert data.numpy_file_problem(tmp_path / "c.npy", "npy") is None
    np.savez(tmp_path / "d.npz", a=np.zeros(2))
    assert data.numpy_file_problem(tmp_path / "d.npz", "npz") is None
    assert "is a NumPy .npz file" in data.numpy_file_problem(tmp_path / "d.npz", "npy")


# ---------------------------------------------------------------------------- degenerate, high-depth and huge images (issue 15)
def test_empty_and_one_pixel_images_are_refused_naming_the_file(tmp_path):
    from PIL import Image

    np.save(tmp_path / "empty.npy", np.zeros((0, 0), np.uint8))
    with pytest.raises(data.DataFileError, match=r"empty\.npy is 0×0 pixels .*at least 2×2"):
        data.load_image(tmp_path / "empty.npy")
    Image.new("L", (1, 1), 40).save(tmp_path / "dot.png")
    with pytest.raises(data.DataFileError, match=r"dot\.png is 1×1 pixels"):
        data.load_image(tmp_path / "dot.png")
    (tmp_path / "a").mkdir()
    Image.new("L", (1, 5), 40).save(tmp_path / "a" / "strip.png")
    with pytest.raises(data.DataFileError, match=r"strip\.png is 5×1 pixels"):
        data.ImageFolder(tmp_path / "a" / "..", size=(8, 8))
    with pytest.warns(UserWarning, match=r"blank\.png: every pixel is 0"):  # blank: accepted, but said
        Image.new("L", (8, 8), 0).save(tmp_path / "blank.png")
        data.load_image(tmp_path / "blank.png")


def _ramp(peak):
    """A 16-bit 28×28 grey ramp from 0 to ``peak``."""
    return np.linspace(0, peak, 28 * 28).reshape(28, 28).round().astype(np.uint16)


def test_twelve_bit_pngs_are_scaled_by_4095_not_257(tmp_path):
    from PIL import Image

    Image.fromarray(_ramp(4095)).save(tmp_path / "ct12.png")
    image, info = data.load_image(tmp_path / "ct12.png", size=None, return_info=True)
    assert info == {"bit_depth": 12, "scaling": "12-bit: × 255/4095"}
    assert image.max() == 1.0 and abs(image.mean() - 0.5) < 0.01  # was ≤ 4095/257/255 = 0.06: nearly black
    Image.fromarray(_ramp(60000)).save(tmp_path / "x16.png")
    image, info = data.load_image(tmp_path / "x16.png", size=None, return_info=True)
    assert info["bit_depth"] == 16 and abs(image.max() - 60000 / 65535) < 1 / 255
    forced = data.load_image(tmp_path / "ct12.png", size=None, bit_depth=16)  # e.g. the training run's depth
    assert abs(forced.max() - 4095 / 65535) < 1 / 255
    with pytest.raises(ValueError, match="bit_depth must be None or one of"):
        data.load_image(tmp_path / "ct12.png", bit_depth=10)


def test_an_image_folder_scales_all_its_sixteen_bit_files_alike_and_says_how(tmp_path):
    from PIL import Image

    (tmp_path / "a").mkdir()
    Image.fromarray(_ramp(50000)).save(tmp_path / "a" / "bright.png")
    Image.fromarray(_ramp(3000)).save(tmp_path / "a" / "dark.png")  # alone it would look 12-bit
    ds = data.ImageFolder(tmp_path, size=None)
    assert (ds.bit_depth, ds.scaling) == (16, "16-bit: × 255/65535")
    dark = ds.images[ds.paths.index(tmp_path / "a" / "dark.png")]
    assert int(dark.max()) == round(3000 * 255 / 65535)
    (tmp_path / "a" / "bright.png").unlink()
    assert data.ImageFolder(tmp_path, size=None).bit_depth == 12


def test_a_decompression_bomb_is_a_data_file_error_naming_file_and_limit(tmp_path, monkeypatch):
    import warnings

    from PIL import Image

    (tmp_path / "a").mkdir()
    Image.new("L", (200, 200), 7).save(tmp_path / "a" / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 40 000 pixels > 2 × 100: Pillow's error
    for read in (lambda: data.load_image(tmp_path / "a" / "bomb.png"), lambda: data.ImageFolder(tmp_path)):
        with pytest.raises(data.DataFileError, match=r"bomb\.png is too large.*limit .* is 100 pixels"):
            read()
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 30000)  # between 1× and 2× the limit: Pillow only warns
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with pytest.raises(data.DataFileError, match=r"bomb\.png is too large.*is 30000 pixels"):
            data.load_image(tmp_path / "a" / "bomb.png")


def test_load_images_reads_a_batch_and_says_each_files_bit_depth(tmp_path):
    from PIL import Image

    Image.fromarray(_ramp(4000)).save(tmp_path / "ct.png")
    Image.fromarray(np.arange(28 * 28, dtype=np.uint8).reshape(28, 28)).save(tmp_path / "photo.png")
    x, depths = data.load_images([tmp_path / "ct.png", tmp_path / "photo.png"], channels=1, size=(28, 28))
    assert x.shape == (2, 1, 28, 28) and x.dtype == np.float32 and depths == [12, 8]
    with pytest.raises(ValueError, match="no image files"):
        data.load_images([])
