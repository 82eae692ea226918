"""Save a trained model to one ``.npz`` file and load it back: ``save(model, path, **metadata)`` / ``load(path)``.

What the file holds::

    model.npz                    a zip archive of .npy arrays (NumPy's own format)
      features.0.weight.npy      one array per state_dict() entry: weights and
      features.0.bias.npy        buffers (e.g. BatchNorm's running statistics)
      ...
      __metadata__.npy           the metadata as UTF-8 JSON bytes, stored as uint8

    metadata (JSON):  {"format_version": 1, "architecture": "convnet",
                       "config": {...constructor arguments...}, "tinydl_version": "0.1.0",
                       "created": "2025-01-01T12:00:00+00:00", ...whatever the caller passed:
                       class_names, mean, std, dataset, dataset_md5, metrics, seed...}

Why this format:

* **No pickle.** A pickled model file can run arbitrary code when loaded.
  Here every entry is a plain numeric array, so ``np.load(path)`` — whose
  ``allow_pickle`` is False by default — reads it safely, and so can any
  other program that reads .npz files.
* **One self-describing file.** The metadata travels inside the archive, so
  the weights never get separated from the architecture and settings needed
  to use them. ``write_json=True`` also writes it beside the file as
  ``metadata.json``, for people and tools that want to read it without NumPy.
* **Atomic writes.** The file is written to a temporary file in the same
  folder, flushed to disk, then renamed over the target with ``os.replace``
  (atomic on POSIX and Windows). A crash midway leaves the previous file as
  it was, never a half-written one.

Architectures come from the model zoo (:mod:`tinydl.models`): ``load``
rebuilds the model with ``tinydl.models.create(architecture, **config)``.
A model outside the zoo can be saved with ``architecture=None`` (weights and
metadata only) and read back into a model you build with :func:`load_weights`.
"""

import datetime
import json
import pathlib
import zipfile

import numpy as np

from ._version import __version__
from .data.checks import numpy_file_problem, pickle_refusal
from .files import write_atomically

FORMAT_VERSION = 1  # bump when the layout changes; load() refuses files from a newer version
METADATA_KEY = "__metadata__"
# Keys that save() fills in itself; a caller's metadata may not override them.
RESERVED_KEYS = ("format_version", "architecture", "config", "tinydl_version", "created")

__all__ = ["ModelFileError", "save", "load", "load_weights", "load_metadata", "FORMAT_VERSION"]


class ModelFileError(ValueError):
    """A model file that cannot be loaded: missing, corrupt, or not matching the model. The message names the file."""


# ====================================================================== saving
def save(model, path, *, architecture="auto", write_json=False, **metadata):
    """Write ``model``'s weights and buffers, with metadata, to the ``.npz`` file ``path``; returns the path.

    ``architecture`` is the model's name in ``tinydl.models.MODELS``, found
    from its class when "auto"; pass None to save a model that is not in the
    zoo (weights only: load it with :func:`load_weights`). Keyword
    ``metadata`` (class_names, mean, std, dataset, dataset_md5, metrics,
    seed, ...) must be JSON-serialisable; NumPy numbers and arrays are
    converted to Python ones. ``write_json=True`` also writes the metadata to
    ``metadata.json`` in the same folder (or give a path instead of True).
    Parent folders are created.
    """
    path = pathlib.Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"save(): the model file must end in .npz, got {str(path)!r}")
    for key in RESERVED_KEYS:
        if key in metadata:
            raise ValueError(f"save(): metadata key {key!r} is filled in by save() itself; choose another name")

    name, config = _architecture_of(model, architecture)
    header = {
        "format_version": FORMAT_VERSION,
        "architecture": name,
        "config": config,
        "tinydl_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    for key, value in metadata.items():
        header[key] = _json_ready(key, value)
    metadata_json = json.dumps(header, indent=2, allow_nan=False)

    arrays = _state_arrays(model)
    arrays[METADATA_KEY] = np.frombuffer(metadata_json.encode("utf-8"), dtype=np.uint8)

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda f: np.savez(f, **arrays))
    if write_json:
        json_path = path.parent / "metadata.json" if write_json is True else pathlib.Path(write_json)
        write_atomically(json_path, lambda f: f.write((metadata_json + "\n").encode("utf-8")))
    return path


