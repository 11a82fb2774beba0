"""Every protocol against a real server (two LiteRT workers) from a --model_config_file of the AE
and the DAE, the DAE's version 1 `stable` and 2 (the AE's weights) `canary`, with real clients:
Google's tensorflow-serving-api stubs, tritonclient (http and grpc), prometheus_client's parser;
then the config file changed under back-to-back requests, and labels of versions not served."""

import functools
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter

import grpc
import numpy as np
import tensorflow as tf
from absl.testing import absltest, parameterized
from kserve.protocol.grpc import grpc_predict_v2_pb2, grpc_predict_v2_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from keras_dae.export import layout
from keras_dae.export.serving import worker_metrics
from tests.cli import ROOT, CliAssertions, run_module
from tests.export_fixtures import publish_test_version, train_tiny_run
from tests.idx_fixtures import write_mnist_dir
from tests.serving_fixtures import (
    Server,
    free_port,
    publish_copy,
    request,
    wait_until,
    withdraw,
)

REQUEST_COUNT = ":tensorflow:serving:request_count_total"
IMAGES = np.linspace(0, 1, 3 * 784, dtype=np.float32).reshape(3, 784)
MAX_BODY = 1 << 20
# tritonclient's gRPC classes and KServe's declare the same `inference` protobuf package, which
# one process cannot load twice: the clients run in their own.
TRITON = """
import sys, numpy as np, tritonclient.grpc, tritonclient.http, tritonclient.utils
x = np.linspace(0, 1, 3 * 784, dtype=np.float32).reshape(3, 784)
for module, url, out in zip((tritonclient.http, tritonclient.grpc), sys.argv[1:3], sys.argv[3:5]):
    client = module.InferenceServerClient(url)
    assert client.is_model_ready("ae")
    tensor = module.InferInput("images", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    answer = client.infer("ae", [tensor], parameters={"signature_name": "encode"})
    np.save(out, answer.as_numpy("codes"))
    # Refusals keep their status (gRPC: KServe's own error mapping): an unknown model, a tensor
    # of the wrong width.
    wrong = module.InferInput("images", [1, 3], "FP32")
    wrong.set_data_from_numpy(np.zeros((1, 3), np.float32))
    for name, inputs, grpc_code, http_code in (
        ("nope", [tensor], "StatusCode.NOT_FOUND", "404"),
        ("ae", [wrong], "StatusCode.INVALID_ARGUMENT", "400"),
    ):
        try:
            client.infer(name, inputs)
            raise SystemExit(f"{name}: answered")
        except tritonclient.utils.InferenceServerException as e:
            code = grpc_code if module is tritonclient.grpc else http_code
            assert e.status() == code, (name, e.status(), e.message())
    assert client.is_server_live()  # And the next request is answered.
    client.close()
"""
# The DAE's version 1 by model_version, then a version not served: [version, status, message].
TRITON_VERSIONS = """
import json, sys, numpy as np, tritonclient.grpc, tritonclient.http
from tritonclient.utils import InferenceServerException
x = np.linspace(0, 1, 3 * 784, dtype=np.float32).reshape(3, 784)
answers = {}
for module, url, out in zip((tritonclient.http, tritonclient.grpc), sys.argv[1:3], sys.argv[3:5]):
    client = module.InferenceServerClient(url)
    tensor = module.InferInput("images", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    answer = client.infer("dae", [tensor], model_version="1")
    np.save(out, answer.as_numpy("reconstructions"))
    response = answer.get_response()
    version = response["model_version"] if isinstance(response, dict) else response.model_version
    try:
        client.infer("dae", [tensor], model_version="7")
    except InferenceServerException as e:
        answers[module.__name__] = [version, str(e.status()), e.message()]
    # Readiness and metadata of a version: served, not served.
    ready = [client.is_model_ready("dae", v) for v in ("1", "2", "7")]
    metadata = client.get_model_metadata("dae", "1")
    name = metadata["name"] if isinstance(metadata, dict) else metadata.name
    try:
        client.get_model_metadata("dae", "7")
        refused = "answered"
    except InferenceServerException as e:
        refused = [str(e.status()), e.message()]
    answers[module.__name__] += [ready, name, refused]
    client.close()
print(json.dumps(answers))
"""


