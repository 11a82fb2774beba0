"""Versions as TensorFlow Serving handles them: serve the highest published version that matches
its manifest and loads; a background thread polls the export, swaps a newer version in whole, and
withdraws the served one when its folders go or its files stop matching the manifest (then the
highest good version left serves, or none: not ready until one is published)."""

import gc
import os
import threading
from collections.abc import Callable

from absl import logging

from keras_dae.core.errors import ExportError
from keras_dae.export import layout, manifest
from keras_dae.export.serving.served import Served


def settle() -> None:
    """Once, after the runtime's imports and before the first version loads: moves every object
    alive (TensorFlow's 476k) out of the collector's reach, where a full collection over them
    stalled every request for 0.2-0.45 s. A version's own objects (5.8k) stay collectable:
    frozen with it, a replaced SavedModel kept 8 MiB per swap for ever."""
    gc.collect()
    gc.freeze()


def release() -> None:
    """After a swap: frees the replaced version's cyclic garbage now (5 ms over the objects left
    unfrozen), not at the collector's next full pass."""
    gc.collect()


def _fingerprint(export_dir: str, version: int) -> tuple | None:
    """(path, size, mtime, inode) of every file of `version`'s two folders, None when one is gone:
    what each poll compares (~25 stats) before hashing the files again."""
    stats = []
    for folder in (
        layout.saved_model_dir(export_dir, version),
        layout.version_dir(export_dir, version),
    ):
        if not os.path.isdir(folder):
            return None
        for name in manifest.folder_files(folder):
            try:
                st = os.lstat(os.path.join(folder, name))
            except OSError:  # Removed while listed: the version is going.
                return None
            stats.append((folder, name, st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(stats)


def _problem(export_dir: str, version: int) -> str | None:
    """Why `version` does not match its manifest (None: it does)."""
    problems = manifest.verify_version(export_dir, version)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return f"does not match its manifest: {problems[0]}{more}"
    return None


def _load(export_dir: str, version: int, load: Callable[[str, int], Served]):
    """(served, None) for a version that verifies and loads, else (None, one line)."""
    try:
        problem = _problem(export_dir, version)
        if problem:
            return None, problem
        return load(export_dir, version), None
    except ExportError as e:
        return None, str(e)
    except Exception as e:  # noqa: BLE001  (a broken model fails in many ways; the old serves)
        return None, f"failed to load ({type(e).__name__}: {str(e).splitlines()[0][:200]})"


class VersionSource:
    """Finds and loads the highest good version and checks the served one; the versions that
    failed or were withdrawn are never loaded again (a number is never reused)."""

    def __init__(self, export_dir: str, load: Callable[[str, int], Served]):
        self.export_dir = export_dir
        self.load = load
        self.skipped: set[int] = set()
        self.fingerprints: dict[int, tuple] = {}

    def best(self, above: int = 0) -> Served | None:
        """The highest version above `above` that verifies and loads (None for none)."""
        candidates = [
            v
            for v in layout.published_versions(self.export_dir)
            if v > above and v not in self.skipped
        ]
        for version in reversed(candidates):
            fingerprint = _fingerprint(self.export_dir, version)
            served, problem = _load(self.export_dir, version, self.load)
            if served is not None and fingerprint is not None:
                self.fingerprints = {version: fingerprint}
                return served
            self.skipped.add(version)
            logging.warning(
                "version %d of %s skipped: %s", version, self.export_dir, problem or "removed"
            )
        return None

    def first(self) -> Served:
        """The version to start with; ExportError when there is none."""
        served = self.best()
        if served is None:
            raise ExportError(
                f"{self.export_dir}: no published version that matches its "
                "manifest and loads (export one with `python -m export`)"
            )
        return served

    def withdrawn(self, version: int) -> str | None:
        """Why the served `version` is withdrawn (its folders gone, or its files changed and no
        longer matching the manifest), None while it stands; a withdrawn one is skipped."""
        fingerprint = _fingerprint(self.export_dir, version)
        if fingerprint == self.fingerprints.get(version):
            return None
        try:
            problem = (
                "its folders are gone"
                if fingerprint is None
                else _problem(self.export_dir, version)
            )
        except (ExportError, OSError) as e:  # Its manifest went or broke, or a file went.
            problem = str(e)
        if problem is None:  # Touched, not changed.
            self.fingerprints[version] = fingerprint
            return None
        self.skipped.add(version)
        return problem


class VersionWatcher(threading.Thread):
    """Every `poll_s`: withdraws the served version when it no longer stands and serves the
    highest good one left, or swaps in a newer one; `swap(None)`: none left to serve."""

    def __init__(
        self,
        source: VersionSource,
        served: Served | None,
        swap: Callable[[Served | None], None],
        poll_s: float,
    ):
        super().__init__(name="version-watcher", daemon=True)
        self.source, self.swap, self.poll_s = source, swap, poll_s
        self.current = served.version if served is not None else None
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.wait(self.poll_s):
            try:
                self.poll()
            except OSError as e:  # The export folder itself went or is unreadable: next poll.
                logging.warning("%s: %s; polling again", self.source.export_dir, e)

    def poll(self) -> None:
        source, current = self.source, self.current
        problem = source.withdrawn(current) if current is not None else None
        if problem is not None:
            served = source.best()
            self._serve(served)
            logging.warning(
                "version %d of %s withdrawn (%s); %s",
                current,
                source.export_dir,
                problem,
                f"now serving version {served.version}"
                if served is not None
                else "no version left to serve: not ready until one is published",
            )
            return
        served = source.best(above=current or 0)
        if served is not None:
            self._serve(served)
            logging.info("now serving version %d (was %s)", served.version, current or "none")

    def _serve(self, served: Served | None) -> None:
        self.swap(served)
        release()
        self.current = served.version if served is not None else None
