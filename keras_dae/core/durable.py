"""Durable, atomic file output, the one way keras-dae writes files: to a temporary name beside the
target, flushed and fsynced, renamed onto it, then the folder fsynced (as databases do), so a
crash or power cut leaves the old file or the new one, never a renamed but empty one."""

import contextlib
import json
import os
import shutil
import tempfile

TEMP_PREFIX = ".partial-"  # Temporaries of writes in flight; what a killed write leaves behind.


def fsync_file(path: str) -> None:
    """Flushes `path`'s data to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str) -> None:
    """Flushes `path`'s entries (a rename or removal in it) to the disk."""
    fd = os.open(path or ".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(path: str) -> None:
    """Fsyncs every file and folder under `path`, deepest first."""
    for folder, _, files in os.walk(path, topdown=False):
        for name in files:
            fsync_file(os.path.join(folder, name))
        fsync_dir(folder)


def rename(src: str, dst: str) -> None:
    """Renames `src` onto `dst` (a file, or a folder onto a missing path); fsyncs both folders."""
    os.replace(src, dst)
    fsync_dir(os.path.dirname(dst))
    if os.path.dirname(src) != os.path.dirname(dst):
        fsync_dir(os.path.dirname(src))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str):
    """Yields a temporary path beside `path` (same extensions) for a writer to fill; on success
    fsyncs it and renames it onto `path`; on failure removes it and leaves `path` as it was."""
    folder, base = os.path.split(path)
    folder = folder or "."
    os.makedirs(folder, exist_ok=True)
    suffix = base[base.index(".") :] if "." in base else ""  # Keras wants ".weights.h5" whole.
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{base}.", suffix=suffix, dir=folder)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would make outputs private.
    try:
        yield tmp
        fsync_file(tmp)
        rename(tmp, path)
    except OSError as e:
        if e.errno is None or e.filename not in (None, tmp):
            raise
        raise OSError(e.errno, e.strerror, path) from None  # Name the file, not the temporary.
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_bytes(path: str, data: bytes) -> None:
    """Writes `data` to `path`, atomically and durably."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def write_text(path: str, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path: str, obj) -> None:
    """Writes `obj` as indented JSON, atomically and durably."""
    write_text(path, json.dumps(obj, indent=2) + "\n")


def remove_temporaries(folder: str) -> list[str]:
    """Removes what killed writes left in `folder` (files and folders named TEMP_PREFIX*);
    returns their names."""
    if not os.path.isdir(folder):
        return []
    left = sorted(n for n in os.listdir(folder) if n.startswith(TEMP_PREFIX))
    for name in left:
        path = os.path.join(folder, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    if left:
        fsync_dir(folder)
    return left


def make_temp_dir(folder: str, name: str) -> str:
    """A new empty folder in `folder` named as a temporary (removed by `remove_temporaries`)."""
    os.makedirs(folder, exist_ok=True)
    path = tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{name}.", dir=folder)
    os.chmod(path, 0o777 & ~_umask())  # mkdtemp's 0700 would hide what is renamed from it.
    return path
