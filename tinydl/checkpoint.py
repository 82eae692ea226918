"""Checkpoints: everything a training run needs to continue exactly where it stopped, in one .npz.

After every epoch ``Trainer.fit(..., checkpoint=path)`` writes ``path``
atomically (a temporary file, then a rename: a kill during the write leaves
the previous checkpoint whole). It holds

    model/<name>        the weights after the epoch
    best/<name>         the best epoch's weights so far (when they are kept)
    optimizer/<i>/<key> the optimiser's arrays per parameter (Adam's m and v, SGD's momentum)
    meta                one JSON text: the epoch, the history, the best score, early stopping's
                        count, the optimiser's numbers and hyper-parameters, the schedule, and
                        the state of every random generator the run draws from

Arrays and JSON only — no pickle — so a checkpoint is as safe to open as a
model file. A missing, torn or foreign checkpoint is reported as
:class:`CheckpointError`; ``fit(resume=True)`` then starts from epoch 0.
"""

import json
import zipfile
import zlib

import numpy as np

from .files import write_atomically

FORMAT = "tinydl-checkpoint-1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: missing, torn, or not written by this version of tinydl."""


def save_checkpoint(path, model_state, optimizer_state, meta, best_state=None):
    """Write a checkpoint atomically; ``meta`` must be JSON-ready, the states dicts of arrays."""
    arrays = {f"model/{k}": np.asarray(v) for k, v in model_state.items()}
    for k, v in (best_state or {}).items():
        arrays[f"best/{k}"] = np.asarray(v)
    numbers = {}
    for i, entry in optimizer_state["state"].items():
        for key, value in entry.items():
            if hasattr(value, "shape") and np.ndim(value) > 0:
                arrays[f"optimizer/{i}/{key}"] = _host(value)
            else:
                numbers.setdefault(str(i), {})[key] = value.item() if hasattr(value, "item") else value
    meta = {
        **meta,
        "format": FORMAT,
        "optimizer_numbers": numbers,
        "optimizer_groups": optimizer_state["param_groups"],
    }
    arrays["meta"] = np.array(json.dumps(meta, allow_nan=True))
    return write_atomically(path, lambda f: np.savez(f, **{k: _host(v) for k, v in arrays.items()}))


def load_checkpoint(path):
    """(model_state, optimizer_state, meta, best_state or None) from ``path``; CheckpointError if unusable."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(str(arrays.pop("meta")))
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {path}") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError) as e:
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(e).__name__}: {e})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a {FORMAT} checkpoint (format {meta.get('format')!r})")
    model_state = {k[len("model/") :]: v for k, v in arrays.items() if k.startswith("model/")}
    best_state = {k[len("best/") :]: v for k, v in arrays.items() if k.startswith("best/")} or None
    state = {int(i): dict(entry) for i, entry in meta.pop("optimizer_numbers").items()}
    for key, value in arrays.items():
        if key.startswith("optimizer/"):
            _, i, name = key.split("/", 2)
            state.setdefault(int(i), {})[name] = value
    optimizer_state = {"state": state, "param_groups": meta.pop("optimizer_groups")}
    return model_state, optimizer_state, meta, best_state


def _host(value):
    """A NumPy array of ``value`` (CuPy arrays are copied from the GPU)."""
    return value.get() if hasattr(value, "get") and not isinstance(value, np.ndarray) else np.asarray(value)
