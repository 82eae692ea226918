"""MedMNIST: real medical images, 28×28, in one small NumPy file per data set.

MedMNIST v3.0 (Zenodo record 10519652) publishes each 2-D data set as
``<name>.npz`` with six arrays: ``train_images``, ``train_labels``,
``val_images``, ``val_labels``, ``test_images``, ``test_labels``. Images are
``uint8`` (N, 28, 28) for grey or (N, 28, 28, 3) for colour; labels are
``uint8`` (N, 1), or (N, 14) for ChestMNIST (one 0/1 column per finding).

    from tinydl import data
    train = data.MedMNIST("pneumoniamnist", "train")     # finds the file (see below)
    x, y = train.arrays()                                 # float32 (4708, 1, 28, 28), int64 (4708,)

Where the file is looked for, in order: the ``root`` argument, the folder in
the environment variable ``TINYDL_DATA_DIR``, then the user cache
(``$TINYDL_CACHE_DIR/medmnist``, else ``$XDG_CACHE_HOME/tinydl/medmnist``,
else ``~/.cache/tinydl/medmnist``). With ``download=True`` a missing file is
fetched from Zenodo into ``root`` (or the cache) and checked against its MD5.

Safety: files are read with ``np.load(path)`` and pickles stay disabled —
a pickled array in a downloaded file could run arbitrary code when loaded.
"""

import hashlib
import os
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .base import ChecksumError, DataFileError, DataFileNotFoundError, DownloadError, ImageDataset
from .catalog import IMAGE_SIZE, MEDMNIST, SPLITS, SYNTHETIC_INFO, check_split, get_info
from .checks import numpy_file_problem, pickle_refusal

# --- where files live --------------------------------------------------------------------------


def cache_dir():
    """The user cache folder for MedMNIST files (created only when something is downloaded there).

    ``$TINYDL_CACHE_DIR/medmnist`` if that variable is set, else
    ``$XDG_CACHE_HOME/tinydl/medmnist``, else ``~/.cache/tinydl/medmnist``.
    """
    override = os.environ.get("TINYDL_CACHE_DIR")
    if override:
        return Path(override).expanduser() / "medmnist"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "tinydl" / "medmnist"


def search_dirs(root=None):
    """[(label, folder or None)] in the order files are looked for: root, TINYDL_DATA_DIR, cache."""
    env = os.environ.get("TINYDL_DATA_DIR")
    return [
        ("root argument", Path(root).expanduser() if root is not None else None),
        ("TINYDL_DATA_DIR", Path(env).expanduser() if env else None),
        ("cache", cache_dir()),
    ]


def find_file(file_name, root=None):
    """(path, source) of the first ``file_name`` found in ``search_dirs(root)``, or (None, None)."""
    for label, folder in search_dirs(root):
        if folder is not None and (folder / file_name).is_file():
            return folder / file_name, f"{label} ({folder})"
    return None, None


# What a message tells its reader to do, in the words of the place they read it: Python calls
# (``download=True``) or the command line (``--no-download``), which has no such arguments.
HINTS = {
    "python": {
        "download": "pass download=True",
        "again": "load it again with download=True",
        "skip_md5": "check_md5=False loads it anyway",
        "missing": "load it with download=True",
    },
    "cli": {
        "download": "run the command without --no-download (tinydl then downloads it)",
        "again": "run the command again without --no-download (tinydl then downloads it)",
        "skip_md5": "the command line always checks the MD5",
        "missing": "`tinydl train --data NAME` downloads it (unless --no-download is given)",
    },
}


def hint(hints, key):
    """The advice ``key`` of HINTS in the words of ``hints`` ("python" or "cli")."""
    if hints not in HINTS:
        raise ValueError(f"hints must be one of {sorted(HINTS)}, got {hints!r}")
    return HINTS[hints][key]


