"""TensorFlow Serving's gRPC Predict for our one-input, one-output signatures: a PredictRequest
checked into a float32 batch with the REST body's checks and messages, and its PredictResponse."""

import numpy as np
from kserve.errors import InvalidInput

from keras_dae.export.serving import protocol, tensors
from keras_dae.export.serving.tfs_protos import predict_pb2

DEFAULT_SIGNATURE = "serving_default"


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
    where = f"input '{signature.input_name}'"
    x = tensors.from_proto(request.inputs[signature.input_name], where)
    return signature, protocol.checked(x, signature, max_batch, where)


def response(
    signature: protocol.Signature, outputs: np.ndarray, model_name: str, version: int
) -> predict_pb2.PredictResponse:
    """TF Serving's answer: the signature's output tensor by name, the version that ran it."""
    answer = predict_pb2.PredictResponse()
    answer.model_spec.name = model_name
    answer.model_spec.version.value = version
    answer.model_spec.signature_name = signature.name
    answer.outputs[signature.output_name].CopyFrom(tensors.to_proto(outputs))
    return answer
