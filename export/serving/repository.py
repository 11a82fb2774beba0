"""The models one worker serves, by name: one from --export_dir, or those of --model_config_file;
one thread polls their versions and the config file, and adds, removes or relabels models
without a restart (a bad file, or a label naming a version not served: one warning, the old
configuration serves on)."""

import threading
import time
from collections.abc import Callable

from absl import logging
from kserve import ModelServer
from kserve.errors import ModelNotReady

from keras_dae.core.errors import ExportError
from keras_dae.export.serving.model import NOT_READY, AutoencoderModel
from keras_dae.export.serving.model_config import UNSERVED_WARNING, ConfigFile, ModelEntry
from keras_dae.export.serving.servables import Servable, model_not_found
from keras_dae.export.serving.served import Served
from keras_dae.export.serving.versions import ModelVersions


class Repository:
    """Each configured model as a KServe model (its V1 and V2 routes) and its versions; every label
    must name a version served when a config is applied (TF Serving's check), unless
    `allow_unavailable_labels` lets a new label name one not served yet."""

    def __init__(
        self,
        server: ModelServer,
        load: Callable[[str, int], Served],
        make_model: Callable[[str], AutoencoderModel],
        allow_unavailable_labels: bool = False,
    ):
        self.server, self.load, self.make_model = server, load, make_model
        self.allow_unavailable_labels = allow_unavailable_labels
        self.models: dict[str, tuple[AutoencoderModel, ModelVersions]] = {}

    def lookup(self, name: str) -> Servable:
        """The servable of model `name`; NotFound (404) for none, ModelNotReady (503) while it
        has no version."""
        found = self.models.get(name)
        if found is None:
            raise model_not_found(name)
        servable = found[0].servable
        if servable is None:
            raise ModelNotReady(name, NOT_READY)
        return servable

    def apply(self, entries: list[ModelEntry], required: bool = False) -> None:
        """Serves `entries` at a worker's start; `required` (the server's, not a respawned
        worker's): each model needs a version and each label a version served (ExportError),
        where a respawned worker warns and serves."""
        self._apply(entries, required, refuse_labels=required)

    def reload(self, entries: list[ModelEntry]) -> None:
        """Serves `entries`, a changed config; ExportError, and nothing changed, when a label names
        a version not served."""
        self._apply(entries, required=False, refuse_labels=True)

    def _check_labels(
        self, entry: ModelEntry, served: list[int], before: ModelEntry | None, refuse: bool
    ) -> None:
        """Refuses (ExportError) or warns of a label of `entry` naming a version not in `served`;
        `before`: the model's entry applied so far (None: a model new to this worker)."""
        assigned = dict(before.labels if before else ()) if self.allow_unavailable_labels else None
        unserved = entry.unserved_label(served, assigned)
        if unserved and refuse:
            raise ExportError(unserved)
        if unserved:
            logging.warning(UNSERVED_WARNING, unserved)

    def _apply(self, entries: list[ModelEntry], required: bool, refuse_labels: bool) -> None:
        """Serves exactly `entries` once their labels pass: new models loaded before they answer,
        removed ones unregistered, changed policies or labels applied."""
        changed, added = [], {}
        try:
            for entry in entries:
                found = self.models.get(entry.name)
                if found is not None and found[1].entry.export_dir == entry.export_dir:
                    if found[1].entry != entry:
                        changed.append((found[1], entry))
                        served = found[1].preview(entry)
                        self._check_labels(entry, served, found[1].entry, refuse_labels)
                    continue
                model = self.make_model(entry.name)
                versions = ModelVersions(entry, self.load, model.swap)
                versions.start(required)
                added[entry.name] = model, versions
                self._check_labels(entry, versions.served, None, refuse_labels)
        except ExportError:
            for versions, _ in changed:
                versions.discard()
            raise
        models = dict(self.models)
        for name in set(models) - {e.name for e in entries}:
            self.server.registered_models.unload(name)
            del models[name]
            logging.info("model %s removed from the configuration", name)
        for versions, entry in changed:
            versions.relabel(entry)
        for name, (model, versions) in added.items():
            models[name] = model, versions
            self.server.register_model(model)
            if not required:  # A reload (or a respawned worker), not the start's own line.
                logging.info("model %s (%s) now served", name, versions.entry.export_dir)
        self.models = models  # One assignment: a request sees the old set or the new.

    def poll(self) -> None:
        for _, versions in self.models.values():
            versions.poll()


class Watcher(threading.Thread):
    """Every `poll_s` the versions of every model; every `config_poll_s` (0: never) the config
    file, applied when it changed into a good one."""

    def __init__(
        self,
        repository: Repository,
        config: ConfigFile | None,
        poll_s: float,
        config_poll_s: float,
    ):
        super().__init__(name="version-watcher", daemon=True)
        self.repository, self.config = repository, config
        self.poll_s, self.config_poll_s = poll_s, config_poll_s
        self.stopped = threading.Event()

    def run(self):
        # The config file's first check at the first poll: a worker respawned on the
        # supervisor's copy of the config takes a change made since then at once.
        next_config = time.monotonic()
        while not self.stopped.wait(self.poll_s):
            try:
                if self.config and self.config_poll_s and time.monotonic() >= next_config:
                    next_config = time.monotonic() + self.config_poll_s
                    self.config.poll(self.repository.reload)
                self.repository.poll()
            except OSError as e:  # An export folder itself went or is unreadable: next poll.
                logging.warning("%s; polling again", e)
