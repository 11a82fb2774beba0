"""--model_config_file: TensorFlow Serving's text-format ModelServerConfig, parsed with its own
protobuf definitions, checked, and resolved against each export's published versions (version
policy, labels). `base_path` names an export's saved_model/ folder, as TF Serving needs it; the
version records (versions/<v>/) are found beside it."""

import dataclasses
import os
import re
from collections.abc import Callable

from absl import logging
from google.protobuf import text_format

from keras_dae.core.errors import ExportError
from keras_dae.export import layout
from keras_dae.export.serving.tfs_protos import model_server_config_pb2, tf_names

LABEL = re.compile(r"[A-Za-z0-9_-]+")  # What a label in a TF Serving URL can be.
PLATFORMS = ("", "tensorflow")
UNSERVED_WARNING = "%s: it answers NOT_FOUND until that version is served"  # Of unserved_label.


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One model of the config: its export folder, version policy and labels."""

    name: str
    export_dir: str
    policy: str  # "latest", "all" or "specific"
    num_versions: int = 1  # Of "latest".
    versions: tuple[int, ...] = ()  # Of "specific".
    labels: tuple[tuple[str, int], ...] = ()
    config_file: str = ""  # The --model_config_file it comes from, named in its errors.

    def select(self, available: list[int]) -> list[int]:
        """The versions the policy serves out of `available` (good versions, oldest first)."""
        if self.policy == "latest":
            return available[-self.num_versions :]
        if self.policy == "specific":
            return [v for v in available if v in self.versions]
        return list(available)

    def unserved_label(self, served, assigned: dict[str, int] | None = None) -> str | None:
        """The line naming the first label whose version is not in `served` (TF Serving refuses
        it), None if none; `assigned`: the labels already applied (with
        --allow_version_labels_for_unavailable_models), where only a label moved is refused."""
        for label, version in self.labels:
            allowed = assigned is not None and assigned.get(label, version) == version
            if version not in served and not allowed:
                return (
                    f"{self.config_file}: model {self.name!r}: label {label!r} names version "
                    f"{version}, which is not served"
                )
        return None


def _entry(config, path: str) -> ModelEntry:
    if not config.name:
        raise ExportError(f"{path}: a model has no name")
    where = f"{path}: model {config.name!r}"
    if config.model_platform not in PLATFORMS:
        raise ExportError(f"{where}: model_platform {config.model_platform!r} (only tensorflow)")
    base_path = os.path.normpath(os.path.abspath(config.base_path)) if config.base_path else ""
    if os.path.basename(base_path) != layout.SAVED_MODEL:
        raise ExportError(
            f"{where}: base_path {config.base_path!r} must name an export's "
            f"{layout.SAVED_MODEL}/ folder (as TensorFlow Serving reads it)"
        )
    policy = config.model_version_policy.WhichOneof("policy_choice") or "latest"
    num_versions = max(config.model_version_policy.latest.num_versions, 1)
    versions = tuple(sorted(set(config.model_version_policy.specific.versions)))
    if policy == "specific" and (not versions or min(versions) < 1):
        raise ExportError(f"{where}: the specific version policy needs versions of 1 or more")
    labels = tuple(sorted(config.version_labels.items()))
    for label, version in labels:
        if not LABEL.fullmatch(label) or label.isdigit():
            raise ExportError(
                f"{where}: label {label!r} (letters, digits, '-' or '_', not a number)"
            )
        if policy == "specific" and version not in versions:
            raise ExportError(
                f"{where}: label {label!r} names version {version}, not in its policy"
            )
    return ModelEntry(
        config.name, os.path.dirname(base_path), policy, num_versions, versions, labels, path
    )


def parse(text: str, path: str) -> list[ModelEntry]:
    """The models of a text-format ModelServerConfig; ExportError (one line) names a problem."""
    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as e:
        raise ExportError(f"{path}: {tf_names(str(e))}") from None
    if config.WhichOneof("config") != "model_config_list":
        raise ExportError(f"{path}: needs a model_config_list (custom_model_config is not served)")
    entries = [_entry(c, path) for c in config.model_config_list.config]
    if not entries:
        raise ExportError(f"{path}: the model_config_list has no model")
    names = [e.name for e in entries]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ExportError(f"{path}: model {twice[0]!r} is configured twice")
    return entries


def _text_of(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError as e:
        raise ExportError(f"{path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ExportError(f"{path}: not text (UTF-8)") from None


class ConfigFile:
    """The config file, read again by `poll`: a changed, good file is applied; a changed, bad
    one, or one its application refuses, is one warning and the old configuration stays."""

    def __init__(self, path: str, state: dict | None = None):
        """The file read now, or as another process read it (its `state()`): Envoy's gRPC
        worker starts on the configuration the HTTP workers start on, not on a newer file."""
        self.path = path
        if state is None:
            self.text, self._seen = _text_of(path), self._stamp()
        else:
            self.text, self._seen = state["text"], state["seen"] and tuple(state["seen"])
        self.entries = parse(self.text, path)

    def state(self) -> dict:
        """What ConfigFile(path, state) starts from: the text read and the file's stamp then."""
        return {"text": self.text, "seen": self._seen}

    def _stamp(self):
        try:
            stat = os.stat(self.path)
            return stat.st_mtime_ns, stat.st_size, stat.st_ino
        except OSError:
            return None

    def poll(self, apply: Callable[[list[ModelEntry]], None]) -> None:
        """Hands the models of a changed, good config to `apply`, which may refuse them with an
        ExportError (then one warning, and they are not taken as applied)."""
        stamp = self._stamp()
        if stamp == self._seen:
            return
        self._seen = stamp
        try:
            text = _text_of(self.path)
            entries = parse(text, self.path)
            if entries != self.entries:
                apply(entries)
                self.entries = entries
            self.text = text
        except ExportError as e:
            logging.warning("model config not reloaded, the old one serves on: %s", e)
