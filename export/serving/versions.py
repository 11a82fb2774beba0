"""Versions as TensorFlow Serving handles them: serve the highest published version that matches
its manifest and loads; a background thread polls for newer ones and swaps them in whole."""

import gc
import threading
from collections.abc import Callable

from absl import logging

from keras_dae.core.errors import ExportError
from keras_dae.export import layout, manifest
from keras_dae.export.serving.served import Served


def settle() -> None:
    """Moves every object alive now (TensorFlow's 450k after a SavedModel load) out of the
    collector's reach: a full collection over them stalled every request for 0.2-0.45 s, a few
    times a minute under load. A replaced version's cyclic garbage stays (a few MB per swap)."""
    gc.freeze()


def _problem(export_dir: str, version: int, load: Callable[[str, int], Served]):
    """(served, None) for a version that verifies and loads, else (None, one line)."""
    try:
        problems = manifest.verify_version(export_dir, version)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            return None, f"does not match its manifest: {problems[0]}{more}"
        return load(export_dir, version), None
    except ExportError as e:
        return None, str(e)
    except Exception as e:  # noqa: BLE001  (a broken model fails in many ways; the old serves)
        return None, f"failed to load ({type(e).__name__}: {str(e).splitlines()[0][:200]})"


class VersionSource:
    """Finds and loads the newest good version; remembers the versions that failed."""

    def __init__(self, export_dir: str, load: Callable[[str, int], Served]):
        self.export_dir = export_dir
        self.load = load
        self.skipped: set[int] = set()

    def newer(self, than: int) -> Served | None:
        """The highest version above `than` that verifies and loads (None for none)."""
        candidates = [
            v
            for v in layout.published_versions(self.export_dir)
            if v > than and v not in self.skipped
        ]
        for version in reversed(candidates):
            served, problem = _problem(self.export_dir, version, self.load)
            if served is not None:
                return served
            self.skipped.add(version)
            logging.warning("version %d of %s skipped: %s", version, self.export_dir, problem)
        return None

    def first(self) -> Served:
        """The version to start with; ExportError when there is none."""
        served = self.newer(0)
        if served is None:
            raise ExportError(
                f"{self.export_dir}: no published version that matches its "
                "manifest and loads (export one with `python -m export`)"
            )
        return served


class VersionWatcher(threading.Thread):
    """Polls every `poll_s` for a newer good version and hands it to `swap`."""

    def __init__(
        self, source: VersionSource, current: int, swap: Callable[[Served], None], poll_s: float
    ):
        super().__init__(name="version-watcher", daemon=True)
        self.source, self.current, self.swap, self.poll_s = source, current, swap, poll_s
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.wait(self.poll_s):
            served = self.source.newer(self.current)
            if served is not None:
                self.swap(served)
                settle()
                logging.info("now serving version %d (was %d)", served.version, self.current)
                self.current = served.version
