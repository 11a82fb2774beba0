"""TensorFlow Serving's warm-up file for a SavedModel: one PredictionLog per signature, on real
inputs (a test digit, its code), which TF Serving and our server replay before serving it."""

import os

import numpy as np
import tensorflow as tf

from keras_dae.export import layout
from keras_dae.export.serving import protocol, tensors
from keras_dae.export.serving.tfs_protos import prediction_log_pb2


def records(signatures: dict[str, protocol.Signature], inputs: dict[str, np.ndarray]) -> list:
    """One PredictionLog per signature, its input the row of `inputs` named by its input name."""
    logs = []
    for signature in signatures.values():
        log = prediction_log_pb2.PredictionLog()
        request = log.predict_log.request
        request.model_spec.signature_name = signature.name
        request.inputs[signature.input_name].CopyFrom(
            tensors.to_proto(inputs[signature.input_name][:1])
        )
        logs.append(log)
    return logs


def write(saved_model: str, logs: list) -> None:
    """assets.extra/tf_serving_warmup_requests in the SavedModel folder `saved_model`."""
    path = os.path.join(saved_model, *layout.WARMUP_REQUESTS.split("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
