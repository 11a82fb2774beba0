"""The original's configurations through every command, on small data: train, export
(`export_model`, the body of `python -m export`), `python -m export.infer`, `python -m
export.serve` (one request) and keras_dae.evaluate (`--compare` between rows of one test set, and
`python -m keras_dae.evaluate` refusing rows of two).

Rows: pairwise over add_noise, loss, binarize_input and latent_dim (all four pairs of values of
every two of them appear), and each noise kind on a DAE row:

    row          add_noise  loss  binarize_input  latent_dim  noise
    AE-CE-z10    no         CE    yes             10          -
    AE-MSE-z2    no         MSE   no              2           -
    DAE-CE-z2    dropout    CE    no              2           dropout
    DAE-MSE-z2   mask       MSE   yes             2           mask
    DAE-MSE-z10  gaussian   MSE   no              10          gaussian

An option that cannot apply is refused with one line: `export.infer --corrupt` of an AE (no
training noise), `--compare` of a binarized row with a grey one (another test set)."""

import itertools
import json
import os
import shutil
import tempfile

import numpy as np
from absl.testing import absltest, parameterized

from keras_dae import evaluate
from keras_dae.core import rundir
from keras_dae.core.config import TrainConfig
from keras_dae.export import layout
from keras_dae.export.config import ExportConfig
from keras_dae.export.convert.pipeline import export_model
from keras_dae.training import train_and_evaluate
from tests.cli import CliAssertions, run_module
from tests.idx_fixtures import write_mnist_dir
from tests.serving_fixtures import Server, predict

ROWS = {
    "AE-CE-z10": dict(add_noise=False, loss="ce", binarize_input=True, latent_dim=10),
    "AE-MSE-z2": dict(add_noise=False, loss="mse", binarize_input=False, latent_dim=2),
    "DAE-CE-z2": dict(add_noise=True, loss="ce", binarize_input=False, latent_dim=2),
    "DAE-MSE-z2": dict(add_noise=True, loss="mse", binarize_input=True, latent_dim=2, noise="mask"),
    "DAE-MSE-z10": dict(
        add_noise=True, loss="mse", binarize_input=False, latent_dim=10, noise="gaussian"
    ),
}
# Rows evaluated with --compare: the same test set (binarized or not), a DAE beside an AE.
COMPARED = {"DAE-MSE-z2": "AE-CE-z10", "DAE-CE-z2": "AE-MSE-z2", "DAE-MSE-z10": "AE-MSE-z2"}


class MatrixTest(CliAssertions, parameterized.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix="matrix_test-")
        cls.data_dir = os.path.join(cls.tmp, "mnist")
        os.makedirs(cls.data_dir)
        write_mnist_dir(cls.data_dir, n_train=200, n_test=50)
        cls.runs, cls.exports = {}, {}
        for name, options in ROWS.items():
            run = os.path.join(cls.tmp, "runs", name)
            train_and_evaluate(
                TrainConfig(
                    epochs=1, print_every=0, data_dir=cls.data_dir, output_dir=run, **options
                )
            )
            cls.runs[name], cls.exports[name] = run, os.path.join(cls.tmp, "exports", name)
            export_model(
                ExportConfig(
                    model=os.path.join(run, rundir.MODEL),
                    export_dir=cls.exports[name],
                    calibration_examples=50,
                    latency_invokes=5,
                )
            )
        cls.evaluations = {
            name: evaluate.evaluate(cls.runs[name], cls.runs[other], probe_epochs=1)
            for name, other in COMPARED.items()
        }

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def test_rows_are_pairwise(self):
        factors = ("add_noise", "loss", "binarize_input", "latent_dim")
        for a, b in itertools.combinations(factors, 2):
            seen = {(row[a], row[b]) for row in ROWS.values()}
            self.assertLen(seen, 4, (a, b))
        noises = {row.get("noise", "dropout") for row in ROWS.values() if row["add_noise"]}
        self.assertEqual(noises, {"dropout", "mask", "gaussian"})
        self.assertEqual(set(COMPARED) | set(COMPARED.values()), set(ROWS))

    @parameterized.parameters(ROWS)
    def test_train_and_export(self, name):
        saved = rundir.read_history(self.runs[name])
        self.assertTrue(saved["finished"])
        self.assertEqual(TrainConfig.from_dict(saved["config"]).run_name, name)
        noisy = saved["epochs"][-1]["test_loss_noisy"]
        self.assertEqual(noisy is not None, ROWS[name]["add_noise"])
        with open(os.path.join(layout.version_dir(self.exports[name], 1), "MODEL_CARD.md")) as f:
            self.assertIn(f"# Model card for {name}", f.read())
        with open(os.path.join(layout.version_dir(self.exports[name], 1), "model.json")) as f:
            info = json.load(f)
        self.assertEqual(
            (info["latent_dim"], info["loss"]), (ROWS[name]["latent_dim"], ROWS[name]["loss"])
        )

    @parameterized.parameters(ROWS)
    def test_infer(self, name):
        options, out = ROWS[name], self.create_tempdir().full_path
        images = os.path.join(out, "digits.npy")
        np.save(images, np.random.default_rng(0).random((3, 784)).astype(np.float32))
        model = layout.tflite_path(self.exports[name], 1, "int8")
        args = ["--model", model, "--input", images, "--output_dir", out]
        args.append("--binarize" if options["binarize_input"] else "--nobinarize")
        corrupt = run_module("export.infer", *args, "--corrupt", timeout=60)
        if options["add_noise"]:
            self.assertEqual(corrupt.returncode, 0, corrupt.stderr[-2000:])
        else:
            self.assert_one_line_error(corrupt, "export.infer", "has no training noise to apply")
            clean = run_module("export.infer", *args, timeout=60)
            self.assertEqual(clean.returncode, 0, clean.stderr[-2000:])
        self.assertContainsSubset(
            {"digits-0.png", "digits-2.png", "sheet.png"}, set(os.listdir(out))
        )

    @parameterized.parameters(ROWS)
    def test_serve_one_request(self, name):
        log = os.path.join(self.create_tempdir().full_path, "serve.log")
        server = Server(self.exports[name], log, "--runtime=litert")
        try:
            server.wait_ready()
            _, answer = predict(server, {"instances": [[0.0] * 784]})
            self.assertEqual(np.asarray(answer["predictions"]).shape, (1, 784))
        finally:
            self.assertEqual(server.stop(), 0, server.log_text()[-2000:])

    @parameterized.parameters(COMPARED.items())
    def test_evaluate_beside_a_row_of_the_same_test_set(self, name, other):
        e = self.evaluations[name]
        self.assertEqual((e["run_name"], e["compare"]["run_name"]), (name, other))
        self.assertIsNone(e["test_set_label"])  # The same test set: nothing to tell apart.
        self.assertTrue(os.path.isfile(os.path.join(self.runs[name], evaluate.MARKDOWN)))

    def test_evaluate_command_refuses_rows_of_two_test_sets(self):
        run = run_module(
            "keras_dae.evaluate",
            f"--run={self.runs['AE-CE-z10']}",
            f"--compare={self.runs['AE-MSE-z2']}",
            timeout=120,
        )
        self.assert_one_line_error(run, "keras_dae.evaluate", "binarized: True vs False")


if __name__ == "__main__":
    absltest.main()
