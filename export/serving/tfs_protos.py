"""TensorFlow Serving's protobuf classes without TensorFlow, from `ovmsclient` (OpenVINO Model
Server's client): the one PyPI package that ships them compiled and TensorFlow-free (README,
"TF Serving's protobufs"). Its proto packages are renamed `ovmsclient.*`; the wire format and the
text format do not carry package names, and the gRPC paths in its stubs are TF Serving's."""

from ovmsclient.tfs_compat.protos.tensorflow.core.framework import (
    tensor_pb2,
    tensor_shape_pb2,
    types_pb2,
)
from ovmsclient.tfs_compat.protos.tensorflow.core.protobuf import error_codes_pb2, meta_graph_pb2
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_log_pb2,
    prediction_service_pb2_grpc,
)
from ovmsclient.tfs_compat.protos.tensorflow_serving.config import model_server_config_pb2

# The one place a full name travels: GetModelMetadataResponse.metadata's Any, which TF Serving's
# clients Unpack() into their own tensorflow.serving.SignatureDefMap.
SIGNATURE_DEF_MAP_TYPE_URL = "type.googleapis.com/tensorflow.serving.SignatureDefMap"

__all__ = [
    "SIGNATURE_DEF_MAP_TYPE_URL",
    "error_codes_pb2",
    "get_model_metadata_pb2",
    "get_model_status_pb2",
    "meta_graph_pb2",
    "model_pb2",
    "model_server_config_pb2",
    "model_service_pb2_grpc",
    "predict_pb2",
    "prediction_log_pb2",
    "prediction_service_pb2_grpc",
    "tensor_pb2",
    "tensor_shape_pb2",
    "tf_names",
    "types_pb2",
]


def tf_names(text: str) -> str:
    """`text` (a protobuf error) with TF Serving's message names instead of the renamed ones."""
    return text.replace('"ovmsclient.', '"tensorflow.')
