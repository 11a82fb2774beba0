"""Tests of `python -m export.serve` as real processes over real HTTP: TF Serving's formats and
the Keras model's numbers, LiteRT int8 parity, gRPC and V2 answering as REST on both runtimes,
every bad request, a hot swap under load, SIGTERM."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import grpc
import numpy as np
import tensorflow as tf
from absl.testing import parameterized
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from keras_dae import data, model
from keras_dae.core import rundir
from keras_dae.export import parity
from keras_dae.model import reconstructor
from tests.cli import CliAssertions, run_module
from tests.export_fixtures import publish_test_version, train_tiny_run
from tests.idx_fixtures import write_mnist_dir
from tests.serving_fixtures import Server, predict, publish_copy, request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIMIT_BYTES = 256 << 10  # The LiteRT server's --max_body_bytes.
MAX_BATCH = 64  # The LiteRT server's --max_batch.


def wait_until(condition, stop: threading.Event, timeout: float = 30.0) -> bool:
    """Polls `condition` until it holds (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        stop.wait(0.05)
    return True


class ServeTest(tf.test.TestCase, parameterized.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix="serve_test-")
        data_dir = os.path.join(cls.tmp, "mnist")
        os.makedirs(data_dir)
        write_mnist_dir(data_dir, n_train=300, n_test=500)
        config = train_tiny_run(cls.tmp, data_dir=data_dir)
        cls.autoencoder = model.load_autoencoder(os.path.join(config.workdir, rundir.MODEL))
        cls.data = data.load(config)
        cls.export_dir = os.path.join(cls.tmp, "export")
        publish_test_version(cls.export_dir, config.workdir)
        cls.savedmodel = Server(cls.export_dir, os.path.join(cls.tmp, "savedmodel.log"))
        cls.litert = Server(
            cls.export_dir,
            os.path.join(cls.tmp, "litert.log"),
            "--runtime=litert",
            f"--max_body_bytes={LIMIT_BYTES}",
            f"--max_batch={MAX_BATCH}",
            workers=2,  # Bad requests, parity and the hot swap, on two workers.
        )
        cls.savedmodel.wait_ready()
        cls.litert.wait_ready()
        cls.x = cls.data.x_test[:5]
        encoder, decoder = (cls.autoencoder.get_layer(n) for n in ("encoder", "decoder"))
        cls.codes = encoder(cls.x, training=False).numpy()
        cls.expected = {
            "serving_default": (cls.x, decoder(cls.codes, training=False).numpy()),
            "encode": (cls.x, cls.codes),
            "decode": (cls.codes, decoder(cls.codes, training=False).numpy()),
        }

    @classmethod
    def tearDownClass(cls):
        for server in (cls.savedmodel, cls.litert):
            if server.process.poll() is None:
                server.stop()  # SIGTERM: the graceful stop
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    @parameterized.product(
        signature=["serving_default", "encode", "decode"],
        form=["rows", "named_rows", "columns", "named_columns"],
    )
    def test_savedmodel_answers_as_keras(self, signature, form):
        x, expected = self.expected[signature]
        name = "codes" if signature == "decode" else "images"
        tensor = {
            "rows": x.tolist(),
            "named_rows": [{name: r} for r in x.tolist()],
            "columns": x.tolist(),
            "named_columns": {name: x.tolist()},
        }[form]
        key = "inputs" if "columns" in form else "instances"
        body = {"instances": tensor} if key == "instances" else {"inputs": tensor}
        if signature != "serving_default":
            body["signature_name"] = signature
        headers, answer = predict(self.savedmodel, body)
        ((name, outputs),) = answer.items()
        self.assertEqual(name, "outputs" if key == "inputs" else "predictions")
        self.assertLessEqual(np.max(np.abs(np.array(outputs) - expected)), 1e-5)
        self.assertIsNotNone(headers["X-Model-Version"])

    def test_curl_style_body_without_json_content_type(self):
        _, answer = predict(self.savedmodel, {"instances": self.x[:1].tolist()}, None)
        self.assertLen(answer["predictions"][0], 784)

    def test_status_names_the_version(self):
        status, headers, text = request(self.savedmodel.url, method="GET")
        self.assertEqual(status, 200)
        version = json.loads(text)["model_version_status"][0]["version"]
        self.assertEqual(version, headers["X-Model-Version"])

    def test_litert_int8_within_its_tolerance_of_keras(self):
        x = self.data.x_test[:500]
        keras_ce = parity.cross_entropy(x, reconstructor(self.autoencoder).predict(x, verbose=0))
        outputs = [
            predict(self.litert, {"instances": x[i : i + 50].tolist()})[1]["predictions"]
            for i in range(0, len(x), 50)
        ]
        litert_ce = parity.cross_entropy(x, np.concatenate(outputs))
        self.assertLessEqual((litert_ce - keras_ce) / keras_ce, 0.02)

    @parameterized.parameters("savedmodel", "litert")
    def test_tfs_grpc_and_v2_answer_as_rest(self, runtime):
        server, x = getattr(self, runtime), self.x[:2]
        body = {"signature_name": "encode", "instances": x.tolist()}
        rest = np.asarray(predict(server, body)[1]["predictions"], np.float32)
        message = predict_pb2.PredictRequest()
        message.model_spec.name, message.model_spec.signature_name = "dae", "encode"
        message.inputs["images"].CopyFrom(tf.make_tensor_proto(x.astype(np.float32)))
        with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            answer = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(message, 30)
        np.testing.assert_array_equal(tf.make_ndarray(answer.outputs["codes"]), rest)
        v2 = {
            "inputs": [{"name": "images", "shape": list(x.shape), "datatype": "FP32",
                        "data": x.ravel().tolist()}],
            "parameters": {"signature_name": "encode"},
        }  # fmt: skip
        url = f"http://127.0.0.1:{server.port}/v2/models/dae/infer"
        status, _, text = request(url, v2, content_type="application/json")
        self.assertEqual(status, 200, text)
        (output,) = json.loads(text)["outputs"]
        np.testing.assert_array_equal(np.reshape(output["data"], output["shape"]), rest)

    def test_litert_runtime_does_not_import_tensorflow(self):
        code = (
            "import sys; from keras_dae.export.serving import runtimes; "
            f"runtimes.loader('litert', 'int8')({self.export_dir!r}, 1); "
            "import keras_dae.export.serve; print('tensorflow' in sys.modules)"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        self.assertEqual(out.strip(), "False")

    @parameterized.named_parameters(
        ("malformed_json", b'{"instances": [[0.5,', 400),
        ("nan", b'{"instances": [[NaN]]}', 400),
        ("not_an_object", [[0.0] * 784], 400),
        ("no_instances_or_inputs", {"signature_name": "encode"}, 400),
        ("both_instances_and_inputs", {"instances": [[0.0] * 784], "inputs": [[0.0] * 784]}, 400),
        ("wrong_inner_length", {"instances": [[0.0] * 783]}, 400),
        ("ragged", {"instances": [[0.0] * 784, [0.0] * 783]}, 400),
        ("strings", {"instances": [["0.5"] * 784]}, 400),
        ("nulls", {"instances": [[None] * 784]}, 400),
        ("over_range", {"instances": [[0.0] * 783 + [3.0]]}, 400),
        ("negative", {"instances": [[-0.1] * 784]}, 400),
        ("decode_beyond_float32", {"signature_name": "decode", "inputs": [[1e39] * 10]}, 400),
        ("empty_batch", {"instances": []}, 400),
        ("over_max_batch", {"instances": [[0] * 784] * (MAX_BATCH + 1)}, 400),
        ("over_body_limit", b'{"instances": [' + b"0," * (LIMIT_BYTES // 2) + b"0]}", 413),
        ("unknown_signature", {"signature_name": "nope", "instances": [[0.0] * 784]}, 400),
        ("wrong_input_name", {"inputs": {"pixels": [[0.0] * 784]}}, 400),
        ("unknown_model", {"instances": [[0.0] * 784]}, 404, "/v1/models/other:predict"),
        ("wrong_method", None, 405, "/v1/models/dae:predict", "GET"),
        ("wrong_method_put", b"{}", 405, "/v1/models/dae:predict", "PUT"),
    )
    def test_bad_request(self, body, status, path="/v1/models/dae:predict", method="POST"):
        url = f"http://127.0.0.1:{self.litert.port}{path}"
        got, _, text = request(url, body, method, "application/json" if body else None)
        self.assertEqual(got, status, text)
        error = json.loads(text)
        self.assertEqual(list(error), ["error"])
        self.assertNotIn("\n", error["error"])
        _, answer = predict(self.litert, {"instances": self.x[:1].tolist()})
        self.assertLen(answer["predictions"], 1)
        self.assertNotIn("Traceback", self.litert.log_text())

    def publish_copy(self, version: int, tamper: bool = False) -> None:
        self.assertEqual(publish_copy(self.export_dir, tamper), version)

    def test_hot_swap_under_load_and_bad_version_skipped(self):
        body = {"instances": self.x[:1].tolist()}
        results = {server: [] for server in (self.savedmodel, self.litert)}
        stop = threading.Event()

        def client(server):
            while not stop.is_set():
                start = time.monotonic()
                status, headers, _ = request(
                    server.url + ":predict", body, content_type="application/json"
                )
                results[server].append(
                    (time.monotonic(), status, headers["X-Model-Version"], time.monotonic() - start)
                )

        threads = [threading.Thread(target=client, args=(s,)) for s in results]

        def served(version: str, extra: int = 0) -> bool:
            """Every server has answered with `version`, then `extra` requests more."""
            return all(
                any(v == version for _, _, v, _ in answers[: len(answers) - extra])
                for answers in results.values()
            )

        for thread in threads:
            thread.start()
        self.assertTrue(wait_until(lambda: served("1", extra=50), stop))  # load flows on v1
        self.publish_copy(2)
        published = time.monotonic()
        self.assertTrue(wait_until(lambda: served("2", extra=50), stop))
        self.publish_copy(3, tamper=True)
        self.assertTrue(  # Each worker refuses it.
            wait_until(
                lambda: all(s.log_text().count("version 3 of") == s.workers for s in results),
                stop,
            )
        )
        count = {server: len(answers) for server, answers in results.items()}
        self.assertTrue(  # answers after version 3 was refused
            wait_until(lambda: all(len(results[s]) > count[s] + 50 for s in results), stop)
        )
        stop.set()
        for thread in threads:
            thread.join()
        for server, answers in results.items():
            self.assertEqual([s for _, s, _, _ in answers if s != 200], [])
            first = min(t for t, _, v, _ in answers if v == "2")
            switched = max(t for t, _, v, _ in answers if v == "1")  # Every worker on 2 after.
            self.assertLess(switched - published, 5.0)
            # Every worker serves 2 (each request on a new connection); 3 differs from its manifest.
            self.assertEqual({v for _, _, v, _ in answers[-50:]}, {"2"})
            self.assertIn("version 3 of", server.log_text())
            during = [a for a in answers if published <= a[0] <= max(switched, first)]
            print(
                f"hot swap ({server.workers} worker(s), {server.url}): {len(answers)} requests, "
                f"{sum(a[1] != 200 for a in answers)} failed; first answer on version 2 "
                f"{first - published:.2f} s after publishing, the last on version 1 "
                f"{switched - published:.2f} s after; {len(during)} requests in between, the "
                f"slowest {max(a[3] for a in during) * 1e3:.0f} ms"
            )

    @parameterized.parameters(1, 2)
    def test_sigterm_exits_zero(self, workers):
        server = Server(
            self.export_dir,
            os.path.join(self.tmp, f"sigterm-{workers}.log"),
            "--runtime=litert",
            workers=workers,
        )
        server.wait_ready()
        pids = server.worker_pids()
        self.assertLen(pids, workers)
        self.assertEqual(server.stop(), 0)
        self.assertNotIn("Traceback", server.log_text())
        for pid in pids:  # Reaped by the server: gone.
            self.assertFalse(os.path.exists(f"/proc/{pid}"))


class ServeStartTest(parameterized.TestCase, CliAssertions):
    """What `python -m export.serve` says when it cannot start: one line, whatever --workers."""

    def test_no_export_dir(self):
        self.assert_one_line_error(
            run_module("export.serve", "--grpc_port=0"), "export.serve", "--export_dir"
        )

    def test_grpc_workers_without_envoy(self):
        with tempfile.TemporaryDirectory() as d:
            run = run_module("export.serve", f"--export_dir={d}", "--grpc_workers=2")
        self.assert_one_line_error(run, "export.serve", "--grpc_workers takes --grpc_server=envoy")

    @parameterized.parameters(1, 2)
    def test_no_published_version(self, workers):
        with tempfile.TemporaryDirectory() as empty:
            run = run_module(
                "export.serve",
                f"--export_dir={empty}",
                "--runtime=litert",
                f"--workers={workers}",
                "--grpc_port=0",
            )
        self.assert_one_line_error(run, "export.serve", "no published version")

    def test_port_in_use(self):
        with socket.create_server(("0.0.0.0", 0)) as taken, tempfile.TemporaryDirectory() as d:
            port = taken.getsockname()[1]
            run = run_module("export.serve", f"--export_dir={d}", f"--port={port}", "--grpc_port=0")
        self.assert_one_line_error(run, "export.serve", f"port {port}: Address already in use")

    def test_grpc_port_in_use(self):  # gRPC's SO_REUSEPORT would share it with the other server.
        with socket.create_server(("0.0.0.0", 0)) as taken, tempfile.TemporaryDirectory() as d:
            port = taken.getsockname()[1]
            run = run_module("export.serve", f"--export_dir={d}", f"--grpc_port={port}")
        self.assert_one_line_error(run, "export.serve", f"gRPC port {port}: Address already in use")


if __name__ == "__main__":
    tf.test.main()