def _architecture_of(model, architecture):
    """(zoo name, constructor config) for ``model``; (None, None) for a weights-only save."""
    from .models import MODELS

    if architecture is None:
        return None, None
    if architecture == "auto":
        matches = [name for name, cls in MODELS.items() if cls is type(model)]
        if not matches:
            raise ValueError(
                f"save(): {type(model).__name__} is not in the model zoo (tinydl.models.MODELS: {sorted(MODELS)}), "
                f"so load() could not rebuild it. Pass architecture=None to save the weights and metadata only, "
                f"then build the model yourself and call tinydl.serialization.load_weights(path, model)"
            )
        architecture = matches[0]
    elif MODELS.get(architecture) is not type(model):
        raise ValueError(
            f"save(): architecture={architecture!r} does not match the model's class {type(model).__name__} "
            f"(known architectures: {sorted(MODELS)})"
        )
    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        raise ValueError(f"save(): {type(model).__name__} has no .config dict of its constructor arguments")
    return architecture, _json_ready("config", dict(config))


def _json_ready(key, value):
    """``value`` as plain JSON data (NumPy scalars and arrays converted); a clear error naming ``key`` if impossible."""

    def numpy_to_python(obj):
        if isinstance(obj, (np.ndarray, np.generic)):
            return obj.tolist()
        raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")

    try:
        # A round trip through text gives exactly what load() will see (tuples become lists, and so on).
        return json.loads(json.dumps(value, default=numpy_to_python, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise ValueError(
            f"save(): metadata {key!r} cannot be stored as JSON ({e}); "
            f"use str, int, float (not NaN/inf: use None), bool, None, lists and dicts with string keys"
        ) from e


def _state_arrays(model):
    """``model.state_dict()`` with every value checked to be a plain numeric array (so that no pickle is needed)."""
    arrays = {}
    for key, value in model.state_dict().items():
        if key == METADATA_KEY:
            raise ValueError(f"save(): the model has a state entry named {METADATA_KEY!r}, which the format reserves")
        if key in ("file", "allow_pickle"):  # np.savez's own argument names
            raise ValueError(f"save(): a state entry named {key!r} clashes with np.savez's arguments; rename it")
        value = np.asarray(value)
        if value.dtype.kind not in "biufc":
            raise ValueError(f"save(): state entry {key!r} has dtype {value.dtype}; only numeric arrays can be saved")
        arrays[key] = value
    return arrays


# ====================================================================== loading
def load(path):
    """The model saved in ``path``, rebuilt from the zoo, weights loaded, in eval mode.

    Its metadata (a dict) is attached as ``model.metadata``. Raises
    :class:`ModelFileError` naming the file and the problem.
    """
    from . import random
    from .models import MODELS, create

    path = pathlib.Path(path)
    metadata, arrays = _read(path, with_arrays=True)
    architecture = metadata.get("architecture")
    if architecture is None:
        raise ModelFileError(
            f"{path}: holds weights only (saved with architecture=None), so load() cannot rebuild the model; "
            f"build it yourself and call tinydl.serialization.load_weights({str(path)!r}, model)"
        )
    if architecture not in MODELS:
        raise ModelFileError(f"{path}: unknown architecture {architecture!r}; this tinydl knows {sorted(MODELS)}")
    config = metadata.get("config")
    if not isinstance(config, dict):
        raise ModelFileError(f"{path}: metadata 'config' must be a dict of constructor arguments, got {config!r}")

    # Building the model draws random initial weights, which are about to be overwritten;
    # restore the generator so that loading a model does not change what a seeded run draws next.
    generator_state = random.generator().bit_generator.state
    try:
        model = create(architecture, **config)
    except (TypeError, ValueError) as e:
        raise ModelFileError(f"{path}: cannot build {architecture!r} with config {config}: {e}") from e
    finally:
        random.generator().bit_generator.state = generator_state

    saved_float = next((a.dtype for a in arrays.values() if a.dtype.kind == "f"), None)
    if saved_float is not None and saved_float != np.float32:
        model.to(saved_float)  # a model saved after .double() comes back in float64
    _load_state(path, model, arrays, strict=True)
    model.eval()
    model.metadata = metadata
    return model


def load_weights(path, model, strict=True):
    """Copy the weights and buffers saved in ``path`` into ``model`` (built by you); returns ``model``.

    For files saved with ``architecture=None`` or to load zoo weights into a
    model you configured yourself. With ``strict`` (default) every entry must
    match the model's state_dict keys; shapes must always match. The model's
    train/eval mode is left as it is. The file's metadata is attached as ``model.metadata``.
    """
    path = pathlib.Path(path)
    metadata, arrays = _read(path, with_arrays=True)
    _load_state(path, model, arrays, strict=strict)
    model.metadata = metadata
    return model


def load_metadata(path):
    """Only the metadata dict of a model file (the weights are not read)."""
    metadata, _ = _read(pathlib.Path(path), with_arrays=False)
    return metadata


def _load_state(path, model, arrays, strict):
    """Check the saved arrays against ``model``'s state (names, then shapes), then load them."""
    expected = model.state_dict()
    missing = [key for key in expected if key not in arrays]
    unexpected = [key for key in arrays if key not in expected]
    problems = []
    if strict and missing:
        problems.append(f"missing from the file (the model has them): {', '.join(map(repr, missing))}")
    if strict and unexpected:
        problems.append(f"unexpected in the file (the model has no such entry): {', '.join(map(repr, unexpected))}")
    for key, value in arrays.items():
        if key in expected and value.shape != expected[key].shape:
            problems.append(f"shape mismatch for {key!r}: file has {value.shape}, model expects {expected[key].shape}")
    if problems:
        raise ModelFileError(
            f"{path}: weights do not fit {type(model).__name__}; nothing was loaded:\n  " + "\n  ".join(problems)
        )
    model.load_state_dict({key: value for key, value in arrays.items() if key in expected}, strict=strict)


def _read(path, with_arrays):
    """(metadata dict, {name: array}) from the file; every failure becomes a ModelFileError naming the file."""
    if not path.exists():
        raise ModelFileError(f"{path}: no such file")
    if path.is_dir():
        raise ModelFileError(f"{path}: is a folder, not a model file")
    problem = numpy_file_problem(path, "npz")  # e.g. an HTML page saved as model.npz
    if problem:
        raise ModelFileError(f"{path}: {problem}; a model file is the .npz that tinydl.save() writes")
    key = None
    try:
        with np.load(path, allow_pickle=False) as archive:  # an NpzFile: it reads members on demand
            if METADATA_KEY not in archive.files:
                raise ModelFileError(
                    f"{path}: has no {METADATA_KEY!r} entry, so it was not written by tinydl.serialization.save() "
                    f"(entries: {archive.files[:5]}{'...' if len(archive.files) > 5 else ''})"
                )
            key = METADATA_KEY
            raw = archive[key]
            arrays = {}
            for key in archive.files if with_arrays else ():
                if key != METADATA_KEY:
                    arrays[key] = archive[key]
    except ModelFileError:
        raise
    except ValueError as e:
        if "pickle" in str(e):  # an object array: refused (allow_pickle is False), without NumPy's advice
            raise ModelFileError(pickle_refusal(path, key)) from None
        raise _unreadable(path, e) from e
    except (zipfile.BadZipFile, OSError, EOFError, KeyError) as e:
        # A cut-off zip loses its table of contents (BadZipFile) or a member's bytes (EOFError, ValueError).
        raise _unreadable(path, e) from e
    if with_arrays:
        _check_finite(path, arrays)
    else:
        arrays = None
    return _parse_metadata(path, raw), arrays


def _unreadable(path, e):
    return ModelFileError(f"{path}: not a readable .npz model file (truncated or corrupt?): {type(e).__name__}: {e}")


def _check_finite(path, arrays):
    """ModelFileError if any saved array holds NaN or ±inf: such a model predicts nonsense (or one
    class) with confidence. ``Module.load_state_dict`` itself does not check, so code may still do it."""
    for key, value in arrays.items():
        if value.dtype.kind in "fc" and not np.isfinite(value).all():
            bad = ~np.isfinite(value)
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ModelFileError(
                f"{path}: parameter {key!r} holds {int(bad.sum())} non-finite value(s) (NaN or infinity), "
                f"the first {value[where]} at index {where}; the model was saved after its training "
                "diverged, or the file is damaged. Refusing to load it: retrain, or use an earlier model file"
            )


def _parse_metadata(path, raw):
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ModelFileError(
            f"{path}: {METADATA_KEY!r} must be a 1-D uint8 array of JSON bytes, got {raw.dtype} {raw.shape}"
        )
    try:
        metadata = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(f"{path}: the metadata is not valid JSON: {e}") from e
    if not isinstance(metadata, dict):
        raise ModelFileError(f"{path}: the metadata must be a JSON object, got {type(metadata).__name__}")
    version = metadata.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ModelFileError(f"{path}: the metadata has no integer 'format_version' (got {version!r})")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: written in format version {version} by a newer tinydl "
            f"({metadata.get('tinydl_version', 'unknown version')}); this tinydl reads up to version "
            f"{FORMAT_VERSION} — upgrade tinydl"
        )
    return metadata
