"""A run folder belongs to one run: claimed with a lock, never overwritten by surprise, filled all at once.

What happens to ``--out DIR`` (see :func:`claim`):

    DIR missing or empty          created, claimed
    DIR holds a finished run      refused; ``force=True`` clears it first, ``resume=True`` continues it
    DIR is in use by a live run   refused at once, naming the process
    DIR holds files of no run     refused, even with ``force`` (it may be your home folder)
    DIR is a file / not writable  refused before the first epoch
    no --out given                ``runs/<data>-<model>-seed<seed>``, or ``…-2``, ``…-3`` when taken

The lock (``.tinydl-lock``: process id and host) is taken before epoch 1; a
lock whose process is gone (a killed run) is stale and is taken over. The
final files are written into ``.staging/`` inside the folder and moved into
place only when all are written; the folder was emptied when it was claimed,
so files of two runs can never stand side by side. ``run.json`` says how the
run was made and whether it finished (``"status": "training"`` or
``"complete"``).
"""

import datetime
import json
import os
import shutil
import socket
from pathlib import Path

from ._version import __version__
from .files import write_text

LOCK = ".tinydl-lock"
SETTINGS = "run.json"
STAGING = ".staging"
CHECKPOINT = "checkpoint.npz"
# Any of these marks a folder as one tinydl wrote (so force=True may clear it).
RUN_MARKERS = (SETTINGS, "model.npz", CHECKPOINT, LOCK, "metadata.json")


class RunFolderError(RuntimeError):
    """A run folder that cannot be used: taken, in use, not a run folder, or not writable."""


def is_run_folder(path):
    return any((Path(path) / name).exists() for name in RUN_MARKERS)


def lock_owner(folder):
    """The lock's {"pid", "host", "started"} if the folder is locked, else None."""
    try:
        return json.loads((Path(folder) / LOCK).read_text())
    except (FileNotFoundError, ValueError):
        return None


def lock_is_stale(owner):
    """True when the process that took the lock is gone (same host only; another host's lock is kept)."""
    if owner is None or owner.get("host") != socket.gethostname():
        return owner is None
    try:
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


def next_free_name(folder):
    """``folder`` if it is free (missing or empty), else ``folder-2``, ``folder-3``, …"""
    folder = Path(folder)
    candidate, n = folder, 1
    while candidate.exists() and (not candidate.is_dir() or any(candidate.iterdir())):
        n += 1
        candidate = folder.with_name(f"{folder.name}-{n}")
    return candidate


class RunFolder:
    """A claimed run folder: ``path``; :meth:`staging` and :meth:`commit` for the final files; :meth:`release`."""

    def __init__(self, path):
        self.path = Path(path)

    @property
    def checkpoint(self):
        return self.path / CHECKPOINT

    def write_settings(self, settings, status):
        record = {"status": status, "tinydl_version": __version__, "settings": settings}
        record["updated"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        write_text(self.path / SETTINGS, json.dumps(record, indent=2) + "\n")

    def read_settings(self):
        return read_settings(self.path)

    def staging(self):
        """An empty ``.staging/`` folder inside the run folder, for the final files."""
        staged = self.path / STAGING
        shutil.rmtree(staged, ignore_errors=True)
        staged.mkdir()
        return staged

    def commit(self):
        """Move every staged file into the run folder (each move atomic), then remove ``.staging/``."""
        staged = self.path / STAGING
        for item in sorted(staged.iterdir()):
            target = self.path / item.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            os.replace(item, target)
        staged.rmdir()

    def release(self):
        """Give the lock back (only ours)."""
        owner = lock_owner(self.path)
        if owner is not None and owner.get("pid") == os.getpid() and owner.get("host") == socket.gethostname():
            (self.path / LOCK).unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def read_settings(folder):
    """The ``run.json`` of a run folder (RunFolderError when there is none)."""
    path = Path(folder) / SETTINGS
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RunFolderError(f"{folder} has no {SETTINGS}: it is not a run folder written by `tinydl train`") from None
    except ValueError as e:
        raise RunFolderError(f"{path} is not valid JSON ({e})") from None


def claim(folder, force=False, resume=False, numbered=False):
    """Claim ``folder`` for one run (see the module docstring); returns a RunFolder, locked by this process."""
    folder = Path(folder)
    if numbered and not resume:
        folder = next_free_name(folder)
    if folder.exists() and not folder.is_dir():
        raise RunFolderError(f"--out {folder} is a file, not a folder; choose a folder for the run")
    if folder.is_dir() and any(folder.iterdir()):
        if not is_run_folder(folder):
            raise RunFolderError(
                f"--out {folder} is a folder with other files in it, not a tinydl run folder; "
                "choose a new or empty folder (it is never cleared, even with --force)"
            )
        owner = lock_owner(folder)
        if owner is not None and not lock_is_stale(owner):
            raise RunFolderError(
                f"run folder {folder} is in use by process {owner.get('pid')} on {owner.get('host')} "
                f"(started {owner.get('started')}); wait for it to finish or choose another --out"
            )
        if not resume and not force:
            raise RunFolderError(
                f"run folder {folder} already holds a run; pass --force to replace it, --resume {folder} "
                "to continue it, or choose another --out"
            )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _take_lock(folder)
    except PermissionError as e:
        raise RunFolderError(
            f"--out {folder} is not writable ({e.strerror}); choose a folder you can write to"
        ) from None
    except OSError as e:
        raise RunFolderError(f"--out {folder} cannot be used ({e.strerror or e})") from None
    if force and not resume:
        _clear(folder)
    _remove_leftovers(folder)
    return RunFolder(folder)


def _take_lock(folder):
    """Create the lock file exclusively; take over a stale one (its process is gone)."""
    record = json.dumps(
        {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
    )
    path = folder / LOCK
    for _ in range(2):
        try:
            handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = lock_owner(folder)
            if owner is not None and not lock_is_stale(owner):
                raise RunFolderError(
                    f"run folder {folder} is in use by process {owner.get('pid')} on {owner.get('host')}"
                ) from None
            path.unlink(missing_ok=True)  # stale: its run was killed
            continue
        with os.fdopen(handle, "w") as f:
            f.write(record)
        return
    raise RunFolderError(f"could not take the lock of {folder}: another run took it at the same moment")


def _clear(folder):
    """Remove everything of the earlier run (all but our lock)."""
    for item in folder.iterdir():
        if item.name == LOCK:
            continue
        if item.is_dir() and not item.is_symlink():
            shutil.rmtree(item)
        else:
            item.unlink()


def _remove_leftovers(folder):
    """Hidden files a killed run can leave: a half-filled .staging/ and atomic-write temporaries."""
    shutil.rmtree(folder / STAGING, ignore_errors=True)
    for item in folder.glob(".*.tmp"):
        item.unlink(missing_ok=True)
