"""manifest.json: the sha256 of every file of one export version, and its check."""

import hashlib
import json
import os

from export import layout
from export.errors import ExportError


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def version_files(export_dir: str, version: int) -> list[str]:
    """Every file of `version` (its SavedModel and its record folder), relative to `export_dir`,
    the manifest itself excepted."""
    paths = []
    for top in (layout.saved_model_dir(export_dir, version), layout.version_dir(export_dir, version)):
        for folder, _, files in os.walk(top):
            paths += [os.path.relpath(os.path.join(folder, f), export_dir) for f in files]
    manifest = os.path.relpath(os.path.join(layout.version_dir(export_dir, version),
                                            layout.MANIFEST), export_dir)
    return sorted(p for p in paths if p != manifest)


def build(root: str, version: int, paths: list[str]) -> dict:
    """{"version": v, "files": {relative path: sha256}} for `paths` under `root`."""
    return {"version": version, "files": {p: sha256(os.path.join(root, p)) for p in sorted(paths)}}


def verify_version(export_dir: str, version: int) -> list[str]:
    """The problems found checking `version` against its manifest.json (empty: all good)."""
    path = os.path.join(layout.version_dir(export_dir, version), layout.MANIFEST)
    try:
        with open(path) as f:
            files = json.load(f)["files"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ExportError(f"{path}: no readable manifest ({type(e).__name__})") from None
    problems = []
    for name, digest in files.items():
        full = os.path.join(export_dir, name)
        if not os.path.isfile(full):
            problems.append(f"{name}: missing")
        elif sha256(full) != digest:
            problems.append(f"{name}: sha256 differs from the manifest")
    return problems
