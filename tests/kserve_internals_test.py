"""The private KServe parts that export/serving/kserve_internals.py uses exist in the installed
kserve, and that kserve is the version they were checked against."""

import importlib.metadata

from absl.testing import absltest
from kserve.protocol.rest.server import RESTServer

from keras_dae.export.serving import kserve_internals


class KServeInternalsTest(absltest.TestCase):
    def test_installed_version_is_the_checked_one(self):
        self.assertEqual(
            {name: importlib.metadata.version(name) for name in kserve_internals.CHECKED_VERSIONS},
            kserve_internals.CHECKED_VERSIONS,
            "kserve changed: recheck every use in export/serving/kserve_internals.py (the "
            "module-global app, RESTServer built by hand, the timing middleware and route order) "
            "and run tests/serve_test.py, then update CHECKED_VERSIONS",
        )

    def test_the_private_parts_exist(self):
        app = kserve_internals.fastapi_app()
        self.assertTrue(hasattr(app.router, "lifespan_context"))
        self.assertTrue(hasattr(app, "user_middleware"))
        self.assertTrue(callable(RESTServer.run))


if __name__ == "__main__":
    absltest.main()
