"""keras_dae.evaluate: its metrics on known cases, --exclude_digits, refusals, atomic outputs and
a tiny trained run end to end."""

import dataclasses
import json
import os
import re
import shutil
import tempfile
from unittest import mock

import keras
import numpy as np
from absl import flags as absl_flags
from absl.testing import absltest, parameterized

import keras_dae
from keras_dae import data, evaluation, flags, metrics
from keras_dae.core import durable, errors, mnist, rundir
from keras_dae.core.config import TrainConfig
from keras_dae.core.errors import ConfigError
from keras_dae.evaluation_figures import strongest_filters
from keras_dae.probe import probe_accuracy
from tests.cli import CliAssertions, run_module
from tests.idx_fixtures import write_mnist_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTPUTS = (evaluation.JSON, evaluation.MARKDOWN) + evaluation.FIGURES


class MetricsTest(parameterized.TestCase):
    def test_psnr_of_identical_images_is_the_cap(self):
        x = np.random.default_rng(0).random((3, 784))
        np.testing.assert_allclose(metrics.psnr(x, x), metrics.PSNR_CAP)

    @parameterized.parameters(0.1, 0.03, 0.5)
    def test_psnr_of_a_known_error(self, error):
        clean = np.random.default_rng(1).random((4, 784))
        np.testing.assert_allclose(metrics.psnr(clean, clean + error), -20 * np.log10(error))

    def test_cross_entropy_is_the_formula_per_image(self):
        targets = np.array([[1.0, 0.0], [1.0, 1.0]])
        probabilities = np.array([[0.8, 0.3], [0.5, 1.0]])
        expected = [-(np.log(0.8) + np.log(0.7)) / 2, -(np.log(0.5) + np.log(1 - metrics.EPS)) / 2]
        np.testing.assert_allclose(metrics.cross_entropy(targets, probabilities), expected)

    def test_roc_auc(self):
        normal, anomalous = np.array([0.1, 0.2, 0.3]), np.array([0.5, 0.9])
        self.assertEqual(metrics.roc_auc(normal, anomalous), 1.0)
        self.assertEqual(metrics.roc_auc(anomalous, normal), 0.0)
        self.assertIsNone(metrics.roc_auc(normal, np.zeros(0)))

    def test_probe_on_separable_codes(self):
        rng = np.random.default_rng(0)
        centres = 10 * rng.normal(size=(10, 16))
        labels = rng.integers(0, 10, 1200)
        codes = (centres[labels] + rng.normal(size=(1200, 16))).astype(np.float32)
        accuracy = probe_accuracy(codes[:1000], labels[:1000], codes[1000:], labels[1000:], 0, 30)
        self.assertGreater(accuracy, 0.99)

    def test_strongest_filters(self):

        kernel = np.zeros((784, 5))
        kernel[0, 3], kernel[1, 1] = -4.0, 2.0
        filters = strongest_filters(kernel, 2)
        self.assertEqual(filters[0, 0], 0.0)  # The largest, negative weight: black.
        self.assertEqual(filters[1, 1], 1.0)


class ExcludeDigitsTest(parameterized.TestCase):
    def test_removes_exactly_those_training_examples(self):
        folder = self.create_tempdir().full_path
        arrays = write_mnist_dir(folder, n_train=80, n_test=40)
        d = data.load(TrainConfig(data_dir=folder, exclude_digits=(7, 3), binarize_input=False))
        images, labels = arrays["train"]
        keep = ~np.isin(labels, [3, 7])
        self.assertTrue(0 < keep.sum() < len(labels))
        np.testing.assert_array_equal(d.y_train, labels[keep])
        np.testing.assert_array_equal(d.x_train, mnist.preprocess(images[keep], False))
        np.testing.assert_array_equal(d.y_test, arrays["t10k"][1])  # Test keeps every digit.

    def test_flag(self):
        values = absl_flags.FlagValues()
        flags.define_train_flags(values)
        values(["prog", "--exclude_digits=9", "--exclude_digits=3"])
        config = flags.train_config_from_flags(["prog"], values)
        self.assertEqual(config.exclude_digits, (3, 9))
        self.assertEqual(config.to_dict()["exclude_digits"], [3, 9])  # As history.json holds it.
        with self.assertRaises(absl_flags.IllegalFlagValueError):
            values(["prog", "--exclude_digits=10"])

    @parameterized.parameters([[4, 4]], [list(range(10))], [[-1]], [["9"]])
    def test_invalid(self, digits):
        with self.assertRaisesRegex(ConfigError, "exclude_digits"):
            TrainConfig(exclude_digits=digits)

    def test_part_of_the_run_identity(self):
        self.assertEqual(TrainConfig(exclude_digits=[9]).differences({"exclude_digits": [9]}), [])
        self.assertEqual(TrainConfig().differences({}), [])  # history.json from before the field.
        self.assertIn("exclude_digits", TrainConfig(exclude_digits=[9]).differences({}))


