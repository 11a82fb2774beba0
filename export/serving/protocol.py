"""TensorFlow Serving's REST predict format (row `instances`, columnar `inputs`) for one-input,
one-output signatures: request bodies checked into a float32 batch, results shaped as TF Serving
shapes them (a single output tensor is not wrapped in its name). No TensorFlow here."""

import dataclasses
import re

import numpy as np
import orjson
from kserve.errors import InvalidInput
from starlette.responses import Response

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


# A JSON string (a key when a colon follows) or a bracket: all a row count needs, found in C.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"\s*:?|[\[\]{}]')
_BATCH_KEYS = {b'"instances"', b'"inputs"'}


def over_max_batch(body: bytes, max_batch: int) -> str | None:
    """Without parsing `body`: the 400 line when its 'instances' or 'inputs' hold more than
    `max_batch` rows (a 31 MB body is refused in ms, where orjson took 0.5 s and 8x its size);
    None when they do not, or when the body is no request's shape (the parser says why)."""
    if body.count(b"[") <= max_batch + 1:  # A batch of n rows has n + 1 brackets: not over.
        return None
    stack, key, rows = [], None, 0
    for tokens, match in enumerate(_TOKENS.finditer(body)):
        token = match[0]
        if tokens > 8 * max_batch + 64 or len(stack) > 4:  # Not a request's shape.
            return None
        if token[0] == ord('"'):
            if len(stack) == 1 and token[-1] == ord(":"):
                key = token[:-1].rstrip()
        elif token in b"[{":
            # A row opens in the batch's list: instances: [row, ...], inputs: [row, ...] or
            # inputs: {name: [row, ...]}.
            if key in _BATCH_KEYS and stack[1:] in ([b"["], [b"{", b"["]):
                rows += 1
                if rows > max_batch:
                    name = key.decode().strip('"')
                    return f"'{name}' holds more than --max_batch {max_batch} instances"
            stack.append(token)
        elif stack:
            stack.pop()
    return None


def json_response(content: dict, status: int = 200, headers=None) -> Response:
    return Response(orjson.dumps(content), status, headers, media_type="application/json")


def error_body(message: str) -> bytes:
    """TF Serving's error body: {"error": "<one line>"}."""
    return orjson.dumps({"error": message})


def error_response(status: int, message: str, headers=None) -> Response:
    return Response(error_body(message), status, headers, media_type="application/json")


def response(request: Request, outputs: np.ndarray) -> dict:
    """TF Serving's answer: the single output tensor, unnamed, per row or as a column."""
    return {"outputs": outputs} if request.columnar else {"predictions": outputs}
