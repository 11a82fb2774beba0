"""TensorFlow Serving's messages for our one-input, one-output signatures: a PredictRequest
checked into a float32 batch with the REST body's checks and messages, its PredictResponse, the
SignatureDefMap of GetModelMetadata (gRPC, and REST's metadata as JSON) and version statuses."""

import grpc
import numpy as np
from kserve.errors import InvalidInput

from keras_dae.export.serving import protocol, tensors
from keras_dae.export.serving.tfs_protos import (
    SIGNATURE_DEF_MAP_TYPE_URL,
    error_codes_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    meta_graph_pb2,
    predict_pb2,
    types_pb2,
)

PREDICT_METHOD = "tensorflow/serving/predict"

DEFAULT_SIGNATURE = "serving_default"
SIGNATURE_DEF = "signature_def"  # The one metadata field TF Serving serves.
# A client's cancel at its own deadline reaches the server before the server's deadline (later by
# the request's way there): taken as the deadline within this much.
DEADLINE_SLACK_S = 0.01


def expired(context) -> bool:
    """Whether the call of servicer `context` is past its deadline (False without one, or
    without a context: REST)."""
    remaining = context.time_remaining() if context is not None else None
    return remaining is not None and remaining <= 0


def ended_status(context) -> grpc.StatusCode:
    """The status of a call cancelled under its servicer (grpc.aio's, or grpc_asgi's at the
    call's deadline): DEADLINE_EXCEEDED once its deadline has passed, else CANCELLED (its
    client went away); `context` None for a call with none (REST)."""
    remaining = context.time_remaining() if context is not None else None
    if remaining is not None and remaining <= DEADLINE_SLACK_S:
        return grpc.StatusCode.DEADLINE_EXCEEDED
    return grpc.StatusCode.CANCELLED


def signature_of(name: str, signatures: dict[str, protocol.Signature]) -> protocol.Signature:
    """The signature `name` names (TF Serving's default for none); InvalidInput for another."""
    signature = signatures.get(name or DEFAULT_SIGNATURE)
    if signature is None:
        raise InvalidInput(
            f"unknown signature_name {name!r}; this model has {', '.join(signatures)}"
        )
    return signature


def parse(
    request: predict_pb2.PredictRequest, signatures: dict[str, protocol.Signature], max_batch: int
) -> tuple[protocol.Signature, np.ndarray]:
    """(signature, checked [N, features] float32 batch) of `request`."""
    signature = signature_of(request.model_spec.signature_name, signatures)
    if list(request.inputs) != [signature.input_name]:
        raise InvalidInput(
            f"the request names inputs {sorted(request.inputs)}; signature "
            f"'{signature.name}' has the one input '{signature.input_name}'"
        )
    check_output_filter(request.output_filter, signature)
    where = f"input '{signature.input_name}'"
    x = tensors.from_proto(request.inputs[signature.input_name], where)
    return signature, protocol.checked(x, signature, max_batch, where)


def check_output_filter(output_filter, signature: protocol.Signature) -> None:
    """InvalidInput, in TF Serving's words, for an `output_filter` naming an output the signature
    lacks or one twice (empty, or naming the one output: that output answered)."""
    seen = set()
    for alias in output_filter:
        if alias != signature.output_name:
            raise InvalidInput(
                f"output tensor alias not found in signature: {alias} Outputs expected to be "
                f"in the set {{{signature.output_name}}}."
            )
        if alias in seen:
            raise InvalidInput(f"duplicate output tensor alias: {alias}")
        seen.add(alias)


def check_metadata_fields(fields) -> None:
    """InvalidInput, in TF Serving's words, unless GetModelMetadata asks for signature_def only
    (once or more)."""
    if not fields:
        raise InvalidInput("GetModelMetadataRequest must specify at least one metadata_field")
    for field in fields:
        if field != SIGNATURE_DEF:
            raise InvalidInput(f"Metadata field {field} is not supported")


def response(
    signature: protocol.Signature, outputs: np.ndarray, model_name: str, version: int
) -> predict_pb2.PredictResponse:
    """TF Serving's answer: the signature's output tensor by name, the version that ran it."""
    answer = predict_pb2.PredictResponse()
    answer.model_spec.name = model_name
    answer.model_spec.version.value = version
    answer.model_spec.signature_name = signature.name
    tensors.fill_proto(answer.outputs[signature.output_name], outputs)
    return answer


def no_signature_of(verb: str, model_name: str) -> str:
    """The refusal of :classify and :regress (REST 400, gRPC INVALID_ARGUMENT)."""
    return (
        f"model '{model_name}' has no {verb} signatures: each of its signatures is a predict "
        f"signature ({PREDICT_METHOD}); use :predict"
    )


def _tensor_info(name: str, width: int) -> meta_graph_pb2.TensorInfo:
    info = meta_graph_pb2.TensorInfo(name=name, dtype=types_pb2.DT_FLOAT)
    info.tensor_shape.dim.add(size=-1)
    info.tensor_shape.dim.add(size=width)
    return info


def signature_def_map(
    signatures: dict[str, protocol.Signature],
) -> get_model_metadata_pb2.SignatureDefMap:
    """The signatures as the SavedModel declares them: [-1, width] float inputs and outputs."""
    found = get_model_metadata_pb2.SignatureDefMap()
    for signature in signatures.values():
        definition = found.signature_def[signature.name]
        definition.method_name = PREDICT_METHOD
        definition.inputs[signature.input_name].CopyFrom(
            _tensor_info(f"{signature.name}_{signature.input_name}:0", signature.features)
        )
        definition.outputs[signature.output_name].CopyFrom(
            _tensor_info("StatefulPartitionedCall:0", signature.outputs)
        )
    return found


def metadata_response(
    model_name: str, version: int, signatures: dict[str, protocol.Signature]
) -> get_model_metadata_pb2.GetModelMetadataResponse:
    """GetModelMetadata's answer: the version and its SignatureDefMap, packed as TF Serving
    packs it (the type URL its clients unpack)."""
    answer = get_model_metadata_pb2.GetModelMetadataResponse()
    answer.model_spec.name = model_name
    answer.model_spec.version.value = version
    packed = answer.metadata[SIGNATURE_DEF]
    packed.type_url = SIGNATURE_DEF_MAP_TYPE_URL
    packed.value = signature_def_map(signatures).SerializeToString()
    return answer


def status_response(versions: list[int]) -> get_model_status_pb2.GetModelStatusResponse:
    """GetModelStatus's answer: each version AVAILABLE, status OK (what is served is loaded)."""
    answer = get_model_status_pb2.GetModelStatusResponse()
    for version in sorted(versions, reverse=True):
        status = answer.model_version_status.add(version=version)
        status.state = get_model_status_pb2.ModelVersionStatus.AVAILABLE
        status.status.error_code = error_codes_pb2.OK
    return answer
