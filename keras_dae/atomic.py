"""Atomic file output: write to a temporary name beside the target, then rename onto it."""

import contextlib
import json
import os
import tempfile


@contextlib.contextmanager
def atomic_path(path: str):
    """Yields a temporary path beside `path` (same extensions); renames it onto `path` on success."""
    folder, base = os.path.split(path)
    os.makedirs(folder or ".", exist_ok=True)
    suffix = base[base.index("."):] if "." in base else ""  # Keras wants ".weights.h5" whole.
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=suffix, dir=folder or ".")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would make outputs private.
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str, obj) -> None:
    """Writes `obj` as indented JSON, atomically."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
