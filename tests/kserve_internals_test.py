"""The private parts of KServe, uvicorn and pyvoy that export/serving/kserve_internals.py uses
exist in the installed versions, and those are the versions they were checked against."""

import asyncio
import importlib.metadata

import grpc
from absl.testing import absltest
from kserve import ModelServer
from kserve.protocol.grpc.interceptors import ExceptionToStatusInterceptor
from pyvoy import PyvoyServer
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from keras_dae.export.serving import envoy_worker, kserve_internals


class KServeInternalsTest(absltest.TestCase):
    def test_installed_versions_are_the_checked_ones(self):
        self.assertEqual(
            {name: importlib.metadata.version(name) for name in kserve_internals.CHECKED_VERSIONS},
            kserve_internals.CHECKED_VERSIONS,
            "kserve, uvicorn, pyvoy or grpcio changed: recheck every use in "
            "export/serving/kserve_internals.py "
            "(the module-global app built by RESTServer.create_application, the timing "
            "middleware, the route order, and the httptools protocol's callbacks and its cycle's "
            "response_started and response_complete, pyvoy's _admin_address, grpcio's "
            "ExecuteBatchError) "
            "and run tests/serve_test.py and tests/serve_faults_test.py, then update "
            "CHECKED_VERSIONS",
        )

    def test_the_private_parts_exist(self):
        app = kserve_internals.rest_app(ModelServer(enable_grpc=False))
        self.assertTrue(hasattr(app, "user_middleware"))
        self.assertNotIn("TimingMiddleware", [m.cls.__name__ for m in app.user_middleware])
        app.add_api_route("/first", self.test_the_private_parts_exist)
        kserve_internals.first_routes(app, lambda route: getattr(route, "path", "") == "/first")
        self.assertEqual(app.router.routes[0].path, "/first")
        protocol = kserve_internals.read_deadline(1.0)
        self.assertTrue(issubclass(protocol, HttpToolsProtocol))
        for name in ("on_message_begin", "on_headers_complete", "on_message_complete"):
            self.assertTrue(callable(getattr(HttpToolsProtocol, name)), name)

    def test_the_v2_grpc_parts_exist(self):
        async def add():  # In a running loop: grpc.aio's server takes the current one.
            kserve_internals.add_v2_grpc(
                grpc.aio.server(), ModelServer(enable_grpc=False), lambda *_: None, lambda *_: None
            )

        asyncio.run(add())
        self.assertTrue(callable(ExceptionToStatusInterceptor().intercept))

    def test_pyvoys_admin_address_is_kept_on_the_server(self):
        """Read after start by envoy_worker's drain (tests/serve_faults_test.py starts one)."""
        server = PyvoyServer("keras_dae.export.serving.grpc_app:app")
        self.assertIsNone(kserve_internals.envoy_admin_address(server))  # Until it starts.

    def test_pyvoys_envoy_config_has_the_connection_manager_we_set(self):
        """envoy_worker sets --read_timeout_seconds in what pyvoy's get_envoy_config returns (a
        public method; pyvoy starts Envoy with its answer: serve_faults_test's stall test)."""
        server = envoy_worker._Server("keras_dae.export.serving.grpc_app:app", read_timeout_s=7.0)
        config = server.get_envoy_config()
        found = [
            found["typed_config"].get("request_timeout")
            for listener in config["static_resources"]["listeners"]
            for chain in listener["filter_chains"]
            for found in chain["filters"]
            if found["name"] == "envoy.filters.network.http_connection_manager"
        ]
        self.assertEqual(found, ["7.0s"])


if __name__ == "__main__":
    absltest.main()
