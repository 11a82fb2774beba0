"""What months of running bring to `python -m export.serve`, as real processes over real HTTP:
versions swapped again and again (memory per swap), withdrawn (rolled back, then none left),
bodies at the byte limit from many clients at once, a worker killed under load, slow clients
and gzip bodies, Envoy's gRPC worker killed and stopped. Every wait is on something observable
(an answer, a log line, a process)."""

import functools
import gzip
import http.client
import json
import os
import re
import shutil
import signal
import socket
import struct
import tempfile
import threading
import time
from collections import Counter

import grpc
import h2.config
import h2.connection
import h2.events
import numpy as np
from absl.testing import absltest, parameterized
from prometheus_client.parser import text_string_to_metric_families

from keras_dae.core import processes
from keras_dae.export import layout
from keras_dae.export.serving import tensors
from keras_dae.export.serving.tfs_protos import predict_pb2
from tests.export_fixtures import publish_test_version, train_tiny_run
from tests.idx_fixtures import write_mnist_dir
from tests.serving_fixtures import (
    Server,
    predict,
    publish_copy,
    request,
    wait_until,
    withdraw,
)

BODY = {"instances": [[0.0] * 784]}
LIMIT = 32 << 20  # The default --max_body_bytes (and --max_inflight_bytes).
# The stated bound (README): a worker holds at most one maximal body at once, ~6x its size
# while parsed and answered; 200 MiB over its idle size.
WORKER_BOUND_MIB = 200
TMP = TEMPLATE = None


def setUpModule():
    global TMP, TEMPLATE
    TMP = tempfile.mkdtemp(prefix="serve_faults_test-")
    data_dir = os.path.join(TMP, "mnist")
    os.makedirs(data_dir)
    write_mnist_dir(data_dir, n_train=300, n_test=100)
    config = train_tiny_run(TMP, data_dir=data_dir)
    TEMPLATE = os.path.join(TMP, "template")
    publish_test_version(TEMPLATE, config.workdir)


def tearDownModule():
    shutil.rmtree(TMP, ignore_errors=True)


def fresh_export(name: str) -> str:
    """A copy of the template export (version 1) that a test may publish into and withdraw from."""
    export_dir = os.path.join(TMP, name)
    shutil.copytree(TEMPLATE, export_dir)
    return export_dir


def version_of(server: Server) -> str | None:
    """The version that answered a good request (None: it failed)."""
    status, headers, _ = request(server.url + ":predict", BODY, content_type="application/json")
    return headers["X-Model-Version"] if status == 200 else None


def error_line(test: absltest.TestCase, text: str) -> str:
    """The one line of a TF Serving error body."""
    error = json.loads(text)
    test.assertEqual(list(error), ["error"])
    test.assertNotIn("\n", error["error"])
    return error["error"]


def start(export_dir: str, *flags: str, workers: int = 1, cleanup) -> Server:
    """A ready server on `export_dir`, stopped by `cleanup` (a test's addCleanup)."""
    log = os.path.join(TMP, f"{os.path.basename(export_dir)}-{len(os.listdir(TMP))}.log")
    server = Server(export_dir, log, *flags, workers=workers)
    cleanup(lambda: server.process.poll() is None and server.stop())
    server.wait_ready()
    return server


def requests_counted(server: Server, protocol: str | None = None) -> float:
    """The server's request_count total (of `protocol`, or all), as a scrape reads it."""
    text = request(server.url.split("/v1/")[0] + "/metrics", method="GET")[2]
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == ":tensorflow:serving:request_count_total"
        and protocol in (None, sample.labels["protocol"])
    )


class ServerTestCase(parameterized.TestCase):
    def start(self, export_dir: str, *flags: str, workers: int = 1) -> Server:
        return start(export_dir, *flags, workers=workers, cleanup=self.addCleanup)


