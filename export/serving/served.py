"""A loaded export version, whatever runs it: its number, its signatures and its model call."""

import dataclasses
import json
import os
from collections.abc import Callable

import numpy as np

from keras_dae.core.errors import ExportError
from keras_dae.export import layout
from keras_dae.export.serving import protocol


@dataclasses.dataclass(frozen=True)
class Served:
    """One version ready to answer: `call(signature_name, batch) -> outputs`."""

    version: int
    signatures: dict[str, protocol.Signature]
    call: Callable[[str, np.ndarray], np.ndarray]


def read_signatures(export_dir: str, version: int) -> dict[str, protocol.Signature]:
    """The signatures of `version`, sized and bounded by its model.json."""
    path = os.path.join(layout.version_dir(export_dir, version), layout.MODEL_INFO)
    try:
        with open(path) as f:
            info = json.load(f)
        return protocol.signatures(int(info["latent_dim"]), float(info["input_max"]))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ExportError(f"{path}: no readable model settings ({type(e).__name__})") from None


def warm_up(served: Served) -> Served:
    """Calls every signature once, so that the first request does not pay for it."""
    for signature in served.signatures.values():
        served.call(signature.name, np.zeros((1, signature.features), np.float32))
    return served
