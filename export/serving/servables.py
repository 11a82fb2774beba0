"""One model's servable versions as TensorFlow Serving picks among them: the highest by default,
or by number, or by label; replaced whole (one reference assignment) when versions or labels
change. Misses raise ModelNotFound with TF Serving's own messages (HTTP 404, gRPC NOT_FOUND)."""

import dataclasses

from kserve.errors import InvalidInput, ModelNotFound

from keras_dae.export.serving.served import Served


class NotFound(ModelNotFound):
    """ModelNotFound with TF Serving's message as it is (KServe's own wraps the name)."""

    def __init__(self, reason: str):
        super().__init__()
        self.reason = reason


def model_not_found(name: str) -> NotFound:
    return NotFound(f"Servable not found for request: Latest({name})")


def version_number(text: str | None) -> int | None:
    """The version a URL or request names (None: none); InvalidInput (400) for a non-number."""
    if text is None:
        return None
    if not text.isdigit():
        raise InvalidInput(f"version {text!r} is not a number")
    return int(text)


@dataclasses.dataclass(frozen=True)
class Servable:
    """`versions` being served (at least one), `labels` naming versions (one whose version is not
    served answers NOT_FOUND, as TF Serving's)."""

    name: str
    versions: dict[int, Served]
    labels: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def latest(self) -> Served:
        return self.versions[max(self.versions)]

    def pick(self, version: int | None = None, label: str | None = None) -> Served:
        """The version a request names (number or label), else the highest."""
        if label:
            if label not in self.labels:
                raise NotFound(f"Unrecognized servable version label: {label}")
            version = self.labels[label]
        if version is None:
            return self.latest
        if version not in self.versions:
            raise NotFound(f"Servable not found for request: Specific({self.name}, {version})")
        return self.versions[version]