def _not_found_error(info, root, hints="python"):
    lines, searched = [f"MedMNIST file {info.file_name} not found. Looked in:"], []
    for i, (label, folder) in enumerate(search_dirs(root), 1):
        if folder is None:
            lines.append(f"  {i}. {label}: (not set)")
        else:
            searched.append(folder / info.file_name)
            lines.append(f"  {i}. {label}: {folder / info.file_name}")
    target = Path(root) if root is not None else cache_dir()
    lines += [
        "To get it, either:",
        f"  - {hint(hints, 'download')} (saves it to {target}, checked against its MD5), or",
        f"  - download {info.url} (MD5 {info.md5}) yourself and put it in one of the folders above, or",
        "  - set TINYDL_DATA_DIR to the folder that already holds it.",
    ]
    return DataFileNotFoundError("\n".join(lines), searched)


# --- MD5 ---------------------------------------------------------------------------------------


def md5(path, chunk_size=1 << 20):
    """MD5 of a file as 32 hex digits, read in 1 MiB chunks (a 40 MB file takes about 0.1 s)."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


# Files already checked in this process, keyed by (path, size, modification time): loading the
# train, val and test splits of one file hashes it once. A changed file gets a new key.
_VERIFIED = {}


def _file_key(path):
    st = os.stat(path)
    return (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


def verify_md5(path, expected, hint=""):
    """Raise ChecksumError unless the MD5 of ``path`` is ``expected``; returns the MD5."""
    key = _file_key(path)
    actual = _VERIFIED.get(key) or md5(path)
    if actual != expected:
        raise ChecksumError(path, expected, actual, hint)
    _VERIFIED[key] = actual
    return actual


# --- download ----------------------------------------------------------------------------------


def _open_url(url, timeout):
    # Imported here: urllib.request is only needed by the few who download. Tests replace this
    # function to download without a network. (Keep urllib's own User-Agent: Zenodo refuses
    # scripts that pretend to be browsers.)
    import urllib.request

    return urllib.request.urlopen(url, timeout=timeout)


def download_file(url, dest, expected_md5, timeout=60.0, quiet=False, chunk_size=1 << 20):
    """Download ``url`` to ``dest`` safely; return ``dest``.

    The bytes go to a temporary file beside ``dest`` while their MD5 is computed;
    only when the size and MD5 are right is the file renamed to ``dest`` with
    ``os.replace``, which is atomic. A wrong MD5, a cut connection or Ctrl-C
    deletes the temporary file: ``dest`` is either complete and verified or absent.
    """
    if not expected_md5:
        raise ValueError(f"refusing to download {url} without an MD5 to check it against")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    if not quiet:
        print(f"Downloading {url}\n         to {dest} ...", flush=True)
    try:
        digest, n_bytes = hashlib.md5(), 0
        with os.fdopen(fd, "wb") as out, _open_url(url, timeout) as response:
            headers = getattr(response, "headers", None)
            length = headers.get("Content-Length") if headers is not None else None
            expected_size = int(length) if length else None
            for chunk in iter(lambda: response.read(chunk_size), b""):
                out.write(chunk)
                digest.update(chunk)
                n_bytes += len(chunk)
        if expected_size is not None and n_bytes != expected_size:
            raise DownloadError(f"download of {url} was interrupted: got {n_bytes} of {expected_size} bytes")
        actual = digest.hexdigest()
        if actual != expected_md5:
            raise ChecksumError(
                url,
                expected_md5,
                actual,
                "The downloaded file was deleted. Try again later; if it persists, the file on the server has changed.",
            )
        os.replace(tmp, dest)
    except BaseException as exc:  # BaseException: Ctrl-C must not leave a half-written file either
        tmp.unlink(missing_ok=True)
        if isinstance(exc, (DownloadError, ChecksumError)) or not isinstance(exc, Exception):
            raise
        raise DownloadError(f"downloading {url} failed ({type(exc).__name__}: {exc}); no file was saved") from exc
    _VERIFIED[_file_key(dest)] = actual
    if not quiet:
        print(f"Saved {dest} ({n_bytes / 1e6:.1f} MB, MD5 ok).", flush=True)
    return dest


def download(name, root=None, quiet=False):
    """Download one MedMNIST file into ``root`` (default: the cache folder); return its path."""
    info = get_info(name)
    folder = Path(root).expanduser() if root is not None else cache_dir()
    return download_file(info.url, folder / info.file_name, info.md5, quiet=quiet)


# --- reading and checking a file ---------------------------------------------------------------

_UNREADABLE = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError)


def _unreadable(path, info, exc, hints="python"):
    if isinstance(exc, ValueError) and "pickle" in str(exc):
        return DataFileError(
            f"{pickle_refusal(path)} Official MedMNIST files hold plain uint8 arrays; get the real file from {info.url}."
        )
    return DataFileError(
        f"cannot read {path} as a .npz archive ({type(exc).__name__}: {exc}). It may be truncated "
        f"(an interrupted download) or not a MedMNIST file: delete it and {hint(hints, 'again')}, "
        f"or get it from {info.url} (MD5 {info.md5})."
    )


def read_split(path, info, split, hints="python"):
    """(images uint8, labels int64) of one split of a MedMNIST file, checked; DataFileError if wrong
    (its advice worded for ``hints``: "python" or "cli")."""
    image_key, label_key = f"{split}_images", f"{split}_labels"
    problem = numpy_file_problem(path, "npz")  # an HTML error page saved as .npz, an empty file, …
    if problem:
        raise DataFileError(f"{path} {problem}; get the real file from {info.url} (MD5 {info.md5})")
    try:
        archive = np.load(path)  # allow_pickle stays False: never unpickle data from a file
        if not hasattr(archive, "files"):
            raise DataFileError(f"{path} is a single .npy array, not a .npz archive with {image_key} and {label_key}")
        with archive:
            for key in (image_key, label_key):
                if key not in archive.files:
                    raise DataFileError(f"{path} has no array {key!r}; it holds {sorted(archive.files)}")
            images, labels = archive[image_key], archive[label_key]
    except DataFileError:
        raise
    except _UNREADABLE as exc:
        raise _unreadable(path, info, exc, hints) from exc
    return _check_images(images, info, path, image_key), _check_labels(labels, images, info, path, label_key)


def _check_images(images, info, path, key):
    expected = (IMAGE_SIZE, IMAGE_SIZE) + ((3,) if info.n_channels == 3 else ())
    if images.dtype != np.uint8 or images.ndim != len(expected) + 1 or images.shape[1:] != expected:
        raise DataFileError(
            f"{path}: {key} should be uint8 of shape (N, {', '.join(map(str, expected))}) "
            f"for {info.title}, got {images.dtype} {images.shape}"
        )
    return images


def _check_labels(labels, images, info, path, key):
    n = len(images)
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataFileError(f"{path}: {key} should hold integers, got dtype {labels.dtype}")
    if info.multi_label:
        ok_shape = labels.shape == (n, info.n_classes)
        want = f"({n}, {info.n_classes})"
    else:
        ok_shape = labels.shape in ((n,), (n, 1))
        want = f"({n},) or ({n}, 1)"
    if not ok_shape:
        raise DataFileError(f"{path}: {key} has shape {labels.shape}, expected {want} to match {n} images")
    labels = labels.astype(np.int64).reshape(n, -1) if info.multi_label else labels.astype(np.int64).reshape(n)
    high = 1 if info.multi_label else info.n_classes - 1
    if n and (labels.min() < 0 or labels.max() > high):
        raise DataFileError(
            f"{path}: {key} has values from {labels.min()} to {labels.max()}, but "
            f"{info.title} labels must be between 0 and {high}"
        )
    return labels


# --- the data set -------------------------------------------------------------------------------


class MedMNIST(ImageDataset):
    """One split of a 2-D MedMNIST data set, held in memory.

    Parameters: ``name`` (see ``MEDMNIST``), ``split`` ("train", "val" or "test"),
    ``root`` (a folder to look in first, and to download into), ``download``
    (fetch the file if it is found nowhere), ``transform`` / ``target_transform``
    (applied by ``ds[i]``), ``check_md5`` (compare the file with the published
    MD5; on by default — it costs ~0.1 s per file, once per process, and catches
    damaged or different-version files before they quietly skew results), ``hints``
    ("python", or "cli" when the messages are for `tinydl` users: they name flags, not arguments).

    Attributes: ``images`` (uint8 as stored), ``labels`` (int64, (N,) or (N, 14)
    for ChestMNIST), ``info`` (the table row), ``classes``, ``task``,
    ``n_channels``, ``path`` (the file used), ``source`` (where it was found),
    ``md5`` (of the file used).
    """

    def __init__(
        self,
        name,
        split="train",
        root=None,
        download=False,
        transform=None,
        target_transform=None,
        check_md5=True,
        hints="python",
    ):
        self.info = get_info(name)
        self.name, self.split = self.info.name, check_split(split)
        self.task = self.info.task
        path, source = find_file(self.info.file_name, root)
        if path is None:
            if not download:
                raise _not_found_error(self.info, root, hints)
            folder = Path(root).expanduser() if root is not None else cache_dir()
            path = download_file(self.info.url, folder / self.info.file_name, self.info.md5)
            source = f"download ({self.info.url})"
        self.path, self.source = Path(path), source
        self._md5 = None
        if check_md5:
            self._md5 = verify_md5(
                self.path,
                self.info.md5,
                f"The file is damaged or not the MedMNIST v3.0 {self.info.file_name}. Delete it and "
                f"{hint(hints, 'again')} (or get {self.info.url}); {hint(hints, 'skip_md5')}.",
            )
        images, labels = read_split(self.path, self.info, self.split, hints)
        super().__init__(images, labels, self.info.classes, transform, target_transform)

    @property
    def md5(self):
        """MD5 of the file used (computed on first access when check_md5=False)."""
        if self._md5 is None:
            self._md5 = md5(self.path)
        return self._md5

    @property
    def n_channels(self):
        return self.info.n_channels


# --- what is available -------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetStatus:
    """One line of ``available()``: a known data set and whether a local file was found."""

    name: str
    title: str
    task: str
    n_classes: int
    n_channels: int
    n_samples: dict
    found: bool
    path: object  # Path of the file found, or None
    source: str  # where it was found ("TINYDL_DATA_DIR (/data)"), "built-in", or "missing"


def available(root=None):
    """Every known data set, each with whether and where a local file was found (no MD5 check)."""
    rows = []
    for info in MEDMNIST.values():
        path, source = find_file(info.file_name, root)
        rows.append(
            DatasetStatus(
                info.name,
                info.title,
                info.task,
                info.n_classes,
                info.n_channels,
                dict(info.n_samples),
                path is not None,
                path,
                source or "missing",
            )
        )
    # the built-in fallback, always there
    rows.append(
        DatasetStatus(
            SYNTHETIC_INFO.name,
            SYNTHETIC_INFO.title,
            SYNTHETIC_INFO.task,
            SYNTHETIC_INFO.n_classes,
            SYNTHETIC_INFO.n_channels,
            dict(SYNTHETIC_INFO.n_samples),
            True,
            None,
            "built-in (generated)",
        )
    )
    return rows


def datasets_table(root=None, hints="python"):
    """``available()`` as a text table for printing (``tinydl datasets``)."""
    rows = available(root)
    header = ("name", "task", "classes", "ch", "train/val/test", "local file")
    lines = []
    for row in rows:
        sizes = "/".join(str(row.n_samples[s]) for s in SPLITS)
        where = f"{row.path}  [{row.source.split(' (')[0]}]" if row.path else row.source
        lines.append((row.name, row.task, str(row.n_classes), str(row.n_channels), sizes, where))
    widths = [max(len(r[i]) for r in [header] + lines) for i in range(len(header) - 1)]

    def fmt(r):
        return "  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1]

    text = "\n".join([fmt(header), fmt(tuple("-" * len(h) for h in header))] + [fmt(r) for r in lines])
    if not all(row.found for row in rows):
        places = "; ".join(
            f"{label}: {folder if folder is not None else '(not set)'}" for label, folder in search_dirs(root)
        )
        text += (
            "\n\nSearched, in order: " + places + f".\nA missing file: {hint(hints, 'missing')}, "
            "or set TINYDL_DATA_DIR to a folder that holds it."
        )
    return text
