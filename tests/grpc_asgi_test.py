"""gRPC's unary calls as an ASGI app (export/serving/grpc_asgi.py), driven in process as an ASGI
server drives it: TF Serving's services registered by their generated code, answers and status
codes in the trailers, message framing, compression, limits, metadata, lifespan."""

import asyncio
import gzip
import struct
import time
import urllib.parse
import zlib

import grpc
import numpy as np
from absl.testing import absltest, parameterized
from kserve import ModelServer
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from keras_dae.export.serving import grpc_asgi, kserve_internals, refusals, tfs_grpc
from keras_dae.export.serving.model import AutoencoderModel
from tests.servable_fixtures import SERVABLE, infer, lookup
from tests.tfs_grpc_test import predict_request, requests_counted
from tests.v2_test import grpc_request, v2_grpc_counted

PREDICT = "/tensorflow.serving.PredictionService/Predict"
MAX_BYTES = 16 << 10


def framed(message: bytes, compressed: bool = False) -> bytes:
    return struct.pack(">?I", compressed, len(message)) + message


def call(app, body: bytes, path=PREDICT, headers=(), chunk=1 << 20, query=b""):
    """(HTTP status, response body, trailers as a dict) of one request, its body sent in chunks."""
    chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]
    events = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    sent = []

    async def receive():
        return events.pop(0) if events else {"type": "http.disconnect"}

    async def send(event):
        sent.append(event)

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "query_string": query,
        "headers": [(b"content-type", b"application/grpc"), *headers],
    }
    asyncio.run(app(scope, receive, send))
    start = sent[0]
    body = b"".join(e.get("body", b"") for e in sent if e["type"] == "http.response.body")
    trailers = {
        k.decode(): v.decode()
        for e in sent
        if e["type"] == "http.response.trailers"
        for k, v in e["headers"]
    }
    return start["status"], body, trailers


class Recorder(tfs_grpc.PredictionService):
    """Predict that also keeps the call's metadata."""

    seen = None

    async def Predict(self, request, context):
        Recorder.seen = context.invocation_metadata()
        return await super().Predict(request, context)


