"""`python -m export verify`: the verdict on a whole export folder. Every published version is
checked exactly against its manifest; leftovers of killed exports and entries an export never
writes are reported. No TensorFlow here."""

import os

from keras_dae.core.errors import ExportError
from keras_dae.export import layout, manifest


def problems(export_dir: str) -> list[str]:
    """One line per problem found in `export_dir` (empty: everything matches)."""
    if not os.path.isdir(export_dir):
        return ["not a folder" if os.path.exists(export_dir) else "no such folder"]
    found = [
        f"{name}: unexpected (an export never writes it)"
        for name in layout.unexpected_entries(export_dir)
    ]
    found += [
        f"{name}: temporary left by a killed export (the next export removes it)"
        for name in layout.temporaries(export_dir)
    ]
    found += [
        f"{name}: incomplete version, its other folder is missing (left by a killed "
        "export; the next export removes it)"
        for name in layout.incomplete_versions(export_dir)
    ]
    versions = layout.published_versions(export_dir)
    if not versions:
        found.append("no published version (no saved_model/<v> with its versions/<v>)")
    for version in versions:
        try:
            found += manifest.verify_version(export_dir, version)
        except ExportError as e:
            found.append(str(e).removeprefix(export_dir.rstrip(os.sep) + os.sep))
    return found


def summary(export_dir: str) -> str:
    """The line printed when nothing is wrong."""
    versions = layout.published_versions(export_dir)
    older = f" and {len(versions) - 1} older version(s)" if len(versions) > 1 else ""
    return (
        f"version {versions[-1]}{older}: every file matches its manifest.json, "
        "nothing extra, no leftovers"
    )
