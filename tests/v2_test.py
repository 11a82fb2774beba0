"""The Open Inference Protocol adapter (export/serving/v2.py) on KServe's own request types, as
its REST (JSON) and gRPC (raw bytes) endpoints build them; the refusals in one line."""

import numpy as np
from absl.testing import absltest, parameterized
from kserve.errors import InvalidInput
from kserve.protocol.grpc.grpc_predict_v2_pb2 import ModelInferRequest
from kserve.protocol.infer_type import InferInput, InferRequest

from keras_dae.export.serving import v2
from tests.servable_fixtures import SIGNATURES

CODES = np.full((2, 4), 0.5, np.float32)


def grpc_request(name="codes", signature="decode", datatype="FP32", x=CODES) -> InferRequest:
    message = ModelInferRequest(model_name="dae", id="7")
    message.inputs.add(name=name, datatype=datatype, shape=list(x.shape))
    message.raw_input_contents.append(x.tobytes())
    message.parameters["signature_name"].string_param = signature
    return InferRequest.from_grpc(message)


class V2Test(parameterized.TestCase):
    def test_grpc_raw_inputs_get_raw_outputs(self):
        request = grpc_request()
        signature, x = v2.parse(request, SIGNATURES, 8)
        np.testing.assert_array_equal(x, CODES)
        answer = v2.response(request, signature, np.ones((2, 784), np.float32), "dae", 2).to_grpc()
        self.assertEqual((answer.model_version, answer.outputs[0].name), ("2", "reconstructions"))
        self.assertEqual(list(answer.outputs[0].shape), [2, 784])
        raw = np.frombuffer(answer.raw_output_contents[0], np.float32)
        np.testing.assert_array_equal(raw, np.ones(2 * 784))

    def test_rest_json_defaults_to_serving_default(self):
        request = InferRequest("dae", [InferInput("images", [1, 784], "FP32", [0.25] * 784)], "1")
        signature, x = v2.parse(request, SIGNATURES, 8)
        self.assertEqual((signature.name, x.shape), ("serving_default", (1, 784)))
        body, _ = v2.response(request, signature, x, "dae", 1).to_rest()
        self.assertEqual(body["outputs"][0]["name"], "reconstructions")
        self.assertEqual(body["outputs"][0]["data"][:2], [0.25, 0.25])

    @parameterized.parameters(
        (grpc_request(signature="sideways"), "unknown signature_name 'sideways'"),
        (grpc_request(name="images"), "the request names inputs \\['images'\\]"),
        (grpc_request(datatype="BYTES"), "has datatype BYTES; it takes FP32"),
        (grpc_request(x=np.ones((9, 4), np.float32)), "holds 9 instances, more than --max_batch"),
        (grpc_request(x=np.full((1, 4), np.nan, np.float32)), "values span"),
    )
    def test_refusals(self, request, message):
        with self.assertRaisesRegex(InvalidInput, message):
            v2.parse(request, SIGNATURES, 8)


if __name__ == "__main__":
    absltest.main()
