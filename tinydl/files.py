"""Writing files so that a crash never leaves half of one: a temporary file, then a rename.

Every file tinydl writes for a user (models, metadata, metrics, histories, plots)
goes through :func:`write_atomically`: the bytes go to a temporary file in the
same folder, are flushed to disk, and only then ``os.replace`` puts the file in
place — one step, so readers see the old file or the new one, never a mix, and
an interrupted run (Ctrl-C, a full disk, a power cut) leaves no partial file.
"""

import os
import tempfile
from pathlib import Path


def write_atomically(path, write):
    """Call ``write(binary_file)`` on a temporary file beside ``path``, then rename it onto ``path``.

    The parent folder is created if needed. The temporary file is in the same folder
    because ``os.replace`` is atomic only within one file system; fsync makes sure
    the bytes are on disk before the rename makes them visible. The file gets the
    usual permissions (0666 minus the umask), not mkstemp's private 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temporary, 0o666 & ~current_umask())
        os.replace(temporary, path)
    except BaseException:
        # Whatever went wrong (even Ctrl-C), remove the partial file; the old `path` was never touched.
        try:
            os.remove(temporary)
        except FileNotFoundError:
            pass
        raise
    _fsync_folder(path.parent)
    return path


def write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_atomically(path, lambda f: f.write(text.encode("utf-8")))


def current_umask():
    """The process's file-creation mask: the permission bits new files and folders do not get."""
    mask = os.umask(0)  # the only portable way to read it is to set it and put it back
    os.umask(mask)
    return mask


def _fsync_folder(folder):
    # Makes the rename itself durable on POSIX; Windows cannot open a folder, and does not need to.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
