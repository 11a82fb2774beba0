"""Tests of export.config.ExportConfig: every bad value or path is one line, before TensorFlow."""

import os
import re

from absl.testing import absltest, parameterized

from keras_dae.core.errors import ExportError
from keras_dae.export.config import ExportConfig
from tests.cli import CliAssertions, run_module

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ExportConfigTest(CliAssertions, parameterized.TestCase):
    def setUp(self):
        super().setUp()
        self.folder = self.create_tempdir().full_path
        self.model = os.path.join(self.folder, "model.keras")
        open(self.model, "w").close()

    def test_defaults_are_the_command_lines(self):
        config = ExportConfig(model=self.model, export_dir=os.path.join(self.folder, "e"))
        self.assertEqual(
            (
                config.float_tolerance,
                config.int8_tolerance,
                config.calibration_examples,
                config.num_threads,
                config.latency_invokes,
                config.seed,
            ),
            (0.001, 0.02, 1000, 1, 2000, 0),
        )

    @parameterized.named_parameters(
        ("float_tolerance", {"float_tolerance": -0.1}, "float_tolerance must be a finite number"),
        ("int8_tolerance", {"int8_tolerance": float("nan")}, "int8_tolerance must be a finite"),
        (
            "calibration",
            {"calibration_examples": 1},
            "calibration_examples must be an integer >= 2",
        ),
        ("threads", {"num_threads": 0}, "num_threads must be an integer >= 1"),
        ("invokes", {"latency_invokes": 2.5}, "latency_invokes must be an integer >= 1"),
        ("seed", {"seed": -1}, "seed must be an integer >= 0"),
        ("model", {"model": "none.keras"}, "none.keras: no such model file"),
        ("data_dir", {"data_dir": "no/such"}, "no/such: no such folder"),
    )
    def test_bad_values(self, change, message):
        values = {"model": self.model, "export_dir": os.path.join(self.folder, "e"), **change}
        with self.assertRaisesRegex(ExportError, "^" + re.escape(message)):
            ExportConfig(**values)

    def test_export_dir_that_is_a_file_is_refused_before_tensorflow(self):
        run = run_module(
            "export",
            "--model",
            self.model,
            "--export_dir",
            self.model,
            python_flags=("-X", "importtime"),
        )
        self.assert_one_line_error(run, "export", f"{self.model}: not a folder")
        imported = [
            line.split("|")[-1].strip()
            for line in run.stderr.splitlines()
            if line.startswith("import time")
        ]
        self.assertIn("keras_dae.export.config", imported)
        self.assertEmpty(
            [name for name in imported if name.split(".")[0] in ("tensorflow", "keras")]
        )


if __name__ == "__main__":
    absltest.main()
