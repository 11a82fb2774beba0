"""The original's configurations through every command, on small data: train, export
(`export_model`, the body of `python -m export`), `python -m export.infer`, `python -m
export.serve` (one request) and keras_dae.evaluate (`evaluate(run, compare)` of two pairs of rows
of one test set, `python -m keras_dae.evaluate` of the fifth row).

Rows: pairwise over add_noise, loss, binarize_input and latent_dim (all four pairs of values of
every two of them appear), and each noise kind on a DAE row:

    row          add_noise  loss  binarize_input  latent_dim  noise
    AE-CE-z10    no         CE    yes             10          -
    AE-MSE-z2    no         MSE   no              2           -
    DAE-CE-z2    dropout    CE    no              2           dropout
    DAE-MSE-z2   mask       MSE   yes             2           mask
    DAE-MSE-z10  gaussian   MSE   no              10          gaussian

An option that cannot apply is refused with one line: `export.infer --corrupt` of an AE (no
training noise); `--compare` of a binarized row with a grey one (another test set) is refused
too."""

import dataclasses
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from absl.testing import absltest, parameterized

from keras_dae import evaluation
from keras_dae.core import rundir
from keras_dae.core.config import TrainConfig
from keras_dae.core.errors import RunError
from keras_dae.export import layout
from keras_dae.export.config import ExportConfig
from keras_dae.export.convert.pipeline import export_model
from keras_dae.training import train_and_evaluate
from tests.cli import ROOT, CliAssertions, run_module
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
# Rows evaluated with --compare: the same test set (binarized, not), a DAE beside an AE.
COMPARED = {"DAE-MSE-z2": "AE-CE-z10", "DAE-CE-z2": "AE-MSE-z2"}
ALONE = "DAE-MSE-z10"  # Evaluated by the command.
# Two processes share the work: a small model leaves much of a core idle (Python, tracing,
# conversion), so two lanes take about half the time on two cores.
LANES = (("AE-CE-z10", "DAE-MSE-z2", ALONE), ("AE-MSE-z2", "DAE-CE-z2"))


def paths(tmp: str, name: str) -> tuple[str, str]:
    """(run folder, export folder) of a row."""
    return os.path.join(tmp, "runs", name), os.path.join(tmp, "exports", name)


def build_lane(tmp: str, *names: str) -> None:
    """Trains and exports the rows `names` (one epoch, small calibration and latency budgets),
    then evaluates each compared pair whose two rows are among them."""
    for name in names:
        run, export_dir = paths(tmp, name)
        config = TrainConfig(
            epochs=1, print_every=0, data_dir=os.path.join(tmp, "mnist"), output_dir=run
        )
        train_and_evaluate(dataclasses.replace(config, **ROWS[name]))
        export_model(
            ExportConfig(
                model=os.path.join(run, rundir.MODEL),
                export_dir=export_dir,
                calibration_examples=50,
                latency_invokes=5,
            )
        )
    for name, other in COMPARED.items():
        if {name, other} <= set(names):
            evaluation.evaluate(paths(tmp, name)[0], paths(tmp, other)[0], probe_epochs=1)


class MatrixTest(CliAssertions, parameterized.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix="matrix_test-")
        os.makedirs(os.path.join(cls.tmp, "mnist"))
        write_mnist_dir(os.path.join(cls.tmp, "mnist"), n_train=200, n_test=50)
        code = "import sys; from tests.matrix_test import build_lane; build_lane(*sys.argv[1:])"
        logs = [os.path.join(cls.tmp, f"lane{i}.log") for i in range(len(LANES))]
        lanes = []
        for names, log in zip(LANES, logs):
            with open(log, "w") as f:  # The child keeps its own copy of the descriptor.
                command = [sys.executable, "-c", code, cls.tmp, *names]
                lanes.append(subprocess.Popen(command, cwd=ROOT, stdout=f, stderr=f))
        for lane, log in zip(lanes, logs):
            if lane.wait(timeout=600):
                with open(log) as f:
                    raise AssertionError(f"{log}: {f.read()[-3000:]}")
        cls.runs = {name: paths(cls.tmp, name)[0] for name in ROWS}
        cls.exports = {name: paths(cls.tmp, name)[1] for name in ROWS}
        cls.evaluations = {name: rundir.read_evaluation(cls.runs[name]) for name in COMPARED}
        # The evaluate command and the five servers start together: their start-ups overlap.
        evaluate_command = ["-m", "keras_dae.evaluate", f"--run={cls.runs[ALONE]}"]
        cls.evaluate_log = os.path.join(cls.tmp, "evaluate.log")
        with open(cls.evaluate_log, "w") as f:
            cls.evaluate_command = subprocess.Popen(
                [sys.executable, *evaluate_command, "--probe_epochs=1"],
                cwd=ROOT,
                stdout=f,
                stderr=f,
            )
        cls.servers = {
            name: Server(
                cls.exports[name], os.path.join(cls.tmp, f"{name}.log"), "--runtime=litert"
            )
            for name in ROWS
        }

    @classmethod
    def tearDownClass(cls):
        for process in [cls.evaluate_command] + [s.process for s in cls.servers.values()]:
            if process.poll() is None:
                process.kill()
                process.wait()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def test_rows_are_pairwise(self):
        factors = ("add_noise", "loss", "binarize_input", "latent_dim")
        for a, b in itertools.combinations(factors, 2):
            seen = {(row[a], row[b]) for row in ROWS.values()}
            self.assertLen(seen, 4, (a, b))
        noises = {row.get("noise", "dropout") for row in ROWS.values() if row["add_noise"]}
        self.assertEqual(noises, {"dropout", "mask", "gaussian"})
        self.assertEqual(set(COMPARED) | set(COMPARED.values()) | {ALONE}, set(ROWS))

    @parameterized.parameters(*ROWS)
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

    @parameterized.parameters(*ROWS)
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

    def test_serve_one_request_each(self):
        for name, server in self.servers.items():
            server.wait_ready()
            _, answer = predict(server, {"instances": [[0.0] * 784]})
            self.assertEqual(np.asarray(answer["predictions"]).shape, (1, 784), name)
            self.assertEqual(server.stop(), 0, f"{name}: {server.log_text()[-2000:]}")

    @parameterized.parameters(COMPARED.items())
    def test_evaluate_beside_a_row_of_the_same_test_set(self, name, other):
        e = self.evaluations[name]
        self.assertEqual((e["run_name"], e["compare"]["run_name"]), (name, other))
        self.assertIsNone(e["test_set_label"])  # The same test set: nothing to tell apart.
        self.assertTrue(os.path.isfile(os.path.join(self.runs[name], evaluation.MARKDOWN)))

    def test_evaluate_command(self):
        code = self.evaluate_command.wait(timeout=300)
        with open(self.evaluate_log) as f:
            self.assertEqual(code, 0, f.read()[-2000:])
        for name in (evaluation.JSON, evaluation.MARKDOWN, *evaluation.FIGURES):
            self.assertTrue(os.path.isfile(os.path.join(self.runs[ALONE], name)), name)

    def test_evaluate_refuses_rows_of_two_test_sets(self):
        with self.assertRaisesRegex(RunError, re.escape("binarized: True vs False")):
            evaluation.evaluate(self.runs["AE-CE-z10"], self.runs["AE-MSE-z2"])


if __name__ == "__main__":
    absltest.main()
