"""The TensorFlow-free TF Serving classes (export/serving/tfs_protos.py) against Google's own
tensorflow-serving-api: every message the server reads or writes crosses byte for byte."""

import numpy as np
from absl.testing import absltest
from google.protobuf import text_format
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    predict_pb2,
    prediction_log_pb2,
)
from tensorflow_serving.config import model_server_config_pb2

from keras_dae.export.serving import tfs_protos

CONFIG = """
model_config_list {
  config {
    name: "dae"
    base_path: "/models/dae/saved_model"
    model_platform: "tensorflow"
    model_version_policy { specific { versions: 1 versions: 2 } }
    version_labels { key: "stable" value: 1 }
  }
}
"""


def crossed(ours, theirs_type):
    """`ours` serialized and parsed as Google's `theirs_type`, and back."""
    theirs = theirs_type.FromString(ours.SerializeToString())
    again = type(ours).FromString(theirs.SerializeToString())
    return theirs, again


class WireTest(absltest.TestCase):
    def test_predict_request_and_response(self):
        request = tfs_protos.predict_pb2.PredictRequest()
        request.model_spec.name = "dae"
        request.model_spec.version_label = "canary"
        request.model_spec.signature_name = "encode"
        tensor = request.inputs["images"]
        tensor.dtype = tfs_protos.types_pb2.DT_FLOAT
        tensor.tensor_shape.dim.add(size=1)
        tensor.tensor_shape.dim.add(size=3)
        tensor.tensor_content = np.arange(3, dtype="<f4").tobytes()
        theirs, again = crossed(request, predict_pb2.PredictRequest)
        self.assertEqual(theirs.model_spec.version_label, "canary")
        self.assertEqual([d.size for d in theirs.inputs["images"].tensor_shape.dim], [1, 3])
        self.assertEqual(again, request)
        response = tfs_protos.predict_pb2.PredictResponse()
        response.model_spec.version.value = 7
        response.outputs["codes"].float_val.extend([0.5, 1.5])
        theirs, again = crossed(response, predict_pb2.PredictResponse)
        self.assertEqual(list(theirs.outputs["codes"].float_val), [0.5, 1.5])
        self.assertEqual(theirs.model_spec.version.value, 7)
        self.assertEqual(again, response)

    def test_metadata_any_unpacks_as_tf_servings_signature_def_map(self):
        signatures = tfs_protos.get_model_metadata_pb2.SignatureDefMap()
        signatures.signature_def["encode"].method_name = "tensorflow/serving/predict"
        response = tfs_protos.get_model_metadata_pb2.GetModelMetadataResponse()
        metadata = response.metadata["signature_def"]
        metadata.type_url = tfs_protos.SIGNATURE_DEF_MAP_TYPE_URL
        metadata.value = signatures.SerializeToString()
        theirs, _ = crossed(response, get_model_metadata_pb2.GetModelMetadataResponse)
        unpacked = get_model_metadata_pb2.SignatureDefMap()
        self.assertTrue(theirs.metadata["signature_def"].Unpack(unpacked))
        self.assertEqual(unpacked.signature_def["encode"].method_name, "tensorflow/serving/predict")

    def test_model_status(self):
        response = tfs_protos.get_model_status_pb2.GetModelStatusResponse()
        status = response.model_version_status.add(version=2)
        status.state = tfs_protos.get_model_status_pb2.ModelVersionStatus.AVAILABLE
        status.status.error_code = tfs_protos.error_codes_pb2.OK
        theirs, again = crossed(response, get_model_status_pb2.GetModelStatusResponse)
        self.assertEqual(theirs.model_version_status[0].state, 30)  # AVAILABLE
        self.assertEqual(again, response)

    def test_model_server_config_text_parses_alike(self):
        ours = text_format.Parse(CONFIG, tfs_protos.model_server_config_pb2.ModelServerConfig())
        theirs = text_format.Parse(CONFIG, model_server_config_pb2.ModelServerConfig())
        self.assertEqual(ours.SerializeToString(), theirs.SerializeToString())

    def test_prediction_log(self):
        log = tfs_protos.prediction_log_pb2.PredictionLog()
        log.predict_log.request.model_spec.signature_name = "decode"
        log.predict_log.request.inputs["codes"].float_val.append(1.0)
        theirs, again = crossed(log, prediction_log_pb2.PredictionLog)
        self.assertEqual(theirs.predict_log.request.model_spec.signature_name, "decode")
        self.assertEqual(again, log)


if __name__ == "__main__":
    absltest.main()
