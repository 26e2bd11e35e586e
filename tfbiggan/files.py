"""Atomic writes of output files and directories, with the permissions of a normal write.

Every output (config.json, sample sheets, results, exported modules, cached models) is written
to a temporary name beside its destination and renamed into place, so a reader never sees a
half-written file and a failed write leaves the previous version. `tempfile` creates its files
0600 and its directories 0700; the helpers here give them the mode an ordinary `open()` or
`os.makedirs()` would, 0666 / 0777 minus the process umask (0644 / 0755 under umask 022),
before the rename.

Example:
  >>> with atomic_write("/runs/digits/results.json") as f:
  ...     json.dump(record, f)
  >>> with atomic_directory("/runs/digits/module") as staging:
  ...     tf.saved_model.save(module, staging)
"""

import contextlib
import os
import shutil
import tempfile
import threading

_UMASK_LOCK = threading.Lock()


def current_umask():
    """The process umask (read without changing it where /proc allows)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:  # os.umask can only be read by setting it.
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode():
    """The mode `open(path, "w")` gives a new file: 0666 minus the umask."""
    return 0o666 & ~current_umask()


def directory_mode():
    """The mode `os.makedirs` gives a new directory: 0777 minus the umask."""
    return 0o777 & ~current_umask()


def _temporary_name(path, suffix):
    directory, base = os.path.split(os.path.abspath(os.fspath(path)))
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{base}.", suffix=suffix, dir=directory)
    os.close(handle)
    os.chmod(temporary, file_mode())
    return temporary


@contextlib.contextmanager
def atomic_path(path, suffix=".tmp"):
    """Yields a temporary file name beside `path` for a writer that takes a path; when the
    block ends without an exception the file is renamed to `path`, else removed.

    Args:
      path: the destination file.
      suffix: ending of the temporary name, for writers that choose the format by it
        (e.g. ".keras" for `keras.Model.save`).

    Example:
      >>> with atomic_path("/cache/classifier.keras", suffix=".keras") as temporary:
      ...     model.save(temporary)
    """
    temporary = _temporary_name(path, suffix)
    try:
        yield temporary
        if os.path.isfile(temporary):
            os.chmod(temporary, file_mode())  # A writer may have replaced the file.
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


@contextlib.contextmanager
def atomic_write(path, mode="w", encoding=None, newline=None):
    """Opens a temporary file beside `path` for writing; on success it is flushed to disk and
    renamed to `path` (mode 0666 minus the umask), on an exception removed.

    Args:
      path: the destination file.
      mode: "w" (text, UTF-8 unless `encoding` says otherwise) or "wb".
      encoding, newline: as for `open` (text mode).

    Example:
      >>> with atomic_write("grid.png", "wb") as f:
      ...     picture.save(f, format="PNG")
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"`mode` must be 'w' or 'wb', got {mode!r}.")
    if mode == "w" and encoding is None:
        encoding = "utf-8"
    with atomic_path(path) as temporary:
        with open(temporary, mode, encoding=encoding, newline=newline) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


@contextlib.contextmanager
def atomic_directory(path):
    """Yields an empty staging directory beside `path`; when the block ends without an
    exception it replaces `path` (the old directory, if any, is removed only after the new one
    is in place), else it is removed. The staging directory gets mode 0777 minus the umask.

    Example:
      >>> with atomic_directory("/exports/biggan_128") as staging:
      ...     tf.saved_model.save(module, staging)
    """
    path = os.path.abspath(os.fspath(path))
    parent, base = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{base}.tmp-", dir=parent)
    backup = None
    try:
        os.chmod(staging, directory_mode())
        yield staging
        if os.path.exists(path):
            backup = tempfile.mkdtemp(prefix=f".{base}.old-", dir=parent)
            os.rmdir(backup)
            os.rename(path, backup)
        os.rename(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if backup is not None and not os.path.exists(path):
            os.rename(backup, path)  # The new one never arrived: put the old one back.
        raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)
