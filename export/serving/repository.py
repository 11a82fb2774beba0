"""The models one worker serves, by name: one from --export_dir, or those of --model_config_file;
one thread polls their versions and the config file, and adds, removes or relabels models
without a restart (a bad file: one warning, the old configuration serves on)."""

import threading
import time
from collections.abc import Callable

from absl import logging
from kserve import ModelServer
from kserve.errors import ModelNotReady

from keras_dae.export.serving.model import NOT_READY, AutoencoderModel
from keras_dae.export.serving.model_config import ConfigFile, ModelEntry
from keras_dae.export.serving.servables import Servable, model_not_found
from keras_dae.export.serving.served import Served
from keras_dae.export.serving.versions import ModelVersions


class Repository:
    """Each configured model as a KServe model (its V1 and V2 routes) and its versions."""

    def __init__(
        self,
        server: ModelServer,
        load: Callable[[str, int], Served],
        make_model: Callable[[str], AutoencoderModel],
    ):
        self.server, self.load, self.make_model = server, load, make_model
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
        """Serves exactly `entries`: new models loaded before they answer, removed ones
        unregistered, changed policies or labels applied; `required`: each needs a version."""
        models = dict(self.models)
        for name in set(models) - {e.name for e in entries}:
            self.server.registered_models.unload(name)
            del models[name]
            logging.info("model %s removed from the configuration", name)
        for entry in entries:
            found = models.get(entry.name)
            if found is not None and found[1].entry.export_dir == entry.export_dir:
                if found[1].entry != entry:
                    found[1].relabel(entry)
                continue
            model = self.make_model(entry.name)
            versions = ModelVersions(entry, self.load, model.swap)
            versions.start(required)
            models[entry.name] = model, versions
            self.server.register_model(model)
            if not required:  # A reload (or a respawned worker), not the start's own line.
                logging.info("model %s (%s) now served", entry.name, entry.export_dir)
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
        next_config = time.monotonic() + self.config_poll_s
        while not self.stopped.wait(self.poll_s):
            try:
                if self.config and self.config_poll_s and time.monotonic() >= next_config:
                    next_config = time.monotonic() + self.config_poll_s
                    entries = self.config.poll()
                    if entries is not None:
                        self.repository.apply(entries)
                self.repository.poll()
            except OSError as e:  # An export folder itself went or is unreadable: next poll.
                logging.warning("%s; polling again", e)