class GrpcAsgiTest(parameterized.TestCase):
    def setUp(self):
        super().setUp()
        self.app = grpc_asgi.Server(MAX_BYTES)
        tfs_grpc.add_services(self.app, lookup, infer, max_batch=8)
        self.request = predict_request(version=2)

    def assertStatus(self, trailers, code: grpc.StatusCode, details: str = ""):
        self.assertEqual(int(trailers["grpc-status"]), code.value[0], trailers)
        self.assertIn(details, urllib.parse.unquote(trailers.get("grpc-message", "")))

    def test_predict_answers_as_the_servicer(self):
        status, body, trailers = call(self.app, framed(self.request.SerializeToString()))
        self.assertEqual(status, 200)
        self.assertStatus(trailers, grpc.StatusCode.OK)
        self.assertEqual(body[0], 0)
        self.assertEqual(struct.unpack(">I", body[1:5])[0], len(body) - 5)
        answer = predict_pb2.PredictResponse.FromString(body[5:])
        self.assertEqual(answer.model_spec.version.value, 2)
        (output,) = answer.outputs.values()
        values = (
            np.frombuffer(output.tensor_content, np.float32)
            if output.tensor_content
            else (np.asarray(output.float_val, np.float32))
        )
        np.testing.assert_allclose(values, 0.25 * 784 * 2, rtol=1e-6)

    def test_body_in_many_chunks(self):
        _, body, trailers = call(self.app, framed(self.request.SerializeToString()), chunk=7)
        self.assertStatus(trailers, grpc.StatusCode.OK)
        self.assertGreater(len(body), 5)

    @parameterized.parameters(
        ("gzip", lambda m: gzip.compress(m)),
        ("deflate", lambda m: zlib.compress(m)),
    )
    def test_compressed_request(self, encoding, compress):
        body = framed(compress(self.request.SerializeToString()), compressed=True)
        _, _, trailers = call(self.app, body, headers=[(b"grpc-encoding", encoding.encode())])
        self.assertStatus(trailers, grpc.StatusCode.OK)

    def test_gzip_bomb_stops_at_the_limit(self):
        bomb = framed(gzip.compress(b"\0" * (MAX_BYTES * 64)), compressed=True)
        self.assertLess(len(bomb), MAX_BYTES)
        _, body, trailers = call(self.app, bomb, headers=[(b"grpc-encoding", b"gzip")])
        self.assertStatus(trailers, grpc.StatusCode.RESOURCE_EXHAUSTED, "larger than max")
        self.assertEqual(body, b"")

    @parameterized.named_parameters(
        ("cut_short", lambda m: gzip.compress(m)[:-8]),  # Its CRC and size gone.
        ("junk_after", lambda m: gzip.compress(m) + b"junk"),
        ("not_gzip", lambda m: m),
    )
    def test_gzip_message_not_one_whole_stream_is_internal(self, damage):
        body = framed(damage(self.request.SerializeToString()), compressed=True)
        _, _, trailers = call(self.app, body, headers=[(b"grpc-encoding", b"gzip")])
        self.assertStatus(trailers, grpc.StatusCode.INTERNAL, "gzip")

    def test_long_details_are_cut(self):
        bad = predict_request(name="x" * 70_000)  # Over MAX_BYTES: a roomier app.
        app = grpc_asgi.Server(1 << 20)
        tfs_grpc.add_services(app, lookup, infer, max_batch=8)
        _, _, trailers = call(app, framed(bad.SerializeToString()))
        self.assertStatus(trailers, grpc.StatusCode.NOT_FOUND, "Servable not found")
        self.assertLessEqual(len(trailers["grpc-message"]), grpc_asgi.MAX_DETAILS)
        self.assertTrue(trailers["grpc-message"].endswith("..."))

    def test_unknown_encoding_is_unimplemented(self):
        body = framed(b"x", compressed=True)
        _, _, trailers = call(self.app, body, headers=[(b"grpc-encoding", b"snappy")])
        self.assertStatus(trailers, grpc.StatusCode.UNIMPLEMENTED, "'snappy'")

    def test_message_over_the_limit_refused_from_its_length_prefix(self):
        body = struct.pack(">?I", False, MAX_BYTES + 1) + b"\0" * 10  # Only the start sent.
        _, _, trailers = call(self.app, body)
        self.assertStatus(
            trailers,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"Received message larger than max ({MAX_BYTES + 1} vs. {MAX_BYTES})",
        )

    @parameterized.named_parameters(
        ("empty", b""),
        ("short_prefix", b"\0\0\0"),
        ("truncated", struct.pack(">?I", False, 100) + b"\0" * 10),
        ("two_messages", framed(b"") + framed(b"")),
    )
    def test_bad_framing_is_internal(self, body):
        _, _, trailers = call(self.app, body)
        self.assertStatus(trailers, grpc.StatusCode.INTERNAL)

    def test_message_not_a_request_is_internal(self):
        _, _, trailers = call(self.app, framed(b"\xff\xff\xff"))
        self.assertStatus(trailers, grpc.StatusCode.INTERNAL, "Exception deserializing request!")

    def test_servicer_error_code_and_its_line_then_next_is_answered(self):
        bad = predict_request(name="nöpe")
        _, _, trailers = call(self.app, framed(bad.SerializeToString()))
        self.assertStatus(trailers, grpc.StatusCode.NOT_FOUND, "nöpe")
        self.assertTrue(trailers["grpc-message"].isascii())  # Percent-encoded, as gRPC's spec.
        _, _, trailers = call(self.app, framed(self.request.SerializeToString()))
        self.assertStatus(trailers, grpc.StatusCode.OK)

    def test_unregistered_method_and_the_base_servicers_unimplemented(self):
        _, _, trailers = call(self.app, framed(b""), path="/tensorflow.serving.Nope/Predict")
        self.assertStatus(trailers, grpc.StatusCode.UNIMPLEMENTED, "Method not found!")
        path = "/tensorflow.serving.PredictionService/MultiInference"
        _, _, trailers = call(self.app, framed(b""), path=path)
        self.assertStatus(trailers, grpc.StatusCode.UNIMPLEMENTED, "MultiInference runs classify")
        bare = grpc_asgi.Server(MAX_BYTES)  # A generated base servicer: set_code, then raise.
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            prediction_service_pb2_grpc.PredictionServiceServicer(), bare
        )
        _, _, trailers = call(bare, framed(b""), path=path)
        self.assertStatus(trailers, grpc.StatusCode.UNIMPLEMENTED, "Method not implemented!")
        message = framed(self.request.SerializeToString())  # A method name with a query: none.
        _, _, trailers = call(self.app, message, query=b"x=1")
        self.assertStatus(trailers, grpc.StatusCode.UNIMPLEMENTED, "Method not found!")

    def test_client_gone_before_its_message_gets_no_answer(self):
        sent = []

        async def receive():
            return {"type": "http.disconnect"}

        async def send(event):
            sent.append(event)

        scope = {
            "type": "http",
            "method": "POST",
            "path": PREDICT,
            "headers": [(b"content-type", b"application/grpc")],
        }
        with self.assertNoLogs("kserve", "ERROR"):
            asyncio.run(self.app(scope, receive, send))
        self.assertEqual(sent, [])

    def test_not_grpc_is_415(self):
        async def receive():
            return {"type": "http.request", "body": b"{}", "more_body": False}

        sent = []

        async def send(event):
            sent.append(event)

        for headers in ([], [(b"content-type", b"application/grpc-web")]):
            scope = {"type": "http", "method": "POST", "path": PREDICT, "headers": headers}
            sent.clear()
            asyncio.run(self.app(scope, receive, send))
            self.assertEqual(sent[0]["status"], 415, headers)
        _, _, trailers = call(  # gRPC's own subtypes are gRPC.
            self.app,
            framed(self.request.SerializeToString()),
            headers=[(b"content-type", b"application/grpc+proto")],
        )
        self.assertStatus(trailers, grpc.StatusCode.OK)

    @parameterized.named_parameters(
        ("body_read_first", 4, 4, 0),  # A 415 before the body ended was a stream reset to curl.
        ("over_the_limit_not_read_on", 40, 5, 35),
    )
    def test_not_grpc_body_read_before_its_415(self, chunks, read, left):
        events = [
            {"type": "http.request", "body": b"x" * 4096, "more_body": i < chunks - 1}
            for i in range(chunks)
        ]
        sent = []

        async def receive():
            return events.pop(0)

        async def send(event):
            sent.append((event, len(events)))

        scope = {"type": "http", "method": "PUT", "path": "/", "headers": []}
        asyncio.run(self.app(scope, receive, send))
        self.assertEqual((sent[0][0]["status"], sent[0][1]), (415, left))
        self.assertEqual(chunks - len(events), read)

    def test_not_grpc_client_gone_gets_no_answer(self):
        events = [{"type": "http.request", "body": b"x", "more_body": True}]
        sent = []

        async def receive():
            return events.pop(0) if events else {"type": "http.disconnect"}

        async def send(event):
            sent.append(event)

        scope = {"type": "http", "method": "PUT", "path": "/", "headers": []}
        asyncio.run(self.app(scope, receive, send))
        self.assertEqual(sent, [])

    @parameterized.parameters(
        (b"1S", 1.0), (b"250m", 0.25), (b"99999999u", 99.999999), (b"2M", 120.0), (b"1H", 3600.0),
        (b"5n", 5e-9), (None, None), (b"", None), (b"1", None), (b"S", None), (b"-1S", None),
        (b"1.5S", None), (b"123456789S", None), (b"1s", None),
    )  # fmt: skip
    def test_grpc_timeout_header(self, header, seconds):
        found = grpc_asgi.timeout_s(header)
        self.assertEqual(found if found is None else round(found, 12), seconds)

    def test_deadline_passed_is_deadline_exceeded_and_counted(self):
        async def never_answers(served, name, x):
            await asyncio.Event().wait()

        app = grpc_asgi.Server(MAX_BYTES, refused=refusals.count_grpc_refusal)
        tfs_grpc.add_services(app, lookup, never_answers, max_batch=8)
        before = requests_counted("DEADLINE_EXCEEDED")
        unnamed = requests_counted("DEADLINE_EXCEEDED", model="", version="")
        with self.assertNoLogs("kserve", "ERROR"):
            _, body, trailers = call(
                app, framed(self.request.SerializeToString()), headers=[(b"grpc-timeout", b"50m")]
            )
        self.assertStatus(trailers, grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
        self.assertEqual((body, requests_counted("DEADLINE_EXCEEDED")), (b"", before + 1))
        # Counted once, by the servicer: not as a refusal too.
        self.assertEqual(requests_counted("DEADLINE_EXCEEDED", model="", version=""), unnamed)
        _, _, trailers = call(  # A deadline not reached: answered.
            self.app, framed(self.request.SerializeToString()), headers=[(b"grpc-timeout", b"9S")]
        )
        self.assertStatus(trailers, grpc.StatusCode.OK)

    def test_calls_refused_before_their_servicer_are_counted(self):
        app = grpc_asgi.Server(MAX_BYTES, refused=refusals.count_grpc_refusal)
        tfs_grpc.add_services(app, lookup, infer, max_batch=8)
        message = self.request.SerializeToString()
        refused = {
            "RESOURCE_EXHAUSTED": framed(b"\0" * (MAX_BYTES + 1)),
            "INTERNAL": framed(message)[:-1],  # Cut short.
            "UNIMPLEMENTED": framed(message, compressed=True),  # No grpc-encoding.
        }
        for status, body in refused.items():
            before = requests_counted(status, model="", version="")
            _, _, trailers = call(app, body)
            self.assertStatus(trailers, grpc.StatusCode[status])
            self.assertEqual(requests_counted(status, model="", version=""), before + 1, status)
        before = requests_counted("UNIMPLEMENTED", model="", version="")
        call(app, framed(message), path="/tensorflow.serving.PredictionService/Nothing")
        call(app, framed(message), query=b"x=1")  # Not Predict: a method of another name.
        self.assertEqual(requests_counted("UNIMPLEMENTED", model="", version=""), before)

    def test_answered_past_its_deadline_is_deadline_exceeded(self):
        """A model call that never yields (LiteRT's) outran the deadline: its answer was sent,
        and counted, OK."""

        async def blocking(served, name, x):
            time.sleep(0.1)
            return await infer(served, name, x)

        app = grpc_asgi.Server(MAX_BYTES, refused=refusals.count_grpc_refusal)
        tfs_grpc.add_services(app, lookup, blocking, max_batch=8)
        before, ok = requests_counted("DEADLINE_EXCEEDED"), requests_counted("OK")
        with self.assertNoLogs("kserve", "ERROR"):
            _, body, trailers = call(
                app, framed(self.request.SerializeToString()), headers=[(b"grpc-timeout", b"20m")]
            )
        self.assertStatus(trailers, grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
        self.assertEqual(body, b"")
        self.assertEqual(
            (requests_counted("DEADLINE_EXCEEDED"), requests_counted("OK")), (before + 1, ok)
        )

    def test_v2_infer_answered_past_its_deadline_is_deadline_exceeded(self):
        """The same for KServe's V2 servicer (its own interceptor answers the model's
        DeadlineExceeded): counted and sent OK before."""

        async def blocking(served, name, x):
            time.sleep(0.1)
            return await infer(served, name, x)

        server = ModelServer(enable_grpc=False)
        model = AutoencoderModel("dae", 8, blocking)
        model.swap(SERVABLE)
        server.register_model(model)
        app = grpc_asgi.Server(MAX_BYTES)
        kserve_internals.add_v2_grpc(app, server, lambda *_: None, lambda *_: None)
        message = grpc_request().to_grpc()
        infer_path = "/inference.GRPCInferenceService/ModelInfer"
        late, ok = v2_grpc_counted("DEADLINE_EXCEEDED"), v2_grpc_counted("OK")
        with self.assertNoLogs("kserve", "ERROR"):
            _, body, trailers = call(
                app, framed(message.SerializeToString()), infer_path, [(b"grpc-timeout", b"20m")]
            )
        self.assertStatus(trailers, grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
        self.assertEqual(body, b"")
        _, body, trailers = call(app, framed(message.SerializeToString()), infer_path)
        self.assertStatus(trailers, grpc.StatusCode.OK)
        self.assertEqual(
            (v2_grpc_counted("DEADLINE_EXCEEDED"), v2_grpc_counted("OK")), (late + 1, ok + 1)
        )

    def test_client_gone_before_its_message_came_is_counted_cancelled(self):
        events = [{"type": "http.request", "body": b"\0\0\0", "more_body": True}]

        async def receive():
            return events.pop(0) if events else {"type": "http.disconnect"}

        async def send(event):
            raise AssertionError(f"answered {event}")

        app = grpc_asgi.Server(MAX_BYTES, refused=refusals.count_grpc_refusal)
        tfs_grpc.add_services(app, lookup, infer, max_batch=8)
        scope = {"type": "http", "method": "POST", "path": PREDICT, "headers": [
            (b"content-type", b"application/grpc")]}  # fmt: skip
        before = requests_counted("CANCELLED", model="", version="")
        asyncio.run(app(scope, receive, send))
        self.assertEqual(requests_counted("CANCELLED", model="", version=""), before + 1)

    def test_deadline_passed_before_the_message_came_is_counted(self):
        async def receive():
            await asyncio.Event().wait()

        sent = []

        async def send(event):
            sent.append(event)

        app = grpc_asgi.Server(MAX_BYTES, refused=refusals.count_grpc_refusal)
        tfs_grpc.add_services(app, lookup, infer, max_batch=8)
        headers = [(b"content-type", b"application/grpc"), (b"grpc-timeout", b"20m")]
        scope = {"type": "http", "method": "POST", "path": PREDICT, "headers": headers}
        before = requests_counted("DEADLINE_EXCEEDED", model="", version="")
        asyncio.run(app(scope, receive, send))
        self.assertIn((b"grpc-status", b"4"), sent[-1]["headers"])
        self.assertEqual(requests_counted("DEADLINE_EXCEEDED", model="", version=""), before + 1)

    def test_metadata_without_the_transports_headers(self):
        app = grpc_asgi.Server(MAX_BYTES)
        tfs_grpc.add_services(app, lookup, infer, max_batch=8)
        app.methods[PREDICT] = app.handler(PREDICT)._replace(
            unary_unary=Recorder(lookup, infer, 8).Predict
        )
        headers = [(b"x-request-id", b"abc"), (b"te", b"trailers"), (b"grpc-timeout", b"5S")]
        _, _, trailers = call(app, framed(self.request.SerializeToString()), headers=headers)
        self.assertStatus(trailers, grpc.StatusCode.OK)
        self.assertEqual([(m.key, m.value) for m in Recorder.seen], [("x-request-id", "abc")])

    def test_lifespan_runs_startup_and_reports_its_failure(self):
        ran = []

        def failing():
            ran.append("startup")
            raise SystemExit(1)

        for startup, expected in ((lambda: ran.append("startup"), "complete"), (failing, "failed")):
            app = grpc_asgi.Server(MAX_BYTES, startup)
            events = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
            sent = []

            async def receive(events=events):
                return events.pop(0)

            async def send(event, sent=sent):
                sent.append(event)

            asyncio.run(app({"type": "lifespan"}, receive, send))
            self.assertEqual(sent[0]["type"], f"lifespan.startup.{expected}")
        self.assertEqual(ran, ["startup", "startup"])


if __name__ == "__main__":
    absltest.main()
