"""Versions as TensorFlow Serving handles them: serve the published versions that match their
manifest, load, and the model's version policy selects (without a config: the highest); each poll
swaps in a newer one whole and withdraws a served one whose folders go or whose files stop
matching the manifest (the policy then picks among those left; none: not ready until one is
published)."""

import gc
import os
from collections.abc import Callable

from absl import logging

from keras_dae.core.errors import ExportError
from keras_dae.export import layout, manifest
from keras_dae.export.serving import metrics
from keras_dae.export.serving.model_config import UNSERVED_WARNING, ModelEntry
from keras_dae.export.serving.servables import Servable
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
    """One model's export: loads the versions its policy selects out of the good ones (the
    highest first), reuses the loaded ones, and checks them; a version that failed or was
    withdrawn is tried again once its files change (published back: TF Serving reloads a version
    that reappears)."""

    def __init__(self, export_dir: str, load: Callable[[str, int], Served], name: str):
        self.export_dir, self.load, self.name = export_dir, load, name
        self.skipped: dict[int, tuple | None] = {}  # Version -> its fingerprint when skipped.
        self.loaded: dict[int, Served] = {}
        self.fingerprints: dict[int, tuple] = {}

    def _try(self, version: int) -> bool:
        """Loads `version` into `loaded` (True), or skips it with one warning (False)."""
        fingerprint = _fingerprint(self.export_dir, version)
        served, problem = _load(self.export_dir, version, self.load)
        status = "success" if served is not None and fingerprint is not None else "fail"
        metrics.LOADS.labels(layout.saved_model_dir(self.export_dir, version), status).inc()
        if status == "success":
            self.loaded[version], self.fingerprints[version] = served, fingerprint
            return True
        self.skipped[version] = fingerprint
        metrics.REFUSALS.labels(self.name).inc()
        logging.warning(
            "version %d of %s skipped: %s", version, self.export_dir, problem or "removed"
        )
        return False

    def _eligible(self, version: int) -> bool:
        """Not skipped, or skipped and its files changed since (then it is tried again)."""
        if version not in self.skipped:
            return True
        if _fingerprint(self.export_dir, version) == self.skipped[version]:
            return False
        del self.skipped[version]
        return True

    def select(self, policy: Callable[[list[int]], list[int]]) -> dict[int, Served]:
        """The versions `policy` picks out of the published, not skipped ones, loaded (one that
        fails is skipped and the policy asked again); the others stay loaded until `keep`."""
        while True:
            good = [v for v in layout.published_versions(self.export_dir) if self._eligible(v)]
            wanted = policy(good)
            missing = [v for v in reversed(wanted) if v not in self.loaded]
            if all(self._try(v) for v in missing):
                return {v: self.loaded[v] for v in wanted}

    def keep(self, versions) -> None:
        """Releases the loaded versions not among `versions`."""
        self.loaded = {v: self.loaded[v] for v in versions}
        self.fingerprints = {v: self.fingerprints[v] for v in versions}

    def withdrawn(self, version: int) -> str | None:
        """Why the loaded `version` is withdrawn (its folders gone, or its files changed and no
        longer matching the manifest), None while it stands; a withdrawn one is released and
        skipped."""
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
        self.skipped[version] = fingerprint
        del self.loaded[version], self.fingerprints[version]
        return problem


class ModelVersions:
    """One model as a config entry names it: its versions (by policy) and labels, handed to
    `swap` as a Servable whenever they change (None: no version left, not ready). A label whose
    version is not served (withdrawn, or the policy moved on) stays, answering NOT_FOUND."""

    def __init__(self, entry: ModelEntry, load: Callable[[str, int], Served], swap):
        self.entry, self.swap = entry, swap
        self.source = VersionSource(entry.export_dir, load, entry.name)
        self.servable: Servable | None = None

    def start(self, required: bool) -> Servable | None:
        """Loads the versions to start with; ExportError when `required` and there is none."""
        self.poll(quiet=True)
        if required and self.servable is None:
            raise ExportError(
                f"{self.entry.export_dir}: no published version that matches its "
                "manifest and loads (export one with `python -m export`)"
            )
        return self.servable

    @property
    def served(self) -> list[int]:
        return list(self.servable.versions) if self.servable else []

    def preview(self, entry: ModelEntry) -> list[int]:
        """The versions `entry`'s policy would serve, loaded but not served until `relabel` (or
        released by `discard`)."""
        return list(self.source.select(entry.select))

    def discard(self) -> None:
        """Releases what `preview` loaded beyond the versions served."""
        self.source.keep(self.served)

    def relabel(self, entry: ModelEntry) -> None:
        """The same export under a changed policy or labels, applied now."""
        self.entry = entry
        self.poll(changed=True)

    def poll(self, quiet: bool = False, changed: bool = False) -> None:
        """Withdraws the loaded versions that no longer stand, loads the ones the policy now
        selects, and swaps when the versions or labels change."""
        source, entry = self.source, self.entry
        before = self.served
        withdrawn = [(v, source.withdrawn(v)) for v in list(source.loaded)]
        withdrawn = [(v, problem) for v, problem in withdrawn if problem]
        versions = source.select(entry.select)
        source.keep(versions)
        if list(versions) == before and not withdrawn and not changed:
            return
        labels = dict(entry.labels)
        self.servable = Servable(entry.name, versions, labels) if versions else None
        self.swap(self.servable)
        if quiet:
            return
        release()
        metrics.SWAPS.labels(entry.name).inc()
        now = (
            f"now serving version {max(versions)}"
            if versions
            else "no version left to serve: not ready until one is published"
        )
        for version, problem in withdrawn:
            logging.warning(
                "version %d of %s withdrawn (%s); %s", version, source.export_dir, problem, now
            )
        unserved = entry.unserved_label(versions)
        if unserved:
            logging.warning(UNSERVED_WARNING, unserved)
        if not withdrawn and versions:
            logging.info(
                "%s of %s (was %s; versions %s, labels %s)",
                now,
                entry.name,
                max(before) if before else "none",
                sorted(versions),
                labels,
            )
