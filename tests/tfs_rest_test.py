"""The rest of TF Serving's REST API (export/serving/tfs_rest.py) on uvicorn in process, over
stand-in versions, with KServe's own error handlers: predict by version and label, status per
version, metadata as TF Serving renders it, the 404s and 400s."""

import json
import threading
import time

import uvicorn
from absl.testing import absltest, parameterized
from fastapi import FastAPI
from kserve.errors import (
    InvalidInput,
    ModelNotFound,
    invalid_input_handler,
    model_not_found_handler,
)

from keras_dae.export.serving import tfs_rest
from tests.servable_fixtures import infer, lookup
from tests.serving_fixtures import free_port, request

ROW = [0.25] * 784


class TfsRestTest(parameterized.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        app = FastAPI()
        app.include_router(tfs_rest.router(lookup, infer, max_batch=8))
        app.add_exception_handler(InvalidInput, invalid_input_handler)
        app.add_exception_handler(ModelNotFound, model_not_found_handler)
        port = free_port()
        cls.server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="critical"))
        threading.Thread(target=cls.server.run, daemon=True).start()
        while not cls.server.started:
            time.sleep(0.05)
        cls.url = f"http://127.0.0.1:{port}/v1/models/dae"

    @classmethod
    def tearDownClass(cls):
        cls.server.should_exit = True
        super().tearDownClass()

    @parameterized.parameters(("/versions/1", 1), ("/labels/stable", 1), ("/labels/canary", 2))
    def test_predict_by_version_and_label(self, path, number):
        status, headers, text = request(
            f"{self.url}{path}:predict", {"signature_name": "encode", "instances": [ROW]}
        )
        self.assertEqual(status, 200, text)
        self.assertEqual(headers["X-Model-Version"], str(number))
        self.assertEqual(json.loads(text), {"predictions": [[196.0 * number] * 4]})

    @parameterized.parameters("/versions/1:predict", "/labels/stable:predict")
    def test_get_on_a_predict_url_is_405(self, path):
        status, _, text = request(f"{self.url}{path}", method="GET")
        self.assertEqual(status, 405, text)  # The {"error": ...} body is routes.py's handler's.
        self.assertIn("GET is not allowed on a :predict URL", text)

    @parameterized.parameters(
        ("/versions/1", "1"), ("/labels/stable", "1"), ("/labels/canary", "2")
    )
    def test_status_of_one_version(self, path, version):
        status, _, text = request(f"{self.url}{path}", method="GET")
        self.assertEqual(status, 200, text)
        self.assertEqual(
            json.loads(text),
            {
                "model_version_status": [
                    {
                        "version": version,
                        "state": "AVAILABLE",
                        "status": {"error_code": "OK", "error_message": ""},
                    }
                ]
            },
        )

    @parameterized.parameters(("", "2"), ("/versions/1", "1"), ("/labels/canary", "2"))
    def test_metadata_as_tf_serving_renders_it(self, path, version):
        status, _, text = request(f"{self.url}{path}/metadata", method="GET")
        self.assertEqual(status, 200, text)
        body = json.loads(text)
        self.assertEqual(
            body["model_spec"], {"name": "dae", "signature_name": "", "version": version}
        )
        signatures = body["metadata"]["signature_def"]["signature_def"]
        self.assertCountEqual(signatures, ["serving_default", "encode", "decode"])
        codes = signatures["encode"]["outputs"]["codes"]
        self.assertEqual(codes["dtype"], "DT_FLOAT")
        self.assertEqual(
            codes["tensor_shape"],
            {"dim": [{"size": "-1", "name": ""}, {"size": "4", "name": ""}], "unknown_rank": False},
        )
        self.assertEqual(signatures["decode"]["method_name"], "tensorflow/serving/predict")

    @parameterized.parameters(
        ("/versions/3:predict", "POST", 404, "Servable not found for request: Specific(dae, 3)"),
        ("/labels/beta:predict", "POST", 404, "Unrecognized servable version label: beta"),
        ("/versions/9/metadata", "GET", 404, "Servable not found for request: Specific(dae, 9)"),
        ("/versions/x", "GET", 400, "version 'x' is not a number"),
        (":classify", "POST", 400, "model 'dae' has no classify signatures"),
        ("/versions/1:regress", "POST", 400, "model 'dae' has no regress signatures"),
    )
    def test_misses_and_refusals_in_tf_servings_error_shape(self, path, method, code, error):
        status, _, text = request(
            f"{self.url}{path}", {"instances": [ROW]} if method == "POST" else None, method
        )
        self.assertEqual(status, code, text)
        self.assertStartsWith(json.loads(text)["error"], error)

    def test_unknown_model(self):
        url = self.url.replace("/dae", "/ae") + "/labels/stable:predict"
        status, _, text = request(url, {"instances": [ROW]})
        self.assertEqual(json.loads(text), {"error": "Servable not found for request: Latest(ae)"})


if __name__ == "__main__":
    absltest.main()
