"""Publishing a version whole: its two folders are built in temporaries inside the export folder,
fsynced, and renamed into place, the SavedModel first and the version record last, so a reader
sees the previous complete version or the new one, whatever instant the export dies. Also removes
what killed exports left. No TensorFlow here."""

import os
import shutil
from typing import NamedTuple

from absl import logging

from keras_dae.core import durable
from keras_dae.core.errors import ExportError
from keras_dae.export import layout, manifest


class Staging(NamedTuple):
    """The temporary folders of `version` that become saved_model/<v>/ and versions/<v>/."""

    version: int
    saved_model: str
    record: str


def clear_leftovers(export_dir: str) -> None:
    """Refuses a folder that is not an export's; removes what killed exports left, saying so in
    one line."""
    check_folder(export_dir)
    removed = remove_leftovers(export_dir)
    if removed:
        logging.warning("%s: removed what a killed export left: %s", export_dir, ", ".join(removed))


def check_folder(export_dir: str) -> None:
    """Refuses a folder holding what an export never writes (another program's files, or an
    export from before versions/ existed): leftovers are removed only in an export's own folder."""
    unexpected = layout.unexpected_entries(export_dir)
    if unexpected:
        raise ExportError(
            f"{export_dir}: holds {', '.join(unexpected)}, which an export never "
            "writes; export into an empty folder or move them away"
        )


def remove_leftovers(export_dir: str) -> list[str]:
    """Removes what killed exports left, temporaries and incomplete versions; returns their names.
    An incomplete version is first renamed into a temporary, so it vanishes in one step."""
    temporaries = layout.temporaries(export_dir)
    incomplete = layout.incomplete_versions(export_dir)
    for name in incomplete:
        trash = durable.make_temp_dir(export_dir, "removed")
        durable.rename(os.path.join(export_dir, name), os.path.join(trash, "version"))
    for sub in ("", layout.SAVED_MODEL, layout.VERSIONS):
        durable.remove_temporaries(os.path.join(export_dir, sub))
    return temporaries + [f"{name} (incomplete version)" for name in incomplete]


def stage(export_dir: str) -> Staging:
    """Takes the next version number and makes its two empty temporary folders."""
    version = layout.take_version(export_dir)
    folders = []
    for kind in (layout.SAVED_MODEL, layout.VERSIONS):
        os.makedirs(os.path.join(export_dir, kind), exist_ok=True)
        folders.append(durable.make_temp_dir(export_dir, f"{kind}-{version}"))
    durable.fsync_dir(export_dir)
    return Staging(version, *folders)


def discard(staging: Staging) -> None:
    """Removes what is left of `staging` (nothing once published)."""
    for folder in (staging.saved_model, staging.record):
        shutil.rmtree(folder, ignore_errors=True)


def publish(export_dir: str, staging: Staging) -> None:
    """Writes the manifest into the record, fsyncs both trees, and renames them into place: the
    SavedModel first, the version record (which makes the version published) last."""
    durable.write_json(
        os.path.join(staging.record, layout.MANIFEST),
        manifest.build(staging.version, staging.saved_model, staging.record),
    )
    for folder in (staging.saved_model, staging.record):
        durable.fsync_tree(folder)
    durable.rename(staging.saved_model, layout.saved_model_dir(export_dir, staging.version))
    durable.rename(staging.record, layout.version_dir(export_dir, staging.version))
