"""The export folder's layout, its one owner (no TensorFlow here):

    exports/dae/
      saved_model/<v>/   version v's SavedModel, in TensorFlow Serving's layout, with its warm-up
                         requests (assets.extra/tf_serving_warmup_requests)
      versions/<v>/      everything else of version v: tflite/, micro/, report.json, report.md,
                         model.json (the model's settings), samples.json (test digits) and
                         manifest.json (the sha256 of every file of version v, both folders)
      .lock              held by the export that is writing
      .last_version      the highest version number an export has taken

Each of the two folders of a version is built whole in a temporary folder and renamed into place
in one step, the SavedModel first; `versions/<v>/` is the version record, renamed last. A version
is published when both exist; readers use the highest published version."""

import os

from keras_dae.core import durable
from keras_dae.core.locking import LOCK_FILE

SAVED_MODEL = "saved_model"
VERSIONS = "versions"
MANIFEST = "manifest.json"
MODEL_INFO = "model.json"
SAMPLES = "samples.json"
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
MODEL_CARD = "MODEL_CARD.md"
TFLITE = "tflite"
MICRO = "micro"
# Kept so that removing a killed export's incomplete version never frees its number.
LAST_VERSION = ".last_version"
VARIANTS = ("float32", "float16", "dynamic_range", "int8", "int8_io")  # Of the autoencoder.
HALVES = ("encoder", "decoder")
# The files every version record holds (relative to versions/<v>/), manifest.json excepted.
RECORD_FILES = (
    (REPORT_JSON, REPORT_MD, MODEL_CARD, MODEL_INFO, SAMPLES)
    + tuple(f"{TFLITE}/{name}.tflite" for name in VARIANTS + HALVES)
    + (f"{MICRO}/model_data.cc", f"{MICRO}/model_data.h")
)
SAVED_MODEL_FILES = ("saved_model.pb",)  # The files every SavedModel version holds, at least.
# TensorFlow Serving's warm-up file (a TFRecord of PredictionLog), relative to saved_model/<v>/.
# Not required: versions exported before it keep verifying and serving (warmed up on zeros).
WARMUP_REQUESTS = "assets.extra/tf_serving_warmup_requests"


def saved_model_dir(export_dir: str, version: int) -> str:
    return os.path.join(export_dir, SAVED_MODEL, str(version))


def warmup_path(export_dir: str, version: int) -> str:
    return os.path.join(saved_model_dir(export_dir, version), *WARMUP_REQUESTS.split("/"))


def version_dir(export_dir: str, version: int) -> str:
    return os.path.join(export_dir, VERSIONS, str(version))


def tflite_path(export_dir: str, version: int, name: str) -> str:
    """versions/<v>/tflite/<name>.tflite."""
    return os.path.join(version_dir(export_dir, version), TFLITE, f"{name}.tflite")


def is_version_name(name: str) -> bool:
    """A version folder's name: a positive integer without leading zeros."""
    return name.isdigit() and not name.startswith("0")


def _numbered(folder: str) -> set[int]:
    if not os.path.isdir(folder):
        return set()
    return {int(n) for n in os.listdir(folder) if is_version_name(n)}


def published_versions(export_dir: str) -> list[int]:
    """The versions whose SavedModel and record are both in place, oldest first."""
    return sorted(
        _numbered(os.path.join(export_dir, SAVED_MODEL))
        & _numbered(os.path.join(export_dir, VERSIONS))
    )


def latest_version(export_dir: str) -> int | None:
    """The highest published version (None for none)."""
    return max(published_versions(export_dir), default=None)


def _last_taken(export_dir: str) -> int:
    try:
        with open(os.path.join(export_dir, LAST_VERSION)) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return 0


def next_version(export_dir: str) -> int:
    """One more than any version number present or taken before (see `take_version`): a number
    is never used twice (TensorFlow Serving would not reload it)."""
    present = _numbered(os.path.join(export_dir, SAVED_MODEL)) | _numbered(
        os.path.join(export_dir, VERSIONS)
    )
    return max(present | {_last_taken(export_dir)}) + 1


def take_version(export_dir: str) -> int:
    """The next version number, recorded durably as taken before anything of it is written."""
    version = next_version(export_dir)
    durable.write_text(os.path.join(export_dir, LAST_VERSION), f"{version}\n")
    return version


def temporaries(export_dir: str) -> list[str]:
    """What killed writes left (`.partial-*`), relative to `export_dir`."""
    found = []
    for sub in ("", SAVED_MODEL, VERSIONS):
        folder = os.path.join(export_dir, sub)
        if os.path.isdir(folder):
            found += [
                os.path.join(sub, n)
                for n in sorted(os.listdir(folder))
                if n.startswith(durable.TEMP_PREFIX)
            ]
    return found


def incomplete_versions(export_dir: str) -> list[str]:
    """`saved_model/<n>` without `versions/<n>` or the reverse, relative to `export_dir`: what an
    export killed between its two renames leaves (or damage)."""
    saved = _numbered(os.path.join(export_dir, SAVED_MODEL))
    records = _numbered(os.path.join(export_dir, VERSIONS))
    return [os.path.join(SAVED_MODEL, str(n)) for n in sorted(saved - records)] + [
        os.path.join(VERSIONS, str(n)) for n in sorted(records - saved)
    ]


def unexpected_entries(export_dir: str) -> list[str]:
    """Entries an export never writes: at the top level, or in saved_model/ and versions/ (what is
    not a version number), temporaries excepted."""
    expected = {
        "": {SAVED_MODEL, VERSIONS, LOCK_FILE, LAST_VERSION},
        SAVED_MODEL: set(),
        VERSIONS: set(),
    }
    found = []
    for sub, names in expected.items():
        folder = os.path.join(export_dir, sub)
        if not os.path.isdir(folder):
            continue
        found += [
            os.path.join(sub, n)
            for n in sorted(os.listdir(folder))
            if n not in names
            and not n.startswith(durable.TEMP_PREFIX)
            and not (sub and is_version_name(n))
        ]
    return found
