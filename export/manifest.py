"""manifest.json: the sha256 of every file of one export version (its SavedModel and its record
folder), and the exact check of a version against it. No TensorFlow here."""

import hashlib
import json
import os
import re

from keras_dae.core.errors import ExportError
from keras_dae.export import layout

SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_files(folder: str) -> list[str]:
    """Every entry under `folder` that is not a folder (files, links), relative, '/'-separated;
    links to folders included (os.walk does not enter them)."""
    found = []
    for parent, dirs, files in os.walk(folder):
        links = [d for d in dirs if os.path.islink(os.path.join(parent, d))]
        found += [
            os.path.relpath(os.path.join(parent, n), folder).replace(os.sep, "/")
            for n in files + links
        ]
    return sorted(found)


def _version_folders(version: int) -> dict[str, str]:
    """The manifest's path prefix of each folder of `version`."""
    return {
        "saved_model": f"{layout.SAVED_MODEL}/{version}",
        "record": f"{layout.VERSIONS}/{version}",
    }


def build(version: int, saved_model: str, record: str) -> dict:
    """{"version": v, "files": {path: sha256}} for every file in the two folders of `version`
    (wherever they are now), named by their published paths; the manifest itself excepted."""
    prefixes = _version_folders(version)
    files = {}
    for kind, folder in (("saved_model", saved_model), ("record", record)):
        for name in folder_files(folder):
            files[f"{prefixes[kind]}/{name}"] = sha256(os.path.join(folder, name))
    files.pop(f"{prefixes['record']}/{layout.MANIFEST}", None)
    return {"version": version, "files": dict(sorted(files.items()))}


def read(export_dir: str, version: int) -> dict[str, str]:
    """The {path: sha256} of version's manifest.json; a one-line ExportError when it is missing
    or malformed (not a JSON object, another version, no files, a digest that is not hex)."""
    path = os.path.join(layout.version_dir(export_dir, version), layout.MANIFEST)
    try:
        with open(path) as f:
            saved = json.load(f)
    except (OSError, ValueError) as e:
        problem = (
            "missing" if isinstance(e, FileNotFoundError) else f"unreadable ({type(e).__name__})"
        )
        raise ExportError(f"{path}: {problem}") from None
    if not isinstance(saved, dict) or not isinstance(saved.get("files"), dict):
        raise ExportError(f"{path}: malformed (expected an object with a 'files' object)")
    if saved.get("version") != version:
        raise ExportError(f"{path}: records version {saved.get('version')!r}, not {version}")
    if not saved["files"]:
        raise ExportError(f"{path}: lists no files")
    for name, digest in saved["files"].items():
        if not isinstance(digest, str) or not SHA256_HEX.fullmatch(digest):
            raise ExportError(f"{path}: {name!r} has no sha256 hex digest ({digest!r})")
    return saved["files"]


def _unsafe(export_dir: str, version: int, name: str) -> str | None:
    """Why the manifest path `name` is refused (None: inside one of the version's folders)."""
    parts = name.split("/")
    if name.startswith("/") or os.path.isabs(name) or "\\" in name:
        return "an absolute path"
    if any(p in ("", ".", "..") for p in parts):
        return "not a plain relative path ('..', '.' or empty parts)"
    if "/".join(parts[:2]) not in _version_folders(version).values() or len(parts) < 3:
        return f"outside version {version}'s folders"
    root = os.path.realpath(export_dir)
    top = os.path.realpath(os.path.join(export_dir, *parts[:2]))
    if top != os.path.join(root, *parts[:2]) or not os.path.realpath(
        os.path.join(export_dir, *parts)
    ).startswith(top + os.sep):
        return "leads out of its folder (a link)"
    return None


def verify_version(export_dir: str, version: int) -> list[str]:
    """The problems found checking `version` exactly against its manifest.json (empty: all good):
    listed files missing or changed, files not listed, paths that leave the version's folders
    (refused without opening them), required files not listed. Raises ExportError when the
    manifest is missing or malformed."""
    files = read(export_dir, version)
    prefixes = _version_folders(version)
    problems = []
    for name, digest in files.items():
        full = os.path.join(export_dir, *name.split("/"))
        unsafe = _unsafe(export_dir, version, name)
        if unsafe:
            problems.append(f"{name!r}: refused, {unsafe}")
        elif os.path.islink(full) or (os.path.exists(full) and not os.path.isfile(full)):
            problems.append(f"{name}: not a regular file")
        elif not os.path.exists(full):
            problems.append(f"{name}: missing")
        elif sha256(full) != digest:
            problems.append(f"{name}: sha256 differs from the manifest")
    manifest = f"{prefixes['record']}/{layout.MANIFEST}"
    for kind, folder in (
        ("saved_model", layout.saved_model_dir(export_dir, version)),
        ("record", layout.version_dir(export_dir, version)),
    ):
        for name in folder_files(folder):
            path = f"{prefixes[kind]}/{name}"
            if path not in files and path != manifest:
                problems.append(f"{path}: extra file, not in the manifest")
    required = [f"{prefixes['saved_model']}/{n}" for n in layout.SAVED_MODEL_FILES] + [
        f"{prefixes['record']}/{n}" for n in layout.RECORD_FILES
    ]
    problems += [f"{path}: required, not in the manifest" for path in required if path not in files]
    return problems