def model_config(
    models: dict[str, str],
    labels: dict[str, int],
    policy: str = "specific { versions: 1 versions: 2 }",
) -> str:
    """TF Serving's ModelServerConfig text: `models` name -> export; the `dae` entry serves
    the versions of `policy` (default 1 and 2) with `labels`."""
    entries = []
    for name, export_dir in models.items():
        extra = ""
        if name == "dae":
            extra = f"model_version_policy {{ {policy} }}\n" + "".join(
                f'version_labels {{ key: "{k}" value: {v} }}\n' for k, v in labels.items()
            )
        base_path = os.path.join(export_dir, layout.SAVED_MODEL)
        entries.append(f'config {{ name: "{name}" base_path: "{base_path}"\n{extra}}}')
    return "model_config_list {\n" + "\n".join(entries) + "\n}\n"


def write_config(path: str, text: str) -> None:
    """Replaces the file whole, as an operator's deploy does (never read half-written)."""
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def predict_request(model="dae", signature="serving_default", x=IMAGES, **spec):
    message = predict_pb2.PredictRequest()
    message.model_spec.name = model
    message.model_spec.signature_name = signature
    if "version" in spec:
        message.model_spec.version.value = spec["version"]
    if "label" in spec:  # One of a oneof with the version.
        message.model_spec.version_label = spec["label"]
    message.inputs["codes" if signature == "decode" else "images"].CopyFrom(tf.make_tensor_proto(x))
    return message


def post(port: int, path: str, body: bytes, headers: dict | None = None) -> int:
    """The status of one POST of `body` (JSON, with `headers`), on its own connection; a body
    the server refused before reading it all is answered all the same (the client's write
    fails once the server has closed: the answer is already in the socket)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(
            "POST", path, body, {"Content-Type": "application/json", **(headers or {})}
        )
    except BrokenPipeError:
        pass
    status = connection.getresponse().status
    connection.close()
    return status


def samples(text: str) -> dict:
    """{(name, sorted labels): value} of a Prometheus exposition."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def settled_samples(url: str) -> dict:
    """The samples once every worker's snapshot holds its counts (another worker's reach a
    scrape within SNAPSHOT_SECONDS): two scrapes that agree, 2.5 SNAPSHOT_SECONDS apart."""
    last = samples(request(url, method="GET")[2])
    for _ in range(20):
        time.sleep(2.5 * worker_metrics.SNAPSHOT_SECONDS)
        now = samples(request(url, method="GET")[2])
        if now == last:
            return now
        last = now
    raise AssertionError(f"{url}: the workers' counts did not settle")


@functools.cache
def shared_exports() -> tuple[str, dict[str, str], str]:
    """(folder, {name: export}, config file): the AE and DAE exports, the DAE's version 2 the
    AE's weights, and their config (stable 1, canary 2); made once for both test classes."""
    tmp = tempfile.mkdtemp(prefix="serve_protocols_test-")
    data_dir = os.path.join(tmp, "mnist")
    os.makedirs(data_dir)
    write_mnist_dir(data_dir, n_train=300, n_test=10)
    exports = {}
    for name, noise in (("ae", False), ("dae", True)):
        run = train_tiny_run(os.path.join(tmp, name), data_dir=data_dir, add_noise=noise)
        exports[name] = os.path.join(tmp, name, "export")
        publish_test_version(exports[name], run.workdir)
    publish_copy(exports["dae"], source=exports["ae"])  # dae 2: the AE's weights.
    config = os.path.join(tmp, "models.config")
    write_config(config, model_config(exports, {"stable": 1, "canary": 2}))
    return tmp, exports, config


