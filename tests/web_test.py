"""Tests of the browser demo: export.web serves only what the page needs, and the page, in headless
Chromium driven by Playwright, reconstructs MNIST digits as LiteRT does in Python."""

import http.client
import json
import os
import socket
import tempfile
import threading

import numpy as np
from absl.testing import absltest
from ai_edge_litert.interpreter import Interpreter

from keras_dae.core.mnist import preprocess
from keras_dae.export import layout, web
from keras_dae.export.litert import LiteRTModel
from tests.cli import CliAssertions, run_module
from tests.web_fixtures import CHROMIUM, CHROMIUM_ARGS, start_server, tiny_export

SAMPLES = 20  # MNIST test digits compared.
REAL_LIB_DIR = web.LIB_DIR  # ServerTest serves a stand-in.


def browser_missing() -> str | None:
    """Why the browser test cannot run here, or None."""
    if not os.path.isfile(CHROMIUM):
        return f"{CHROMIUM} is missing (.ci/web-setup installs it)"
    if not os.path.isdir(os.path.dirname(REAL_LIB_DIR)):
        return "node_modules is missing (run `npm ci`)"
    return None


def output_step(model_path: str) -> float:
    """The int8 step of a quantized model's output: the scale of the tensor its last DEQUANTIZE
    reads."""
    interpreter = Interpreter(model_path=model_path)
    interpreter.allocate_tensors()
    output = interpreter.get_output_details()[0]["index"]
    (source,) = [
        op["inputs"][0]
        for op in interpreter._get_ops_details()
        if op["op_name"] == "DEQUANTIZE" and output in op["outputs"]
    ]
    (details,) = [t for t in interpreter.get_tensor_details() if t["index"] == source]
    return float(details["quantization"][0])


def fake_export(folder: str) -> str:
    """A published version's files (contents irrelevant to the server) and a LiteRT.js stand-in."""
    os.makedirs(layout.saved_model_dir(folder, 3))
    record = layout.version_dir(folder, 3)
    os.makedirs(os.path.join(record, "tflite"))
    for name in ("model.json", "samples.json", "manifest.json", "tflite/float32.tflite"):
        with open(os.path.join(record, name), "w") as f:
            f.write(name)
    return record


class ServerTest(CliAssertions, absltest.TestCase):
    def setUp(self):
        super().setUp()
        self.export_dir = self.create_tempdir().full_path
        self.record = fake_export(self.export_dir)
        lib = self.create_tempdir().full_path
        os.makedirs(os.path.join(lib, "core", "wasm"))
        for name in ("core/package.json", "core/wasm/a.wasm"):
            with open(os.path.join(lib, name), "w") as f:
                f.write(name)
        self.enter_context(absltest.mock.patch.object(web, "LIB_DIR", lib))
        self.server, record = web.make_server(self.export_dir, 0)
        self.assertEqual(record, self.record)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.addCleanup(self.server.server_close)
        self.addCleanup(self.server.shutdown)

    def get(self, path: str, method: str = "GET") -> tuple[int, str, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.server.server_address[1])
        connection.request(method, path)
        response = connection.getresponse()
        body = response.read()
        connection.close()
        return response.status, response.getheader("Content-Type", ""), body

    def test_serves_the_page_lib_and_the_latest_version(self):
        status, kind, body = self.get("/")
        self.assertEqual((status, kind), (200, "text/html; charset=utf-8"))
        self.assertIn(b"app.js", body)
        self.assertEqual(self.get("/app.js")[:2], (200, "text/javascript; charset=utf-8"))
        self.assertEqual(
            self.get("/lib/core/wasm/a.wasm")[1:], ("application/wasm", b"core/wasm/a.wasm")
        )
        self.assertEqual(self.get("/export/model.json")[2], b"model.json")
        self.assertEqual(self.get("/export/tflite/float32.tflite")[2], b"tflite/float32.tflite")
        self.assertEqual(self.get("/export/samples.json", "HEAD")[:2], (200, "application/json"))

    def test_refuses_everything_else(self):
        for path in (
            "/../README.md",
            "/%2e%2e/README.md",
            "/export/manifest.json",
            "/export/../../saved_model/3",
            "/export/tflite/../model.json",
            "/lib/../../flags.py",
            "/lib/core/",
            "/export/",
            "/.git/config",
            "/%2e%2e%2fflags.py",
            "/nothing.html",
            "/lib/..%2f..%2fflags.py",
        ):
            self.assertEqual(self.get(path)[0], 404, path)
        self.assertEqual(self.get("/", "POST")[0], 501)

    def test_malformed_request_lines_get_a_4xx(self):
        """Before: `GET *` and `GET ?x` got no answer and an IndexError's traceback."""
        errors = []
        self.server.handle_error = lambda *args: errors.append(args)  # socketserver's traceback.
        for target in ("*", "?x", "#a", "http://x"):
            with socket.create_connection(self.server.server_address, timeout=10) as connection:
                connection.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                status_line = connection.makefile("rb").readline()
            self.assertRegex(status_line, rb"^HTTP/1\.[01] 4\d\d ", target)
        self.assertEqual(errors, [])

    def test_cli_errors_are_one_line(self):
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        self.addCleanup(taken.close)
        self.assert_cli_error(
            ["--export_dir", self.create_tempdir().full_path], "no published export version"
        )
        if not os.path.isdir(os.path.dirname(REAL_LIB_DIR)):
            return  # The errors below come after the check of LiteRT.js (npm ci).
        self.assert_cli_error(
            ["--export_dir", self.export_dir, "--port", str(taken.getsockname()[1])], "port in use"
        )
        os.remove(os.path.join(self.record, "samples.json"))
        self.assert_cli_error(["--export_dir", self.export_dir], "versions/3: no samples.json")

    def assert_cli_error(self, args: list[str], message: str):
        self.assert_one_line_error(
            run_module("export.web", *args, timeout=60), "export.web", message
        )


