"""The Open Inference Protocol (KServe V2) for our signatures, on KServe's own InferRequest and
InferResponse (REST and gRPC alike): one input, named as the signature's, of a number type; the
signature named by the request's `signature_name` parameter, TF Serving's default otherwise; the
version named by the URL (REST) or `model_version` (gRPC), the highest otherwise."""

import contextvars
import re
import uuid
from collections.abc import Callable

import numpy as np
from grpc_interceptor.exceptions import Unimplemented
from kserve.errors import InvalidInput, ModelNotFound, ModelNotReady
from kserve.protocol.grpc.grpc_predict_v2_pb2 import ModelReadyResponse
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

from keras_dae.export.serving import grpc_protocol, protocol
from keras_dae.export.serving.servables import version_number

NUMBER_TYPES = ("FP32", "FP64", "FP16", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16")
# A V2 URL naming a version: its infer, its ready, or (no suffix) its metadata.
VERSIONED_URL = re.compile(r"(/v2/models/[^/]+)/versions/([^/]+)(/infer|/ready)?")
_url_version: contextvars.ContextVar[str | None] = contextvars.ContextVar("v2_url", default=None)
# The servicer context of the V2 gRPC call this task runs (kserve_internals sets it): its deadline
# says how a call cancelled under the model ended.
GRPC_CONTEXT: contextvars.ContextVar = contextvars.ContextVar("v2_grpc_context", default=None)
# KServe's model repository API would load and unload a model in the one worker it reached, for
# any client: the models are the config's.
REPOSITORY_METHODS = ("RepositoryModelLoad", "RepositoryModelUnload")
REPOSITORY_PATHS = (
    "/v2/repository/models/{model_name}/load",
    "/v2/repository/models/{model_name}/unload",
)
REPOSITORY_OFF = (
    "the model repository's load and unload are not served: the models served are those of "
    "--model_config_file (applied when it changes) or --export_dir"
)
# A version's problem for a model's name and the version named: (HTTP status, line), or None.
VersionCheck = Callable[[str, str], tuple[int, str] | None]


class VersionedUrls:
    """ASGI middleware: `/v2/models/<m>/versions/<v>[/infer|/ready]` answered by KServe's route
    of `/v2/models/<m>[/infer|/ready]` (its own versioned ones answer 501): <v> kept for
    `requested_version` (infer), or checked by `check` first (ready, metadata: KServe's answer
    does not depend on the version)."""

    def __init__(self, app, check: VersionCheck):
        self.app, self.check = app, check

    async def __call__(self, scope, receive, send):
        match = VERSIONED_URL.fullmatch(scope["path"]) if scope["type"] == "http" else None
        if match is None:
            return await self.app(scope, receive, send)
        if match[3] != "/infer":
            problem = self.check(match[1].rsplit("/", 1)[1], match[2])
            if problem is not None:
                return await protocol.error_response(*problem)(scope, receive, send)
        token = _url_version.set(match[2])
        try:
            await self.app(dict(scope, path=match[1] + (match[3] or "")), receive, send)
        finally:
            _url_version.reset(token)


def version_problem(lookup, model_name: str, version: str) -> tuple[int, str] | None:
    """The REST status and line of `version` of `model_name` when it is not served (None when
    it is): 404 in TF Serving's words, 400 for a version not a number, 503 while not ready."""
    try:
        lookup(model_name).pick(version_number(version), None)
    except InvalidInput as e:
        return 400, str(e)
    except ModelNotFound as e:
        return 404, str(e)
    except ModelNotReady as e:
        return 503, str(e)
    return None


def grpc_answer_before(lookup, method: str, request):
    """A V2 gRPC call answered before KServe's servicer: the repository's load and unload
    refused (UNIMPLEMENTED); ModelReady / ModelMetadata naming a version (KServe ignores it):
    ready False for one not served, NOT_FOUND for its metadata, INVALID_ARGUMENT for a version
    not a number; None: KServe answers."""
    if method in REPOSITORY_METHODS:
        raise Unimplemented(REPOSITORY_OFF)  # KServe's interceptor answers it, unlogged.
    if method not in ("ModelReady", "ModelMetadata") or not request.version:
        return None
    number = version_number(request.version)
    try:
        servable = lookup(request.name)  # A model not configured: NOT_FOUND.
    except ModelNotReady:
        if method == "ModelReady":
            return ModelReadyResponse(ready=False)
        raise
    if method == "ModelReady":
        return None if number in servable.versions else ModelReadyResponse(ready=False)
    servable.pick(number, None)  # NOT_FOUND, in TF Serving's words.
    return None


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