class SwapMemoryTest(ServerTestCase):
    @parameterized.parameters("savedmodel", "litert")
    def test_no_memory_growth_per_swap(self, runtime):
        """Before: 8 MiB more per SavedModel swap, every swap (gc.freeze kept each version)."""
        export_dir = fresh_export(f"swaps-{runtime}")
        server = self.start(export_dir, f"--runtime={runtime}")
        (worker,) = server.worker_pids()
        for _ in range(20):
            self.assertEqual(version_of(server), "1")
        rss = []
        for _ in range(10):
            version = publish_copy(export_dir)
            self.assertTrue(
                wait_until(lambda v=version: f"now serving version {v} " in server.log_text())
            )
            for _ in range(20):  # Requests on the new version, with the old one released.
                self.assertEqual(version_of(server), str(version))
            if version > 3:  # Old versions pruned, as an export kept for months is.
                withdraw(export_dir, version - 2)
            rss.append(processes.rss_mib(worker))
        slope = np.polyfit(np.arange(5, 11), rss[4:], 1)[0]  # After the first few.
        print(f"{runtime}: RSS after each swap {[round(r) for r in rss]} MiB, {slope:.2f}/swap")
        self.assertLess(slope, 1.0)


class WithdrawTest(ServerTestCase):
    def test_withdrawn_versions_as_tensorflow_serving(self):
        export_dir = fresh_export("withdraw")
        publish_copy(export_dir)
        publish_copy(export_dir)
        server = self.start(export_dir, "--runtime=litert", workers=2)
        self.assertEqual(version_of(server), "3")

        def answered_by(version: str) -> bool:  # Each request on a new connection: both workers.
            return all(version_of(server) == version for _ in range(20))

        def logged(text: str) -> bool:  # By each worker.
            return server.log_text().count(text) == server.workers

        withdraw(export_dir, 3)  # The operator's roll back.
        withdrawn = time.monotonic()
        self.assertTrue(wait_until(lambda: answered_by("2"), every=0))
        switched = time.monotonic() - withdrawn
        self.assertTrue(wait_until(lambda: logged("version 3 of")))
        self.assertIn("withdrawn (its folders are gone); now serving version 2", server.log_text())
        status, headers, text = request(server.url, method="GET")
        self.assertEqual((status, headers["X-Model-Version"]), (200, "2"))
        self.assertEqual(json.loads(text)["model_version_status"][0]["version"], "2")
        self.assertLess(switched, 3.0)  # One 0.2 s poll, a check and a load, on a busy machine.

        with open(os.path.join(layout.version_dir(export_dir, 2), layout.MODEL_INFO), "a") as f:
            f.write(" ")  # Its files no longer match its manifest.
        self.assertTrue(wait_until(lambda: answered_by("1"), every=0))
        self.assertTrue(wait_until(lambda: logged("version 2 of")))
        self.assertIn("model.json: sha256 differs from the manifest", server.log_text())

        kept = tempfile.mkdtemp(prefix="withdrawn-")
        for folder in (layout.saved_model_dir(export_dir, 1), layout.version_dir(export_dir, 1)):
            shutil.copytree(folder, os.path.join(kept, os.path.basename(os.path.dirname(folder))))
        withdraw(export_dir, 1)
        self.assertTrue(wait_until(lambda: logged("no version left to serve")))
        v2_infer = server.url.replace("/v1/", "/v2/") + "/infer"
        v2_body = {"inputs": [{"name": "images", "shape": [1, 784], "datatype": "FP32",
                               "data": [0.0] * 784}]}  # fmt: skip
        for url, method, body in (
            (server.url + ":predict", "POST", BODY),
            (server.url, "GET", BODY),
            (v2_infer, "POST", v2_body),
        ):
            for _ in range(10):
                status, _, text = request(url, body, method, "application/json")
                self.assertEqual(status, 503)
                self.assertIn("is not ready", error_line(self, text))
                self.assertIn("ready once one is published", text)

        def unavailable() -> dict:  # Counted; another worker's within a second.
            scraped = request(server.url.split("/v1/")[0] + "/metrics", method="GET")[2]
            return {
                sample.labels["protocol"]: sample.value
                for family in text_string_to_metric_families(scraped)
                for sample in family.samples
                if sample.name == ":tensorflow:serving:request_count_total"
                and sample.labels["status"] == "UNAVAILABLE"
            }

        self.assertTrue(wait_until(lambda: unavailable() == {"rest": 10, "v2_rest": 10}, 10))

        for kind in (layout.SAVED_MODEL, layout.VERSIONS):  # Published back, the record last.
            shutil.copytree(os.path.join(kept, kind), os.path.join(export_dir, kind, "1"))
        self.assertTrue(wait_until(lambda: answered_by("1")))  # As TF Serving reloads it.

        version = publish_copy(export_dir, source=TEMPLATE)
        self.assertTrue(wait_until(lambda: answered_by(str(version))))
        self.assertEqual(request(server.url, method="GET")[0], 200)
        self.assertNotIn("Traceback", server.log_text())
        print(f"withdrawn: every answer from version 2 {switched:.2f} s after version 3 went")