class BrowserTest(absltest.TestCase):
    """One page load for every check: the export is trained and converted once (~40 s)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        missing = browser_missing()
        if missing and os.environ.get("CI"):
            raise RuntimeError(f"CI must run the browser test: {missing}")
        if missing:
            raise absltest.SkipTest(missing)
        from playwright.sync_api import sync_playwright  # noqa: PLC0415 (the test skips where Playwright is absent)

        cls.folder = tempfile.mkdtemp(prefix="web_test-")
        cls.record = tiny_export(os.path.join(cls.folder, "export"))
        with open(os.path.join(cls.record, layout.MODEL_INFO)) as f:
            cls.info = json.load(f)
        with open(os.path.join(cls.record, layout.SAMPLES)) as f:
            cls.samples = json.load(f)
        cls.server, url = start_server(os.path.join(cls.folder, "export"))
        cls.playwright = sync_playwright().start()
        cls.browser = cls.playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        cls.page = cls.browser.new_page(viewport={"width": 1100, "height": 900})
        cls.url, cls.requests = url, []
        cls.page.on("request", lambda request: cls.requests.append(request.url))
        cls.page.goto(url)
        cls.page.wait_for_function(
            "window.dae && (window.dae.ready || window.dae.error)", timeout=120_000
        )
        error = cls.page.evaluate("window.dae.error")
        if error:
            raise RuntimeError(f"the page failed to load: {error}")

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "playwright"):
            cls.browser.close()
            cls.playwright.stop()
        if hasattr(cls, "server"):
            cls.server.terminate()
            cls.server.wait(timeout=30)
        super().tearDownClass()

    def model(self, name: str) -> LiteRTModel:
        return LiteRTModel(os.path.join(self.record, "tflite", f"{name}.tflite"))

    def update_after(self, action) -> dict:
        """Runs `action` (a user's input) and returns the page's next completed update."""
        before = self.page.evaluate("window.dae.updates")
        action()
        self.page.wait_for_function(f"window.dae.updates > {before} && !window.dae.busy")
        return self.page.evaluate("window.dae.last")

    def page_reconstructions(self, model: str) -> tuple[np.ndarray, np.ndarray]:
        """The inputs and reconstructions of the first SAMPLES sample buttons, clicked."""
        self.update_after(lambda: self.page.select_option("#model", model))
        inputs, outputs = [], []
        for i in range(SAMPLES):
            last = self.update_after(
                lambda i=i: self.page.click(f"#samples button[data-index='{i}']")
            )
            self.assertEqual((last["source"], last["sample"], last["model"]), ("sample", i, model))
            inputs.append(last["input"])
            outputs.append(last["reconstruction"])
        return np.array(inputs, np.float32), np.array(outputs, np.float32)

    def python_inputs(self) -> np.ndarray:
        images = np.array(self.samples["images"][:SAMPLES], np.uint8).reshape(-1, 28, 28)
        return preprocess(images, self.info["binarize_input"])

    def test_float32_matches_litert_in_python(self):
        inputs, page = self.page_reconstructions("float32")
        np.testing.assert_array_equal(inputs, self.python_inputs())
        python = self.model("float32").run(inputs)
        diff = np.abs(page - python).max()
        print(f"float32: {SAMPLES} digits, max |page - LiteRT Python| = {diff:.3g}")
        self.assertLessEqual(diff, 1e-4)

    def test_int8_matches_litert_in_python_within_one_step(self):
        inputs, page = self.page_reconstructions("int8")
        python = self.model("int8").run(inputs)
        steps = np.abs(page - python) / output_step(self.model("int8").path)
        print(
            f"int8: {SAMPLES} digits, {np.mean(steps < 0.5):.4%} of pixels in the same step, "
            f"max {steps.max():.3f} steps apart"
        )
        self.assertLessEqual(steps.max(), 1.001)

    def test_a_drawn_stroke_is_reconstructed(self):
        self.update_after(lambda: self.page.select_option("#model", "float32"))
        self.update_after(lambda: self.page.click("#clear"))
        box = self.page.locator("#draw").bounding_box()

        def stroke():
            mouse = self.page.mouse
            mouse.move(box["x"] + 0.45 * box["width"], box["y"] + 0.2 * box["height"])
            mouse.down()
            mouse.move(box["x"] + 0.5 * box["width"], box["y"] + 0.8 * box["height"], steps=12)
            mouse.up()

        last = self.update_after(stroke)
        self.assertEqual(last["source"], "drawing")
        pixels = np.array(last["pixels"]).reshape(28, 28)
        rows, cols = np.nonzero(pixels)
        self.assertEqual(np.ptp(rows) + 1, 20)  # A vertical stroke, fitted to 20 rows.
        self.assertLess(np.ptp(cols) + 1, 10)
        reconstruction = np.array(last["reconstruction"])
        self.assertEqual(reconstruction.shape, (784,))
        self.assertTrue(np.all((reconstruction >= 0) & (reconstruction <= 1)))
        np.testing.assert_allclose(
            reconstruction,
            self.model("float32").run(np.array([last["input"]], np.float32))[0],
            atol=1e-4,
        )
        self.save_screenshot()

    def test_corrupt_applies_the_training_dropout(self):
        self.assertEqual((self.info["noise"], self.info["noise_rate"]), ("dropout", 0.5))
        self.update_after(lambda: self.page.click("#samples button[data-index='1']"))
        last = self.update_after(lambda: self.page.check("#corrupt"))
        self.update_after(lambda: self.page.uncheck("#corrupt"))
        x, noisy = np.array(last["input"]), np.array(last["corrupted"])
        kept = noisy[x > 0] > 0
        np.testing.assert_array_equal(noisy[x == 0], 0)
        np.testing.assert_allclose(noisy[x > 0][kept], x[x > 0][kept] * 2.0)
        self.assertBetween(kept.mean(), 0.25, 0.75)  # P(out) < 1e-4 for ~150 ink pixels.

    def test_latent_plane_runs_the_decoder(self):
        plane = self.page.locator("#plane")
        before = self.page.evaluate("window.dae.decoded.z")
        plane.click(position={"x": 40, "y": 60})
        self.page.wait_for_function(f"window.dae.decoded.z[0] !== {before[0]}")
        decoded = self.page.evaluate("window.dae.decoded")
        python = self.model("decoder").run(np.array([decoded["z"]], np.float32))[0]
        self.assertLessEqual(np.abs(np.array(decoded["image"]) - python).max(), 1e-4)

    def test_everything_comes_from_the_local_server(self):
        self.assertNotEmpty(self.requests)
        self.assertEmpty([u for u in self.requests if not u.startswith(self.url)])
        self.assertTrue(any(u.endswith(".wasm") for u in self.requests))  # LiteRT.js, locally.

    def save_screenshot(self):
        folder = os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR", self.folder)
        path = os.path.join(folder, "web-demo.png")
        self.page.screenshot(path=path, full_page=True)
        self.assertGreater(os.path.getsize(path), 1000)


if __name__ == "__main__":
    absltest.main()
