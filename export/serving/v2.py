"""The Open Inference Protocol (KServe V2) for our signatures, on KServe's own InferRequest and
InferResponse (REST and gRPC alike): one input, named as the signature's, of a number type; the
signature named by the request's `signature_name` parameter, TF Serving's default otherwise; the
version named by the URL (REST) or `model_version` (gRPC), the highest otherwise."""

import contextvars
import re
import uuid

import numpy as np
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

from keras_dae.export.serving import grpc_protocol, protocol
from keras_dae.export.serving.servables import version_number

NUMBER_TYPES = ("FP32", "FP64", "FP16", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16")
VERSIONED_INFER = re.compile(r"(/v2/models/[^/]+)/versions/([^/]+)(/infer)")
_url_version: contextvars.ContextVar[str | None] = contextvars.ContextVar("v2_url", default=None)


class VersionedInfer:
    """ASGI middleware: `/v2/models/<m>/versions/<v>/infer` answered by KServe's route of
    `/v2/models/<m>/infer` (its own versioned one answers 501), <v> kept for `requested_version`."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        match = VERSIONED_INFER.fullmatch(scope["path"]) if scope["type"] == "http" else None
        if match is None:
            return await self.app(scope, receive, send)
        token = _url_version.set(match[2])
        try:
            await self.app(dict(scope, path=match[1] + match[3]), receive, send)
        finally:
            _url_version.reset(token)


def requested_version(request: InferRequest) -> int | None:
    """The version `request` names (None: the highest); InvalidInput for one not a number."""
    return version_number(
        (request.model_version if request.from_grpc else _url_version.get()) or None
    )


def _signature_name(parameters) -> str:
    """The `signature_name` parameter: a plain value in REST, an InferParameter in gRPC."""
    value = (parameters or {}).get("signature_name", "")
    return value if isinstance(value, str) else value.string_param


def parse(
    request: InferRequest, signatures: dict[str, protocol.Signature], max_batch: int
) -> tuple[protocol.Signature, np.ndarray]:
    """(signature, checked [N, features] float32 batch) of `request`; InvalidInput names what
    is wrong (HTTP 400, gRPC INVALID_ARGUMENT)."""
    signature = grpc_protocol.signature_of(_signature_name(request.parameters), signatures)
    names = [i.name for i in request.inputs]
    if names != [signature.input_name]:
        raise InvalidInput(
            f"the request names inputs {names}; signature '{signature.name}' has the one "
            f"input '{signature.input_name}'"
        )
    tensor, where = request.inputs[0], f"input '{signature.input_name}'"
    if tensor.datatype not in NUMBER_TYPES:
        raise InvalidInput(f"{where} has datatype {tensor.datatype}; it takes FP32")
    try:
        x = tensor.as_numpy()
    except (ValueError, TypeError) as e:
        raise InvalidInput(f"{where}: {e}") from None
    return signature, protocol.checked(x, signature, max_batch, where)


def response(
    request: InferRequest,
    signature: protocol.Signature,
    outputs: np.ndarray,
    model_name: str,
    version: int,
) -> InferResponse:
    """The signature's output tensor, binary when the request asks for it (as KServe decides);
    a request without an id gets a new one (KServe's response model requires one: a 500)."""
    output = InferOutput(signature.output_name, list(outputs.shape), "FP32")
    output.set_data_from_numpy(outputs, binary_data=request.use_binary_outputs)
    return InferResponse(
        request.id or str(uuid.uuid4()),
        model_name,
        [output],
        model_version=str(version),
        use_binary_outputs=request.use_binary_outputs,
    )
