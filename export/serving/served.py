"""A loaded export version, whatever runs it: its number, its signatures and its model call."""

import dataclasses
import json
import os
from collections.abc import Callable

import numpy as np
from kserve.errors import InvalidInput

from keras_dae.core.errors import ExportError
from keras_dae.export import layout
from keras_dae.export.serving import grpc_protocol, protocol, warmup


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


def _warmup_batches(served: Served, export_dir: str) -> list[tuple[str, np.ndarray]]:
    """(signature name, batch) of each warm-up request; ExportError for one that fails a check."""
    batches = []
    for index, request in enumerate(warmup.requests(export_dir, served.version)):
        try:
            signature, x = grpc_protocol.parse(request, served.signatures, warmup.MAX_BATCH)
        except InvalidInput as e:
            path = layout.warmup_path(export_dir, served.version)
            raise ExportError(f"{path}: record {index}: {e}") from None
        batches.append((signature.name, x))
    return batches


def warm_up(served: Served, export_dir: str) -> Served:
    """Replays the version's warm-up requests (TF Serving's file) before it serves, so that the
    first request does not pay for it; a version without the file calls each signature on zeros."""
    batches = _warmup_batches(served, export_dir) or [
        (signature.name, np.zeros((1, signature.features), np.float32))
        for signature in served.signatures.values()
    ]
    for name, x in batches:
        served.call(name, x)
    return served
