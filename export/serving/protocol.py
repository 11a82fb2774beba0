"""TensorFlow Serving's REST predict format (row `instances`, columnar `inputs`) for one-input,
one-output signatures: request bodies checked into a float32 batch, results shaped as TF Serving
shapes them (a single output tensor is not wrapped in its name). No TensorFlow here."""

import dataclasses

import numpy as np
import orjson
from kserve.errors import InvalidInput

from keras_dae.core.mnist import PIXELS

FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclasses.dataclass(frozen=True)
class Signature:
    """One serving signature: its input tensor's name and width and the values it accepts, its
    output tensor's name and width."""

    name: str
    input_name: str
    features: int
    output_name: str
    outputs: int
    low: float = -FLOAT32_MAX
    high: float = FLOAT32_MAX


@dataclasses.dataclass(frozen=True)
class Request:
    signature: Signature
    batch: np.ndarray  # [N, features] float32, checked.
    columnar: bool  # `inputs` (answered with `outputs`) rather than `instances`.


def signatures(latent_dim: int, input_max: float) -> dict[str, Signature]:
    """The export's three signatures (export/convert/savedmodel.py): images in [0, input_max],
    codes."""
    images = {"input_name": "images", "features": PIXELS, "low": 0.0, "high": input_max}
    return {
        "serving_default": Signature(
            "serving_default", **images, output_name="reconstructions", outputs=PIXELS
        ),
        "encode": Signature("encode", **images, output_name="codes", outputs=latent_dim),
        "decode": Signature("decode", "codes", latent_dim, "reconstructions", PIXELS),
    }


def _unnamed(tensor, signature: Signature, where: str):
    """`tensor`, or its value when given as {input_name: value}."""
    if isinstance(tensor, dict):
        if list(tensor) != [signature.input_name]:
            raise InvalidInput(
                f"{where} names inputs {sorted(tensor)}; signature "
                f"'{signature.name}' has the one input '{signature.input_name}'"
            )
        return tensor[signature.input_name]
    return tensor


def _batch(rows, signature: Signature, max_batch: int, where: str) -> np.ndarray:
    """`rows` (a list of equal-length number lists) as a checked float32 [N, features] array."""
    if not isinstance(rows, list):
        raise InvalidInput(f"{where} must be a list of instances, got {type(rows).__name__}")
    if not rows:
        raise InvalidInput(f"{where} is an empty batch")
    if len(rows) > max_batch:  # Before the rows become an array.
        raise InvalidInput(
            f"{where} holds {len(rows)} instances, more than --max_batch {max_batch}"
        )
    try:
        x = np.array(rows)
    except ValueError:
        raise InvalidInput(f"{where}: instances of unequal lengths") from None
    return checked(x, signature, max_batch, where)


def checked(x: np.ndarray, signature: Signature, max_batch: int, where: str) -> np.ndarray:
    """The array `x` (from JSON or a TensorProto) as a checked float32 [N, features] batch."""
    if x.ndim and not len(x):
        raise InvalidInput(f"{where} is an empty batch")
    if x.ndim and len(x) > max_batch:
        raise InvalidInput(f"{where} holds {len(x)} instances, more than --max_batch {max_batch}")
    if x.ndim != 2 or x.shape[1] != signature.features:
        raise InvalidInput(
            f"{where} has shape {list(x.shape)}, expected [N, "
            f"{signature.features}] for '{signature.input_name}'"
        )
    if x.dtype.kind not in "fiu":
        raise InvalidInput(f"{where} holds non-numbers (strings, nulls or booleans)")
    low, high = x.min(), x.max()
    if not (low >= signature.low and high <= signature.high):
        raise InvalidInput(
            f"{where} values span [{low:g}, {high:g}], signature "
            f"'{signature.name}' accepts [{signature.low:g}, {signature.high:g}]"
        )
    return x.astype(np.float32)


def parse(body, signatures_by_name: dict[str, Signature], max_batch: int) -> Request:
    """The checked request of a JSON `body` (decoded by KServe, or bytes when the client sent
    no JSON content type, as curl -d does); InvalidInput (HTTP 400) names the problem."""
    if isinstance(body, (bytes, str)):
        try:
            body = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise InvalidInput(f"the request body is not JSON: {e}") from None
    if not isinstance(body, dict):
        raise InvalidInput(f"the request body must be a JSON object, got {type(body).__name__}")
    name = body.get("signature_name", "serving_default")
    signature = signatures_by_name.get(name) if isinstance(name, str) else None
    if signature is None:
        raise InvalidInput(
            f"unknown signature_name {name!r}; this model has {', '.join(signatures_by_name)}"
        )
    if ("instances" in body) == ("inputs" in body):
        raise InvalidInput(
            "the request must have exactly one of 'instances' (row format) or "
            "'inputs' (columnar format)"
        )
    if "inputs" in body:
        rows = _unnamed(body["inputs"], signature, "'inputs'")
        return Request(signature, _batch(rows, signature, max_batch, "'inputs'"), True)
    instances = body["instances"]
    if isinstance(instances, list) and instances and isinstance(instances[0], dict):
        instances = [
            _unnamed(i, signature, "an instance") if isinstance(i, dict) else None
            for i in instances
        ]
    return Request(signature, _batch(instances, signature, max_batch, "'instances'"), False)


def response(request: Request, outputs: np.ndarray) -> dict:
    """TF Serving's answer: the single output tensor, unnamed, per row or as a column."""
    return {"outputs": outputs} if request.columnar else {"predictions": outputs}