def concurrent_posts(server: Server, body: bytes, clients: int) -> list[tuple[int, str]]:
    """(status, text) of `clients` POSTs of `body` sent at once, each on its connection."""
    results = []
    start = threading.Barrier(clients)

    def post():
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        start.wait()
        connection.request("POST", "/v1/models/dae:predict", body, {"Content-Type": "text/json"})
        response = connection.getresponse()
        results.append((response.status, response.read().decode()))
        connection.close()

    threads = [threading.Thread(target=post) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def maximal_bodies() -> dict[str, bytes]:
    """Two bodies at the byte limit: rows over --max_batch (refused before they are parsed), and
    --max_batch rows of long numbers (parsed and answered)."""
    row = b"[" + b",".join([b"0"] * 784) + b"]"
    rows = (LIMIT - 64) // (len(row) + 1)
    digits = (LIMIT - 64) // (1024 * 785) - 3
    long_row = b"[" + b",".join([b"0." + b"1" * digits] * 784) + b"]"
    return {
        "over_max_batch": b'{"instances": [' + b",".join([row] * rows) + b"]}",
        "parsed": b'{"instances": [' + b",".join([long_row] * 1024) + b"]}",
    }


class AdmissionTest(ServerTestCase):
    def test_eight_concurrent_bodies_at_the_byte_limit(self):
        """Before: 8 such bodies took the server from 436 to 1,586 MiB, 3.6 s each to refuse."""
        server = self.start(fresh_export("admission"), "--runtime=litert", workers=2)
        idle = server.rss_mib()
        peak, sampling = [idle], threading.Event()

        def sample():
            while not sampling.wait(0.005):  # Every 5 ms until the bodies are answered.
                peak.append(server.rss_mib())

        sampler = threading.Thread(target=sample)
        sampler.start()
        answers = {}
        try:
            for kind, body in maximal_bodies().items():
                self.assertLessEqual(len(body), LIMIT)
                answers[kind] = concurrent_posts(server, body, 8)
        finally:
            sampling.set()
            sampler.join()
        for kind, results in answers.items():
            self.assertLen(results, 8)
            for status, text in results:
                if kind == "parsed" and status == 200:
                    self.assertLen(json.loads(text)["predictions"], 1024)
                    continue
                self.assertIn(status, (400, 503) if kind == "over_max_batch" else (503,), text)
                line = error_line(self, text)
                self.assertIn("--max_batch" if status == 400 else "server busy", line)
        self.assertGreater(sum(s == 200 for s, _ in answers["parsed"]), 0)
        grown = max(peak) - idle
        statuses = {kind: dict(Counter(s for s, _ in results)) for kind, results in answers.items()}
        print(f"8 concurrent maximal bodies: {idle:.0f} MiB idle, {max(peak):.0f} peak; {statuses}")
        self.assertLess(grown, WORKER_BOUND_MIB * server.workers)
        self.assertEqual(version_of(server), "1")


class KilledWorkerTest(ServerTestCase):
    def test_killed_worker_is_back_and_only_its_requests_fail(self):
        """Before: the supervisor stopped the other worker too and the port was dead."""
        server = self.start(fresh_export("killed"), "--runtime=litert", workers=2)
        outcomes, stop = [], threading.Event()

        def client():
            while not stop.is_set():
                try:
                    outcome = str(version_of(server))
                except (OSError, http.client.HTTPException) as e:  # Reset with the worker.
                    outcome = type(e).__name__
                outcomes.append((time.monotonic(), outcome))

        clients = [threading.Thread(target=client) for _ in range(4)]
        for thread in clients:
            thread.start()
        try:
            self.assertTrue(wait_until(lambda: len(outcomes) > 200))
            victim = server.worker_pids()[1]
            os.kill(victim, signal.SIGKILL)
            killed = time.monotonic()
            restarted = re.compile(rf"worker (\d) \(pid {victim}\) killed by signal 9; restarted")
            self.assertTrue(wait_until(lambda: restarted.search(server.log_text())))
            index = restarted.search(server.log_text())[1]
            self.assertTrue(
                wait_until(lambda: server.log_text().count(f"worker {index} serving") == 2)
            )
            back = time.monotonic()

            def answered_since_back() -> list[str]:
                return [o for t, o in list(outcomes) if t > back]

            self.assertTrue(wait_until(lambda: len(answered_since_back()) > 200))
        finally:
            stop.set()
            for thread in clients:
                thread.join()
        failed = [o for t, o in outcomes if o != "1"]
        print(
            f"killed worker: {len(outcomes)} requests, failed {failed}, back in "
            f"{back - killed:.2f} s"
        )
        self.assertLessEqual(len(failed), len(clients))  # Only those in flight on it.
        self.assertEqual(set(answered_since_back()), {"1"})
        self.assertLen(server.worker_pids(), 2)
        self.assertNotIn(victim, server.worker_pids())
        self.assertLess(back - killed, 30.0)

    def test_a_worker_stopped_alone_keeps_its_counts_and_is_restarted(self):
        """Before: uvicorn's re-sent SIGTERM killed it after its HTTP server's graceful stop,
        before the gRPC server's and before its last metrics were written."""
        server = self.start(fresh_export("stopped"), "--runtime=litert", workers=1)
        for _ in range(20):
            self.assertEqual(version_of(server), "1")
        (victim,) = server.worker_pids()
        os.kill(victim, signal.SIGTERM)
        restarted = re.compile(rf"worker 0 \(pid {victim}\) killed by signal 15; restarted")
        self.assertTrue(wait_until(lambda: restarted.search(server.log_text())))
        self.assertTrue(wait_until(lambda: server.log_text().count("worker 0 serving") == 2))
        self.assertEqual(requests_counted(server), 20)
        self.assertEqual(version_of(server), "1")


PREDICT = "/tensorflow.serving.PredictionService/Predict"


def predict_message(rows: int = 1) -> bytes:
    """A TF Serving PredictRequest of `rows` images, serialized (sent as raw bytes: the generated
    stub's classes are TensorFlow's)."""
    message = predict_pb2.PredictRequest()
    message.model_spec.name = "dae"
    message.inputs["images"].CopyFrom(tensors.to_proto(np.zeros((rows, 784), np.float32)))
    return message.SerializeToString()


def grpc_channel(server: Server) -> grpc.Channel:
    return grpc.insecure_channel(
        f"127.0.0.1:{server.grpc_port}", options=[("grpc.max_receive_message_length", -1)]
    )


def grpc_predict(server: Server) -> tuple[grpc.StatusCode, float]:
    """(status, time.monotonic() at the answer) of one Predict on its own channel."""
    with grpc_channel(server) as channel:
        call = channel.unary_unary(PREDICT, lambda m: m, lambda m: m)
        try:
            call(predict_message(), timeout=60, wait_for_ready=True)
            code = grpc.StatusCode.OK
        except grpc.RpcError as e:
            code = e.code()
    return code, time.monotonic()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class EnvoyWorkerTest(ServerTestCase):
    """--grpc_server=envoy: the gRPC worker (Envoy as its child) stopped, killed, its parent
    killed, and the whole server stopped with calls in flight."""

    def test_envoy_worker_stopped_or_killed_is_replaced_and_keeps_its_counts(self):
        server = self.start(fresh_export("envoy"), "--runtime=litert", "--grpc_server=envoy")
        for _ in range(5):
            self.assertEqual(grpc_predict(server)[0], grpc.StatusCode.OK)
        lives = iter(range(2, 5))

        def replaced(victim: int, sig: int) -> int:
            """The new gRPC worker once `victim` (the worker or its Envoy) died by `sig`."""
            worker = server.grpc_worker_pid()
            os.kill(victim, sig)
            restarted = f"worker 1 (pid {worker}) killed by signal {sig}; restarted"
            self.assertTrue(wait_until(lambda: restarted in server.log_text()))
            serving = next(lives)
            self.assertTrue(
                wait_until(lambda: server.log_text().count("(Envoy) serving") == serving)
            )
            self.assertEqual(grpc_predict(server)[0], grpc.StatusCode.OK)
            return server.grpc_worker_pid()

        worker = replaced(server.grpc_worker_pid(), signal.SIGTERM)  # Stopped alone: drained.
        # The stopped worker's last counts were kept.
        self.assertGreaterEqual(requests_counted(server, "grpc"), 5)
        (envoy,) = processes.children(worker)
        worker = replaced(envoy, signal.SIGKILL)  # Envoy killed: its worker reports the death.
        (envoy,) = processes.children(worker)
        replaced(worker, signal.SIGKILL)  # The worker killed: Envoy ends with it (PDEATHSIG).
        self.assertTrue(wait_until(lambda: not alive(envoy), 30))
        self.assertIsNone(server.process.poll())

    def test_two_grpc_workers_answer_while_one_restarts(self):
        """--grpc_workers=2, each killed in turn: one channel's calls go on being answered while
        the killed one restarts (only a call in flight on its connection may fail). Run with
        --grpc_workers=1 once: no call answered meanwhile."""
        flags = ("--runtime=litert", "--grpc_server=envoy", "--grpc_workers=2")
        server = self.start(fresh_export("envoy-two"), *flags)

        def serving(lives: int) -> bool:
            return server.log_text().count("(Envoy) serving") == lives

        self.assertTrue(wait_until(lambda: serving(2)))
        outcomes, stop = [], threading.Event()

        def client():
            with grpc_channel(server) as channel:
                call = channel.unary_unary(PREDICT, lambda m: m, lambda m: m)
                while not stop.is_set():
                    try:  # As a client riding out reconnects does: a connect that failed is
                        # waited out (without it, in CI, 2,757 calls failed fast once).
                        call(predict_message(), timeout=30, wait_for_ready=True)
                        outcomes.append("OK")
                    except grpc.RpcError as e:
                        outcomes.append(e.code().name)

        thread = threading.Thread(target=client)
        thread.start()
        try:
            self.assertTrue(wait_until(lambda: outcomes.count("OK") >= 20, 60, every=0.01))
            for victim, lives in zip(server.grpc_worker_pids(), (3, 4)):
                # Both Envoys listening: one logs its start before it listens (in CI, killing
                # the other in that gap left the port refused for grpc's reconnect backoff).
                self.assertTrue(
                    wait_until(lambda: processes.listening_sockets(server.grpc_port) == 2)
                )
                before = outcomes.count("OK")
                os.kill(victim, signal.SIGKILL)
                self.assertTrue(wait_until(functools.partial(serving, lives)))
                self.assertGreater(outcomes.count("OK"), before + 20)  # Answered meanwhile.
        finally:
            stop.set()
            thread.join(60)
        failed = Counter(o for o in outcomes if o != "OK")
        self.assertLessEqual(sum(failed.values()), 2, failed)
        self.assertEqual(grpc_predict(server)[0], grpc.StatusCode.OK)

    def test_a_call_whose_message_stalls_past_the_read_timeout_is_ended(self):
        """Before: held until Envoy's 5-minute stream idle timeout (REST's 408 came at 1 s)."""
        flags = ("--runtime=litert", "--grpc_server=envoy", "--read_timeout_seconds=1")
        server = self.start(fresh_export("envoy-stall"), *flags)
        half = struct.pack(">?I", False, 3000) + b"\0" * 100  # A message's first 105 bytes.
        connection = socket.create_connection(("127.0.0.1", server.grpc_port), timeout=30)
        self.addCleanup(connection.close)
        client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        client.initiate_connection()
        client.send_headers(1, [
            (":method", "POST"), (":scheme", "http"), (":authority", "127.0.0.1"),
            (":path", "/tensorflow.serving.PredictionService/Predict"),
            ("content-type", "application/grpc"), ("te", "trailers"),
        ])  # fmt: skip
        client.send_data(1, half)  # The stream left open: the rest never comes.
        connection.sendall(client.data_to_send())
        sent, ended = time.monotonic(), None
        while ended is None:  # A 30 s socket timeout fails the test.
            data = connection.recv(65536)
            self.assertTrue(data, "connection closed without ending the call")
            for event in client.receive_data(data):
                if isinstance(event, h2.events.StreamReset | h2.events.StreamEnded):
                    ended = time.monotonic() - sent
            connection.sendall(client.data_to_send())
        self.assertGreaterEqual(ended, 0.9)  # Ended by the timeout, not refused at once.
        self.assertEqual(grpc_predict(server)[0], grpc.StatusCode.OK)

    @parameterized.parameters("supervisor", "process_group")
    def test_server_stop_finishes_the_calls_in_flight(self, signalled):
        """Before the drain: Envoy ends at SIGTERM, resetting the calls it holds; before its own
        process group: a Ctrl-C (SIGINT to the shell job's group) reached Envoy itself."""
        log = os.path.join(TMP, f"envoy-stop-{signalled}.log")
        flags = ("--runtime=litert", "--grpc_server=envoy")
        server = Server(fresh_export(f"envoy-stop-{signalled}"), log, *flags, new_session=True)
        self.addCleanup(lambda: server.process.poll() is None and server.stop())
        server.wait_ready()
        envoy = processes.children(server.grpc_worker_pid())[0]
        answers = []
        with grpc_channel(server) as channel:
            # Connected first: the eight calls are streams of one open connection, in flight
            # from their start (a connection of its own had once come after the stop).
            grpc.channel_ready_future(channel).result(60)
            call = channel.unary_unary(PREDICT, lambda m: m, lambda m: m)
            calls = [call.future(predict_message(1024), timeout=60) for _ in range(8)]
            for future in calls:
                future.add_done_callback(lambda f: answers.append((f.code(), time.monotonic())))
            # The first answered: the others (answered one at a time) are in flight.
            self.assertTrue(wait_until(lambda: answers, 60, every=0.001))
            stopped = time.monotonic()
            if signalled == "supervisor":
                self.assertEqual(server.stop(), 0)
            else:
                os.killpg(server.process.pid, signal.SIGINT)
                self.assertEqual(server.process.wait(60), 0)
            self.assertTrue(wait_until(lambda: len(answers) == 8, 60))
        self.assertEqual([code for code, _ in answers], [grpc.StatusCode.OK] * 8)
        self.assertGreater(max(at for _, at in answers), stopped)  # Some were still in flight.
        self.assertFalse(alive(envoy))


class SlowClientTest(parameterized.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = start(
            fresh_export("slow"),
            "--runtime=litert",
            "--read_timeout_seconds=1",
            "--max_connections=8",
            cleanup=cls.addClassCleanup,
        )

    def connect(self) -> socket.socket:
        connection = socket.create_connection(("127.0.0.1", self.server.port), timeout=30)
        self.addCleanup(connection.close)
        return connection

    def answer(self, connection: socket.socket) -> bytes:
        """All the server sends until it closes the connection."""
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
        return data

    def test_half_sent_headers_are_closed_after_the_timeout(self):
        """Before: 500 half headers held their connections for the whole 20 s."""
        half = [self.connect() for _ in range(6)]
        for connection in half:
            connection.sendall(b"POST /v1/models/dae:predict HTTP/1.1\r\nHost: x\r\nContent-")
        sent = time.monotonic()
        self.assertEqual(version_of(self.server), "1")  # Still answering meanwhile.
        for connection in half:
            answer = self.answer(connection)
            self.assertTrue(answer.startswith(b"HTTP/1.1 408 "), answer)
            self.assertIn(b"request header not received within 1 s", answer)
        closed = time.monotonic() - sent
        self.assertGreaterEqual(closed, 0.9)
        self.assertLess(closed, 10.0)

    def test_slow_body_gets_408(self):
        connection = self.connect()
        connection.sendall(
            b"POST /v1/models/dae:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"
        )
        answer = self.answer(connection)
        self.assertTrue(answer.startswith(b"HTTP/1.1 408 "), answer)
        error_line(self, answer.split(b"\r\n\r\n", 1)[1])
        self.assertEqual(version_of(self.server), "1")

    def test_connections_over_the_cap_get_503(self):
        idle = []
        for _ in range(7):  # Kept alive after one answer each; with the next one: 8, the cap.
            connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
            self.addCleanup(connection.close)
            connection.request("GET", "/v1/models/dae")
            self.assertEqual(connection.getresponse().status, 200)
            idle.append(connection)
        self.assertEqual(request(self.server.url, method="GET")[0], 503)
        for connection in idle:
            connection.close()
        self.assertTrue(wait_until(lambda: request(self.server.url, method="GET")[0] == 200))

    def post(self, body: bytes, encoding: str) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        self.addCleanup(connection.close)
        headers = {"Content-Type": "application/json", "Content-Encoding": encoding}
        connection.request("POST", "/v1/models/dae:predict", body, headers)
        response = connection.getresponse()
        return response.status, response.read().decode()

    def test_gzip_bodies_decoded_within_the_limit(self):
        """Before: `str is not valid UTF-8: surrogates not allowed`."""
        body = json.dumps(BODY).encode()
        _, plain = predict(self.server, BODY)
        status, text = self.post(gzip.compress(body), "gzip")
        self.assertEqual((status, json.loads(text)), (200, plain))
        bomb = gzip.compress(b" " * (LIMIT + 1))  # 32 KiB sent, 32 MiB decoded.
        for sent, encoding, status, says in (
            (bomb, "gzip", 413, "decodes to over the limit of 33554432 bytes (--max_body_bytes)"),
            (body[:-3], "gzip", 400, "does not decode"),
            (gzip.compress(body)[:-9], "gzip", 400, "truncated"),
            (body, "br", 415, "Content-Encoding 'br' is not supported"),
        ):
            got, text = self.post(sent, encoding)
            self.assertEqual(got, status, text)
            self.assertIn(says, error_line(self, text))
        self.assertEqual(version_of(self.server), "1")
        self.assertNotIn("Traceback", self.server.log_text())


if __name__ == "__main__":
    absltest.main()