class ServeProtocolsTest(parameterized.TestCase, CliAssertions):
    GRPC_FLAGS = ()  # Each worker's grpc.aio server (the default).
    GRPC_OVERSIZE_COUNTED = 0  # grpc's core refuses it before Python sees it.

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        shared, cls.exports, cls.config = shared_exports()
        cls.tmp = tempfile.mkdtemp(prefix=f"{cls.__name__}-", dir=shared)  # The class's own files.
        cls.server = cls.start(workers=2)
        cls.channel = grpc.insecure_channel(f"127.0.0.1:{cls.server.grpc_port}")
        cls.predict = prediction_service_pb2_grpc.PredictionServiceStub(cls.channel)
        cls.models = model_service_pb2_grpc.ModelServiceStub(cls.channel)

    @classmethod
    def start(cls, workers: int, config: str | None = None, *flags: str) -> Server:
        config = config or cls.config
        log = os.path.join(cls.tmp, f"server-{workers}-{len(os.listdir(cls.tmp))}.log")
        server = Server(
            None,
            log,
            f"--model_config_file={config}",
            "--model_config_file_poll_wait_seconds=0.2",
            "--runtime=litert",
            f"--max_body_bytes={MAX_BODY}",
            *cls.GRPC_FLAGS,
            *flags,
            workers=workers,
        )
        server.wait_ready()
        return server

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.stop()
        super().tearDownClass()

    def rest(self, path: str, signature="serving_default", x=IMAGES, server=None) -> np.ndarray:
        server = server or self.server
        url = f"http://127.0.0.1:{server.port}/v1/models/{path}:predict"
        body = {"signature_name": signature, "instances": x.tolist()}
        status, _, text = request(url, body, content_type="application/json")
        self.assertEqual(status, 200, text)
        return np.asarray(json.loads(text)["predictions"], np.float32)

    def grpc_outputs(self, **kwargs) -> np.ndarray:
        (output,) = self.predict.Predict(predict_request(**kwargs), 30).outputs.values()
        return tf.make_ndarray(output)

    @parameterized.parameters("serving_default", "encode", "decode")
    def test_tfs_grpc_predict_equals_rest(self, signature):
        x = self.rest("dae", "encode") if signature == "decode" else IMAGES
        rest = self.rest("dae", signature, x)
        np.testing.assert_array_equal(self.grpc_outputs(signature=signature, x=x), rest)

    def test_tfs_grpc_metadata_and_status(self):
        message = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        message.model_spec.name = "dae"
        response = self.predict.GetModelMetadata(message, 30)
        signatures = get_model_metadata_pb2.SignatureDefMap()
        self.assertTrue(response.metadata["signature_def"].Unpack(signatures))
        self.assertCountEqual(signatures.signature_def, ["serving_default", "encode", "decode"])
        images = signatures.signature_def["serving_default"].inputs["images"]
        self.assertEqual([d.size for d in images.tensor_shape.dim], [-1, 784])
        status = get_model_status_pb2.GetModelStatusRequest()
        status.model_spec.name = "dae"
        versions = self.models.GetModelStatus(status, 30).model_version_status
        self.assertCountEqual([(v.version, v.state) for v in versions], [(1, 30), (2, 30)])

    @parameterized.parameters(
        ({"model": "nope"}, "NOT_FOUND"),
        ({"label": "beta"}, "NOT_FOUND"),
        ({"version": 7}, "NOT_FOUND"),
        ({"signature": "sideways"}, "INVALID_ARGUMENT"),
        ({"x": np.full((1, 784), 2.0, np.float32)}, "INVALID_ARGUMENT"),
        ({"x": np.zeros((400, 784), np.float32)}, "RESOURCE_EXHAUSTED"),
    )
    def test_tfs_grpc_bad_request_gets_its_code_then_next_is_answered(self, spec, code):
        with self.assertRaises(grpc.RpcError) as raised:
            self.predict.Predict(predict_request(**spec), 30)
        self.assertEqual(raised.exception.code().name, code)
        self.assertNotIn("\n", raised.exception.details())
        self.assertEqual(self.grpc_outputs().shape, (3, 784))

    def test_labels_and_versions_reach_their_model(self):
        stable, canary, ae = (
            self.rest("dae/versions/1"),
            self.rest("dae/versions/2"),
            self.rest("ae"),
        )
        self.assertFalse(np.array_equal(stable, ae))
        np.testing.assert_array_equal(canary, ae)
        np.testing.assert_array_equal(self.rest("dae/labels/stable"), stable)
        np.testing.assert_array_equal(self.rest("dae/labels/canary"), ae)
        np.testing.assert_array_equal(self.rest("dae"), ae)  # The highest version.
        np.testing.assert_array_equal(self.grpc_outputs(label="stable"), stable)
        np.testing.assert_array_equal(self.grpc_outputs(version=2), ae)

    def test_tritonclient_http_and_grpc_equal_rest(self):
        expected = self.rest("ae", "encode")
        outs = [os.path.join(self.tmp, f"triton-{kind}.npy") for kind in ("http", "grpc")]
        urls = [f"127.0.0.1:{self.server.port}", f"127.0.0.1:{self.server.grpc_port}"]
        run = subprocess.run(
            [sys.executable, "-c", TRITON, *urls, *outs], cwd=ROOT, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
        self.assertEqual(run.returncode, 0, run.stderr[-2000:])
        for out in outs:
            np.testing.assert_array_equal(np.load(out), expected)
        status, _, text = request(f"http://{urls[0]}/v2/models/ae", method="GET")
        self.assertEqual(status, 200, text)
        self.assertEqual(
            json.loads(text)["inputs"], [{"name": "images", "datatype": "FP32", "shape": [-1, 784]}]
        )

    def test_the_repository_api_cannot_unload_a_model(self):
        """KServe's repository API unloaded a model from the worker it reached, for any client
        (that worker's V2 answers then NOT_FOUND, uncounted, until a restart); TF Serving's
        calls it does not serve are refused without a traceback (grpc.aio logged one)."""
        base = f"http://127.0.0.1:{self.server.port}/v2/repository/models/dae"
        v2 = grpc_predict_v2_pb2_grpc.GRPCInferenceServiceStub(self.channel)
        calls = (
            (v2.RepositoryModelUnload, grpc_predict_v2_pb2.RepositoryModelUnloadRequest),
            (v2.RepositoryModelLoad, grpc_predict_v2_pb2.RepositoryModelLoadRequest),
        )
        for _ in range(4):  # REST's new connections reach either worker.
            for verb in ("unload", "load"):
                status, _, text = request(f"{base}/{verb}", {})
                self.assertEqual(status, 501, text)
                self.assertIn("--model_config_file", json.loads(text)["error"])
            for call, message in calls:
                with self.assertRaises(grpc.RpcError) as raised:
                    call(message(model_name="dae"), 30)
                self.assertEqual(raised.exception.code(), grpc.StatusCode.UNIMPLEMENTED)
                self.assertIn("--model_config_file", raised.exception.details())
        refused = (
            (self.predict.MultiInference, inference_pb2.MultiInferenceRequest()),
            (self.models.HandleReloadConfigRequest, model_management_pb2.ReloadConfigRequest()),
        )
        for call, message in refused:
            with self.assertRaises(grpc.RpcError) as raised:
                call(message, 30)
            self.assertEqual(raised.exception.code(), grpc.StatusCode.UNIMPLEMENTED)
        for _ in range(8):  # Still served by every worker.
            self.assertEqual(self.v2_rest("")[0], 200)
            self.assertEqual(self.grpc_outputs().shape, IMAGES.shape)
        self.assertNotIn("Traceback", self.server.log_text())

    def v2_rest(self, path: str):
        """(status, headers, text) of a V2 REST infer of IMAGES by the DAE at `path`."""
        url = f"http://127.0.0.1:{self.server.port}/v2/models/dae{path}/infer"
        tensor = {"name": "images", "shape": [3, 784], "datatype": "FP32"}
        body = {"inputs": [{**tensor, "data": IMAGES.ravel().tolist()}]}
        return request(url, body, content_type="application/json")

    @parameterized.parameters(("/versions/1", "1"), ("/versions/2", "2"), ("", "2"))
    def test_v2_rest_url_naming_a_version_is_answered_by_it(self, path, version):
        status, headers, text = self.v2_rest(path)
        self.assertEqual(status, 200, text)
        answer = json.loads(text)
        self.assertEqual((headers["X-Model-Version"], answer["model_version"]), (version, version))
        outputs = np.asarray(answer["outputs"][0]["data"], np.float32).reshape(3, 784)
        np.testing.assert_array_equal(outputs, self.rest(f"dae/versions/{version}"))

    @parameterized.parameters(
        ("/versions/7", 404, "Servable not found for request: Specific(dae, 7)"),
        ("/versions/x", 400, "version 'x' is not a number"),
    )
    def test_v2_rest_url_naming_a_version_not_served(self, path, code, error):
        status, _, text = self.v2_rest(path)
        self.assertEqual((status, json.loads(text)), (code, {"error": error}))
        self.assertEqual(self.v2_rest("")[0], 200)

    def test_tritonclient_model_version_picks_the_version(self):
        outs = [os.path.join(self.tmp, f"triton-v1-{kind}.npy") for kind in ("http", "grpc")]
        urls = [f"127.0.0.1:{self.server.port}", f"127.0.0.1:{self.server.grpc_port}"]
        run = subprocess.run(
            [sys.executable, "-c", TRITON_VERSIONS, *urls, *outs], cwd=ROOT, capture_output=True,
            text=True, timeout=120,
        )  # fmt: skip
        self.assertEqual(run.returncode, 0, run.stderr[-2000:])
        stable = self.rest("dae/versions/1")
        for out in outs:
            np.testing.assert_array_equal(np.load(out), stable)
        missing = "Servable not found for request: Specific(dae, 7)"
        ready = [True, True, False]
        self.assertEqual(
            json.loads(run.stdout),
            {
                "tritonclient.http": ["1", "404", missing, ready, "dae", ["404", missing]],
                "tritonclient.grpc": [
                    "1", "StatusCode.NOT_FOUND", missing, ready, "dae",
                    ["StatusCode.NOT_FOUND", missing],
                ],
            },
        )  # fmt: skip

    def test_bodies_refused_before_the_app_are_counted(self):
        server = self.start(1)  # One worker: the body it holds leaves no room for another.
        metrics_url = f"http://127.0.0.1:{server.port}/metrics"
        before = samples(request(metrics_url, method="GET")[2])
        big, rows = b"0" * (MAX_BODY + 1), b'{"instances": [' + b"[0]," * 1024 + b"[0]]}"
        br = {"Content-Encoding": "br"}
        sent = [  # (path, body, headers, status, counted as model, version, protocol)
            ("/v1/models/dae:predict", big, {}, 413, "dae", "", "rest"),
            ("/v1/models/dae:predict", big, {}, 413, "dae", "", "rest"),
            ("/v1/models/dae/versions/2:predict", big, {}, 413, "dae", "2", "rest"),
            ("/v1/models/dae/labels/stable:predict", rows, {}, 400, "dae", "", "rest"),
            ("/v2/models/ae/infer", b"{}", br, 415, "ae", "", "v2_rest"),
            ("/v2/models/ae/versions/1/infer", big, {}, 413, "ae", "1", "v2_rest"),
        ]
        codes = {400: "INVALID_ARGUMENT", 413: "RESOURCE_EXHAUSTED", 415: "INVALID_ARGUMENT"}
        expected = Counter()
        for path, body, headers, status, *counted in sent:
            self.assertEqual(post(server.port, path, body, headers), status, path)
            expected[(*counted, codes[status])] += 1
        held = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        try:
            held.putrequest("POST", "/v1/models/dae:predict")
            held.putheader("Content-Length", str(MAX_BODY))  # Holds all of --max_inflight_bytes.
            held.endheaders(b"{")
            body = json.dumps({"instances": IMAGES[:1].tolist()}).encode()
            statuses = [post(server.port, "/v1/models/dae:predict", body)]
            while statuses[-1] != 503 and len(statuses) < 10:  # Until the held body is admitted.
                statuses.append(post(server.port, "/v1/models/dae:predict", body))
            self.assertEqual(statuses[-1], 503)
            expected[("dae", "", "rest", "UNAVAILABLE")] += 1
            after = samples(request(metrics_url, method="GET")[2])
        finally:
            held.close()
            server.stop()

        def counted(model, version, protocol, status):
            labels = (
                ("model_name", model), ("protocol", protocol), ("signature", "serving_default"),
                ("status", status), ("version", version),
            )  # fmt: skip
            key = (":tensorflow:serving:request_count_total", labels)
            return after.get(key, 0) - before.get(key, 0)

        self.assertEqual({key: counted(*key) for key in expected}, dict(expected))

    def test_start_refuses_a_label_of_a_version_not_served_unless_allowed(self):
        path = os.path.join(self.tmp, "unserved-label.config")
        write_config(path, model_config({"dae": self.exports["dae"]}, {"stable": 1}, "latest {}"))
        run = run_module(
            "export.serve", f"--model_config_file={path}", "--runtime=litert",
            f"--port={free_port()}", "--grpc_port=0",
        )  # fmt: skip
        self.assert_one_line_error(
            run,
            "export.serve",
            f"{path}: model 'dae': label 'stable' names version 1, which is not served",
        )
        server = self.start(1, path, "--allow_version_labels_for_unavailable_models")
        try:
            url = f"http://127.0.0.1:{server.port}/v1/models/dae/labels/stable:predict"
            status, _, text = request(url, {"instances": IMAGES[:1].tolist()})
        finally:
            server.stop()
        error = "Servable not found for request: Specific(dae, 1)"
        self.assertEqual((status, json.loads(text)), (404, {"error": error}))

    def test_labels_of_versions_not_served_at_a_reload_and_after_a_withdrawal(self):
        export_dir = os.path.join(self.tmp, "labelled")
        shutil.copytree(self.exports["dae"], export_dir)
        path = os.path.join(self.tmp, "labelled.config")
        write_config(path, model_config({"dae": export_dir}, {"stable": 1, "canary": 2}, "all {}"))
        server = self.start(1, path)
        url = f"http://127.0.0.1:{server.port}/v1/models"
        channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        def answer(pick: str) -> tuple:  # (status, X-Model-Version or the error body)
            status, headers, text = request(f"{url}/{pick}:predict", {"instances": [[0.0] * 784]})
            return status, headers["X-Model-Version"] if status == 200 else json.loads(text)

        try:
            grown = {"dae": export_dir, "ae": self.exports["ae"]}
            write_config(path, model_config(grown, {"stable": 1, "canary": 3}, "all {}"))
            self.assertTrue(wait_until(lambda: "not reloaded" in server.log_text(), 30))
            self.assertIn(
                f"model config not reloaded, the old one serves on: {path}: model 'dae': label "
                "'canary' names version 3, which is not served\n",
                server.log_text(),
            )
            self.assertEqual(answer("dae/labels/canary"), (200, "2"))  # The old configuration.
            self.assertEqual(request(f"{url}/ae", method="GET")[0], 404)

            withdraw(export_dir, 2)

            def grpc_answer() -> tuple:  # (code, details) of a Predict by the label
                try:
                    stub.Predict(predict_request(label="canary"), 30)
                    return grpc.StatusCode.OK, ""
                except grpc.RpcError as e:
                    return e.code(), e.details()

            # Each process (a gRPC worker too) sees the withdrawal at its own next poll.
            self.assertTrue(wait_until(lambda: answer("dae/labels/canary")[0] == 404, 30))
            self.assertTrue(wait_until(lambda: grpc_answer()[0] != grpc.StatusCode.OK, 30))
            self.assertIn(
                f"{path}: model 'dae': label 'canary' names version 2, which is not served: it "
                "answers NOT_FOUND until that version is served\n",
                server.log_text(),
            )
            missing = "Servable not found for request: Specific(dae, 2)"
            self.assertEqual(answer("dae/labels/canary"), (404, {"error": missing}))
            self.assertEqual(grpc_answer(), (grpc.StatusCode.NOT_FOUND, missing))
            self.assertEqual(answer("dae/labels/stable"), (200, "1"))
            self.assertIsNone(server.process.poll())
        finally:
            channel.close()
            server.stop()

    def test_metrics_count_requests_per_protocol_and_status(self):
        url = f"http://127.0.0.1:{self.server.port}/monitoring/prometheus/metrics"
        before = settled_samples(url)
        for _ in range(3):
            self.rest("ae/versions/1")
            self.grpc_outputs(model="ae")
        with self.assertRaises(grpc.RpcError):
            self.predict.Predict(predict_request(model="ae", signature="sideways"), 30)
        bad = request(
            f"http://127.0.0.1:{self.server.port}/v1/models/ae:predict", {"instances": [[2.0]]}
        )
        self.assertEqual(bad[0], 400)
        # Names no model has: counted, but not as series of their own (a scan of made-up names
        # would grow the metrics for as long as the server runs).
        models = f"http://127.0.0.1:{self.server.port}/v1/models"
        self.assertEqual(request(f"{models}/made-up-1:predict", {})[0], 404)
        with self.assertRaises(grpc.RpcError):
            self.predict.Predict(predict_request(model="made-up-2"), 30)
        huge = b"0" * (MAX_BODY + 1)  # Over --max_body_bytes.
        self.assertEqual(
            post(self.server.port, "/v1/models/made-up-3/versions/9:predict", huge), 413
        )
        with self.assertRaises(grpc.RpcError) as raised:
            self.predict.Predict(
                predict_request(model="made-up-5", x=np.zeros((400, 784), np.float32)), 30
            )
        self.assertEqual(raised.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertEqual(self.v2_rest("/versions/7")[0], 404)  # A served model's: counted once.
        v2 = grpc_predict_v2_pb2_grpc.GRPCInferenceServiceStub(self.channel)
        with self.assertRaises(grpc.RpcError) as raised:
            v2.ModelInfer(grpc_predict_v2_pb2.ModelInferRequest(model_name="made-up-4"), timeout=30)
        self.assertEqual(raised.exception.code(), grpc.StatusCode.NOT_FOUND)
        predict_methods = (
            "/tensorflow.serving.PredictionService/Predict",
            "/inference.GRPCInferenceService/ModelInfer",
        )
        for method in predict_methods:
            with self.assertRaises(grpc.RpcError) as raised:  # Not a message of the method's.
                self.channel.unary_unary(method)(b"\xff\xff not a protobuf", timeout=30)
            self.assertEqual(raised.exception.code(), grpc.StatusCode.INTERNAL, method)
            self.assertEqual(raised.exception.details(), "Exception deserializing request!")
        self.assertNotIn("Traceback", self.server.log_text())  # A client's error: one line.
        after = settled_samples(url)
        self.assertFalse(
            [key for key in after if any("made-up" in value for _, value in key[1])], after.keys()
        )
        kserve_path = samples(request(url.replace("/monitoring/prometheus", ""), method="GET")[2])
        self.assertEqual(kserve_path, after)  # Either path, either worker: the same sums.

        def sent(protocol, status, version="1", signature="serving_default", model="ae"):
            labels = (
                ("model_name", model), ("protocol", protocol), ("signature", signature),
                ("status", status), ("version", version),
            )  # fmt: skip
            key = (":tensorflow:serving:request_count_total", labels)
            return after.get(key, 0) - before.get(key, 0)

        self.assertEqual(sent("rest", "OK"), 3)
        self.assertEqual(sent("grpc", "OK"), 3)
        self.assertEqual(sent("grpc", "INVALID_ARGUMENT", signature=""), 1)  # Not "sideways".
        self.assertEqual(sent("rest", "INVALID_ARGUMENT"), 1)
        self.assertEqual(sent("rest", "NOT_FOUND", version="", model=""), 1)
        self.assertEqual(sent("grpc", "NOT_FOUND", version="", model=""), 1)
        self.assertEqual(sent("rest", "RESOURCE_EXHAUSTED", version="", model=""), 1)
        oversize = sent("grpc", "RESOURCE_EXHAUSTED", version="", model="")
        self.assertEqual(oversize, self.GRPC_OVERSIZE_COUNTED)
        self.assertEqual(sent("v2_rest", "NOT_FOUND", version="", model="dae"), 1)
        self.assertEqual(sent("v2_grpc", "NOT_FOUND", version="", model=""), 1)
        self.assertEqual(sent("grpc", "INTERNAL", version="", model=""), 1)
        self.assertEqual(sent("v2_grpc", "INTERNAL", version="", model=""), 1)

    def test_totals_only_grow_whichever_worker_answers_the_scrape(self):
        url = f"http://127.0.0.1:{self.server.port}/metrics"
        stop, totals = threading.Event(), []

        def client():
            while not stop.is_set():
                self.rest("ae", x=IMAGES[:1])

        threads = [threading.Thread(target=client) for _ in range(2)]
        for thread in threads:
            thread.start()
        try:
            for _ in range(60):  # Both workers answer some: one connection each.
                found = samples(request(url, method="GET")[2])
                totals.append(sum(v for (name, _), v in found.items() if name == REQUEST_COUNT))
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        self.assertGreater(totals[-1], totals[0])
        self.assertEqual(totals, sorted(totals))

    def test_config_changes_under_load_fail_no_request(self):
        server = self.start(workers=1)
        failures, answered, stop = [], [0], threading.Event()

        def client():
            while not stop.is_set():
                for path in ("dae", "dae/versions/1"):
                    url = f"http://127.0.0.1:{server.port}/v1/models/{path}:predict"
                    status, _, text = request(url, {"instances": IMAGES[:1].tolist()})
                    if status != 200:
                        failures.append(f"{path}: {status} {text}")
                    answered[0] += 1

        thread = threading.Thread(target=client)
        thread.start()
        try:
            ae_outputs = self.rest("ae")
            relabelled = {"stable": 2, "canary": 1}
            write_config(self.config, model_config(self.exports, relabelled))

            def stable_is_ae():
                return np.array_equal(self.rest("dae/labels/stable", server=server), ae_outputs)

            self.assertTrue(wait_until(stable_is_ae, 30))
            grown = {**self.exports, "ae2": self.exports["ae"]}
            write_config(self.config, model_config(grown, relabelled))
            ae2 = f"http://127.0.0.1:{server.port}/v1/models/ae2"
            self.assertTrue(wait_until(lambda: request(ae2, method="GET")[0] == 200, 30))
            write_config(self.config, model_config({"dae": self.exports["dae"]}, relabelled))
            ae = f"http://127.0.0.1:{server.port}/v1/models/ae"
            self.assertTrue(wait_until(lambda: request(ae, method="GET")[0] == 404, 30))
            write_config(self.config, "model_config_list { config { name: 7 } }")
            self.assertTrue(wait_until(lambda: "not reloaded" in server.log_text(), 30))
        finally:
            stop.set()
            thread.join(60)
            write_config(self.config, model_config(self.exports, {"stable": 1, "canary": 2}))
            server.stop()
        self.assertEqual(failures, [])
        self.assertGreater(answered[0], 10)


class EnvoyProtocolsTest(ServeProtocolsTest):
    """The same clients, with gRPC answered by Envoy's worker (--grpc_server=envoy)."""

    GRPC_FLAGS = ("--grpc_server=envoy",)
    GRPC_OVERSIZE_COUNTED = 1  # grpc_asgi.py's refusal, counted.


if __name__ == "__main__":
    absltest.main()