class EvaluateTest(CliAssertions, parameterized.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix="evaluate_test-")
        cls.data_dir = os.path.join(cls.tmp, "mnist")
        os.makedirs(cls.data_dir)
        write_mnist_dir(cls.data_dir, n_train=300, n_test=100)
        cls.run_dir = os.path.join(cls.tmp, "run")
        keras_dae.train(
            data_dir=cls.data_dir,
            output_dir=cls.run_dir,
            epochs=1,
            print_every=0,
            exclude_digits=(9,),
        )
        cls.compare = os.path.join(cls.tmp, "compare")
        shutil.copytree(cls.run_dir, cls.compare)
        cls.evaluation = evaluation.evaluate(
            cls.run_dir, cls.compare, ood_dir=cls.data_dir, probe_epochs=1
        )

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def test_outputs(self):
        names = os.listdir(self.run_dir)
        for name in OUTPUTS:
            self.assertIn(name, names)
        self.assertEmpty([n for n in names if n.startswith(durable.TEMP_PREFIX)])
        with open(os.path.join(self.run_dir, evaluation.JSON)) as f:
            self.assertEqual(json.load(f), self.evaluation)
        with open(os.path.join(self.run_dir, evaluation.MARKDOWN)) as f:
            self.assertIn("| run |", f.read())  # The run folder's name.

    def test_contract(self):
        e = self.evaluation
        self.assertEqual(e["run"], self.run_dir)
        self.assertGreater(e["seconds"], 0)
        for kind, curves in e["denoising"].items():
            for key in ("model_ce", "model_psnr", "input_ce", "input_psnr"):
                self.assertLen(curves[key], len(curves["rates"]), f"{kind} {key}")
        self.assertEqual(e["denoising"]["mask"]["input_psnr"][0], metrics.PSNR_CAP)
        # More corruption, worse input; the model's input at rate 0 is the clean image.
        self.assertLess(
            e["denoising"]["mask"]["input_ce"][1], e["denoising"]["mask"]["input_ce"][5]
        )
        for features in ("z", "hidden"):
            self.assertLen(e["probe"][features]["accuracies"], 3)
            self.assertBetween(e["probe"][features]["mean"], 0.0, 1.0)
        self.assertEqual(e["anomaly"]["held_out_digits"], [9])
        self.assertCountEqual(
            e["anomaly"]["roc_auc"], ["held_out", "uniform_noise", "inverted", "ood_dir"]
        )
        for auc in e["anomaly"]["roc_auc"].values():
            self.assertBetween(auc, 0.0, 1.0)
        self.assertEqual(e["compare"]["denoising"], e["denoising"])  # The same model, measured.
        self.assertEqual(e["anomaly"]["images"]["held_out"] + e["anomaly"]["images"]["normal"], 100)

    def test_refuses_a_folder_that_is_not_a_run(self):
        folder = self.create_tempdir().full_path
        with self.assertRaisesRegex(errors.RunError, "not a keras-dae run folder"):
            evaluation.evaluate(folder)
        missing = os.path.join(folder, "none")
        with self.assertRaises(errors.RunError):
            evaluation.evaluate(missing)
        self.assertFalse(os.path.exists(missing))

    def test_refuses_a_model_of_another_kind(self):
        folder = os.path.join(self.create_tempdir().full_path, "run")
        shutil.copytree(self.run_dir, folder)
        other = keras.Sequential([keras.Input((784,)), keras.layers.Dense(784, name="encoder")])
        other.save(os.path.join(folder, rundir.MODEL))
        with self.assertRaisesRegex(errors.RunError, "not a keras-dae autoencoder"):
            evaluation.evaluate(folder)

    def unfinished_run(self) -> str:
        folder = os.path.join(self.create_tempdir().full_path, "run")
        shutil.copytree(self.run_dir, folder)
        history = rundir.read_history(folder)
        rundir.write_history(folder, TrainConfig.from_dict(history["config"]), [])
        return folder

    def test_refuses_an_unfinished_run(self):
        with self.assertRaisesRegex(errors.RunError, "not finished"):
            evaluation.evaluate(self.unfinished_run())

    @parameterized.parameters("not a run", "unfinished")
    def test_cli_refuses_with_one_line(self, case):
        folder = self.create_tempdir().full_path if case == "not a run" else self.unfinished_run()
        run = run_module("keras_dae.evaluate", "--run", folder, timeout=120)
        self.assert_one_line_error(run, "keras_dae.evaluate", folder)

    def run_of(self, **changes) -> str:
        """A copy of the class's finished run whose history.json says it was trained with
        `changes` (its test set, say): what --compare checks before measuring anything."""
        folder = os.path.join(self.create_tempdir().full_path, "run")
        shutil.copytree(self.run_dir, folder)
        os.remove(os.path.join(folder, evaluation.JSON))
        history = rundir.read_history(folder)
        config = dataclasses.replace(TrainConfig.from_dict(history["config"]), **changes)
        rundir.write_history(folder, config, history["epochs"], finished=True)
        return folder

    def test_compare_refuses_another_test_set_with_one_line(self):
        run, other = self.run_of(test_examples=200), self.run_of(test_examples=500)
        cli = run_module("keras_dae.evaluate", "--run", run, "--compare", other, timeout=120)
        line = self.assert_one_line_error(cli, "keras_dae.evaluate", "images: 200 vs 500")
        self.assertIn("--allow_different_test_sets", line)
        self.assertFalse(os.path.exists(os.path.join(run, evaluation.JSON)))

    @parameterized.parameters(
        ({"binarize_input": False}, "binarized: True vs False"),
        ({"exclude_digits": ()}, "held_out_digits: [9] vs []"),
        ({"data_dir": "/elsewhere"}, "source: "),
    )
    def test_compare_names_each_kind_of_difference(self, changes, difference):
        with self.assertRaisesRegex(errors.RunError, re.escape(difference)):
            evaluation.evaluate(self.run_dir, self.run_of(**changes), probe_epochs=1)

    def test_compare_of_different_test_sets_when_allowed_labels_each_number(self):
        e = evaluation.evaluate(
            self.run_of(),
            self.run_of(test_examples=60),
            probe_epochs=1,
            allow_different_test_sets=True,
        )
        self.assertEqual((e["test_set"]["images"], e["compare"]["test_set"]["images"]), (100, 60))
        self.assertEqual(
            (e["test_set_label"], e["compare"]["test_set_label"]), ("100 images", "60 images")
        )
        # Each run's own corrupted input: other images, another baseline.
        self.assertNotEqual(
            e["denoising"]["dropout"]["input_ce"], e["compare"]["denoising"]["dropout"]["input_ce"]
        )
        with open(os.path.join(e["run"], evaluation.MARKDOWN)) as f:
            page = f.read().splitlines()
        self.assertTrue(any("measured on different test sets" in line for line in page))
        rows = [line for line in page if re.match(r"\| run \[(100|60) images\] \|", line)]
        self.assertLen(rows, 4)  # The probe and anomaly tables: a row per run each.
        header = next(line for line in page if line.startswith("| rate |"))
        for run in ("run [100 images]", "run [60 images]"):
            self.assertIn(f"| {run} input CE | {run} input PSNR | {run} CE |", header)

    @parameterized.parameters("fsync_file", "rename")
    def test_a_failed_write_leaves_no_partial_output(self, step):
        """The n-th fsync or rename fails, for every n: no temporaries stay, evaluation.json is
        absent or complete, and the rerun writes everything."""
        report = {k: v for k, v in self.evaluation.items() if k not in ("compare", "seconds")}
        report["denoising"] = {"mask": report["denoising"]["mask"]}  # One panel: quicker.
        rng = np.random.default_rng(0)
        scores = {name: rng.random(5) for name in report["anomaly"]["images"]}
        main = evaluation.Measured(report, scores, rng.normal(size=(784, 120)))
        written = self.evaluation | {"compare": None}
        real = getattr(durable, step)
        for n in range(1, len(OUTPUTS) + 1):
            folder = self.create_tempdir().full_path
            calls = []

            def failing(*args, n=n, calls=calls):
                calls.append(args)
                if len(calls) == n:
                    raise OSError(f"injected failure of {step} {n}")
                return real(*args)

            with (
                mock.patch.object(durable, step, failing),
                self.assertRaisesRegex(OSError, "injected"),
            ):
                evaluation.write_outputs(folder, written, main, None)
            self.assertEmpty([f for f in os.listdir(folder) if f.startswith(".partial-")])
            self.assertFalse(os.path.exists(os.path.join(folder, evaluation.JSON)))
            evaluation.write_outputs(folder, written, main, None)
            self.assertCountEqual(os.listdir(folder), OUTPUTS)
            with open(os.path.join(folder, evaluation.JSON)) as f:
                self.assertEqual(json.load(f), written)


if __name__ == "__main__":
    absltest.main()
