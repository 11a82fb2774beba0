"""The export folder's layout, its one owner (no TensorFlow here):

    exports/dae/
      saved_model/<v>/   version v's SavedModel, in TensorFlow Serving's layout
      versions/<v>/      everything else of version v: tflite/, micro/, report.json, report.md,
                         model.json (the model's settings), samples.json (test digits) and
                         manifest.json (the sha256 of every file of version v, both folders)
      .lock              held by the export that is writing

Each of the two folders of a version is built whole in a temporary folder and renamed into place
in one step, the SavedModel first; `versions/<v>/` is the version record, renamed last. A version
is published when both exist; readers use the highest published version."""

import os

SAVED_MODEL = "saved_model"
VERSIONS = "versions"
MANIFEST = "manifest.json"
MODEL_INFO = "model.json"
SAMPLES = "samples.json"


def saved_model_dir(export_dir: str, version: int) -> str:
    return os.path.join(export_dir, SAVED_MODEL, str(version))


def version_dir(export_dir: str, version: int) -> str:
    return os.path.join(export_dir, VERSIONS, str(version))


def _numbered(folder: str) -> set[int]:
    if not os.path.isdir(folder):
        return set()
    return {int(n) for n in os.listdir(folder) if n.isdigit() and not n.startswith("0")}


def published_versions(export_dir: str) -> list[int]:
    """The versions whose SavedModel and record are both in place, oldest first."""
    return sorted(_numbered(os.path.join(export_dir, SAVED_MODEL))
                  & _numbered(os.path.join(export_dir, VERSIONS)))


def latest_version(export_dir: str) -> int | None:
    """The highest published version (None for none)."""
    return max(published_versions(export_dir), default=None)


def next_version(export_dir: str) -> int:
    """One more than any version number present, published or left by a killed export: a number
    is never used twice (TensorFlow Serving would not reload it)."""
    present = (_numbered(os.path.join(export_dir, SAVED_MODEL))
               | _numbered(os.path.join(export_dir, VERSIONS)))
    return max(present, default=0) + 1
