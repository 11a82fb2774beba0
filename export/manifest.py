"""manifest.json: the sha256 of every published file, and its check."""

import hashlib
import json
import os

from export.errors import ExportError

MANIFEST = "manifest.json"


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build(root: str, paths: list[str]) -> dict:
    """{relative path: sha256} for `paths` under `root`."""
    return {"files": {p: sha256(os.path.join(root, p)) for p in sorted(paths)}}


def verify(root: str) -> list[str]:
    """The problems found checking `root` against its manifest (empty: all good)."""
    path = os.path.join(root, MANIFEST)
    try:
        with open(path) as f:
            files = json.load(f)["files"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ExportError(f"{path}: no readable manifest ({type(e).__name__})") from None
    problems = []
    for name, digest in files.items():
        full = os.path.join(root, name)
        if not os.path.isfile(full):
            problems.append(f"{name}: missing")
        elif sha256(full) != digest:
            problems.append(f"{name}: sha256 differs from the manifest")
    return problems
