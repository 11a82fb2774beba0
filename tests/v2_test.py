"""The Open Inference Protocol adapter (export/serving/v2.py) on KServe's own request types, as
its REST (JSON) and gRPC (raw bytes) endpoints build them; the refusals in one line."""

import asyncio

import numpy as np
import prometheus_client
from absl.testing import absltest, parameterized
from grpc_interceptor.exceptions import DeadlineExceeded
from kserve.errors import InvalidInput
from kserve.protocol.grpc.grpc_predict_v2_pb2 import ModelInferRequest
from kserve.protocol.infer_type import InferInput, InferRequest

from keras_dae.export.serving import v2
from keras_dae.export.serving.model import AutoencoderModel
from tests.servable_fixtures import SERVABLE, SIGNATURES

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


def v2_grpc_counted(status: str) -> float:
    labels = {"model_name": "dae", "version": "2", "signature": "decode", "protocol": "v2_grpc"}
    found = prometheus_client.REGISTRY.get_sample_value(
        ":tensorflow:serving:request_count_total", {**labels, "status": status}
    )
    return found or 0.0


class Remaining:
    """A servicer context with `remaining` seconds to its deadline."""

    def __init__(self, remaining):
        self.remaining = remaining

    def time_remaining(self):
        return self.remaining


class CancelledInferTest(parameterized.TestCase):
    """A V2 infer cancelled under the model (grpc cancels the call's task at its deadline, or
    when its client leaves): before, the cancel slipped past the model's `except Exception` and
    was counted OK."""

    @parameterized.parameters(
        (Remaining(0.0), "DEADLINE_EXCEEDED"), (Remaining(5.0), "CANCELLED"),
        (Remaining(None), "CANCELLED"), (None, "CANCELLED"),
        # Within the slack (a client's cancel at its own deadline arrives first), and past it.
        (Remaining(0.005), "DEADLINE_EXCEEDED"), (Remaining(0.05), "CANCELLED"),
    )  # fmt: skip
    def test_counted_as_it_ended(self, context, status):
        started = asyncio.Event()

        async def never_answers(served, name, x):
            started.set()
            await asyncio.Event().wait()

        model = AutoencoderModel("dae", 8, never_answers)
        model.swap(SERVABLE)

        async def run():
            v2.GRPC_CONTEXT.set(context)  # As kserve_internals sets it for the call.
            task = asyncio.ensure_future(model.predict(grpc_request()))
            await started.wait()
            task.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await task

        before, ok = v2_grpc_counted(status), v2_grpc_counted("OK")
        asyncio.run(run())
        self.assertEqual((v2_grpc_counted(status), v2_grpc_counted("OK")), (before + 1, ok))

    def test_answered_past_its_deadline_is_deadline_exceeded(self):
        """A model call that never yields (LiteRT's) outran the deadline: its answer was sent,
        and counted, OK."""

        async def answered(served, name, x):
            return np.zeros((len(x), 784), np.float32)

        model = AutoencoderModel("dae", 8, answered)
        model.swap(SERVABLE)

        async def run(context):
            v2.GRPC_CONTEXT.set(context)
            return await model.predict(grpc_request())

        late, ok = v2_grpc_counted("DEADLINE_EXCEEDED"), v2_grpc_counted("OK")
        with self.assertRaises(DeadlineExceeded):
            asyncio.run(run(Remaining(0.0)))
        self.assertEqual(asyncio.run(run(Remaining(5.0))).model_version, "2")
        self.assertEqual(asyncio.run(run(None)).model_version, "2")
        self.assertEqual(
            (v2_grpc_counted("DEADLINE_EXCEEDED"), v2_grpc_counted("OK")), (late + 1, ok + 2)
        )


if __name__ == "__main__":
    absltest.main()
