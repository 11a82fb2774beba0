"""Tests of keras_dae.training: the schedule, a finite CE, short runs that write every output."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import tensorflow as tf
from absl import logging as absl_logging
from absl.testing import parameterized

import keras_dae
from keras_dae import training
from keras_dae.core.config import TrainConfig
from tests.idx_fixtures import write_mnist_dir


class ScheduleAndLossTest(parameterized.TestCase, tf.test.TestCase):
    def test_learning_rate_at_every_epoch(self):
        config = TrainConfig()
        lrs = [training.learning_rate(epoch, config) for epoch in range(10)]
        self.assertAllClose(lrs, [3e-4] * 5 + [3e-5] * 5)  # divided by 10 from epoch 6 on

    def test_custom_schedule(self):
        config = TrainConfig(learning_rate=1e-3, lr_decay_epoch=2, lr_decay_factor=4)
        self.assertAllClose(
            [training.learning_rate(e, config) for e in range(3)], [1e-3, 2.5e-4, 2.5e-4]
        )

    def test_steps_per_execution_never_crosses_an_epoch(self):
        for steps in (938, 97, 64, 1):
            spe = training.steps_per_execution(steps, "default")
            self.assertEqual(steps % spe, 0)
            self.assertLessEqual(spe, training.MAX_STEPS_PER_EXECUTION)
        self.assertEqual(training.steps_per_execution(938, "default"), 67)
        self.assertEqual(training.steps_per_execution(938, "multi_worker"), 1)

    @parameterized.parameters(("default", True, "threefry"), ("mirrored", False, "philox"))
    def test_xla_and_its_random_numbers(self, strategy, jit, alg):
        autoencoder, clean = training.build_models(TrainConfig(strategy=strategy), 938)
        self.assertEqual(autoencoder.jit_compile, jit)
        self.assertFalse(clean.jit_compile)
        self.assertEqual(
            autoencoder.get_layer("encoder").get_layer("encoder_dropout1").rng_alg, alg
        )

    @parameterized.parameters(True, False)
    def test_cross_entropy_finite_when_the_sigmoid_saturates(self, graph):
        loss_fn = training.reconstruction_loss("ce")
        logits = tf.constant([[200.0, -200.0, 30.0, -30.0]])
        target = tf.constant([[0.0, 1.0, 0.0, 1.0]])  # every pixel confidently wrong

        def loss_and_grad(z):
            with tf.GradientTape() as tape:
                tape.watch(z)
                loss = loss_fn(target, keras.activations.sigmoid(z))
            return loss, tape.gradient(loss, z)

        loss, grad = (tf.function(loss_and_grad) if graph else loss_and_grad)(logits)
        self.assertTrue(np.isfinite(loss.numpy()))
        self.assertGreater(loss.numpy(), 10.0)
        self.assertAllEqual(np.isfinite(grad.numpy()), np.ones((1, 4), bool))
        if graph:  # The exact logits path: the saturated pixels still get a gradient.
            self.assertAllClose(loss, np.mean([200, 200, 30, 30]), rtol=1e-5)
            self.assertAllGreater(np.abs(grad.numpy()), 0.1)

    def test_mse(self):
        loss_fn = training.reconstruction_loss("mse")
        self.assertAllClose(loss_fn(np.zeros((2, 4)), np.full((2, 4), 0.5)), 0.25)


class TrainAndEvaluateTest(parameterized.TestCase, tf.test.TestCase):
    def setUp(self):
        super().setUp()
        self.data_dir = self.create_tempdir().full_path
        write_mnist_dir(self.data_dir, n_train=200, n_test=70)

    def run_config(self, **kwargs):
        workdir = self.create_tempdir().full_path
        config = TrainConfig(data_dir=self.data_dir, output_dir=workdir, print_every=1, **kwargs)
        return config, training.train_and_evaluate(config)

    def test_dae_run_writes_every_output(self):
        config, result = self.run_config(epochs=2, latent_dim=2, lr_decay_epoch=2, tensorboard=True)
        files = set(os.listdir(result.workdir))
        self.assertContainsSubset(
            {
                "truth.png",
                "noised.png",
                "DAE-CE-z2-e1.png",
                "DAE-CE-z2-e2.png",
                "loss.png",
                "latent.png",
                "manifold.png",
                "model.keras",
                "history.json",
                "tensorboard",
            },
            files,
        )
        self.assertEmpty([f for f in files if f.startswith(".partial")])  # no temporaries left
        self.assertNotIn("backup.npz", files)  # removed once the run is complete
        with open(os.path.join(result.workdir, "history.json")) as f:
            saved = json.load(f)
        self.assertEqual(saved["config"]["latent_dim"], 2)
        self.assertEqual(saved["epochs"], result.history)
        self.assertTrue(saved["finished"])
        self.assertEqual([h["epoch"] for h in result.history], [1, 2])
        self.assertAllClose([h["lr"] for h in result.history], [3e-4, 3e-5])
        for h in result.history:
            for key in ("train_loss", "test_loss_clean", "test_loss_noisy", "seconds"):
                self.assertTrue(np.isfinite(h[key]) and h[key] > 0, key)
        self.assertNotEmpty(
            tf.io.gfile.glob(os.path.join(result.workdir, "tensorboard", "*", "events.*"))
        )
        x = np.random.default_rng(0).random((3, 784)).astype(np.float32)
        loaded = keras.saving.load_model(os.path.join(result.workdir, "model.keras"))
        self.assertAllClose(loaded(x), result.autoencoder(x), atol=1e-6)
        self.assertEqual(result.encoder(x).shape, (3, 2))

    def test_ae_with_mse(self):
        config, result = self.run_config(epochs=1, add_noise=False, loss="mse", test_examples=10)
        files = os.listdir(result.workdir)
        self.assertIn("AE-MSE-z10-e1.png", files)
        self.assertNotIn("noised.png", files)
        self.assertNotIn("manifold.png", files)
        self.assertIsNone(result.history[0]["test_loss_noisy"])
        # Finished: nothing is trained again.
        with self.assertLogs(absl_logging.get_absl_logger(), "INFO") as logs:
            again = training.train_and_evaluate(config)
        self.assertTrue(any("already holds this finished run" in line for line in logs.output))
        self.assertEqual(again.history, result.history)

    def test_same_seed_same_run(self):
        runs = [self.run_config(epochs=1, seed=s)[1].history[0] for s in (3, 3, 4)]
        self.assertEqual(runs[0]["train_loss"], runs[1]["train_loss"])
        self.assertEqual(runs[0]["test_loss_clean"], runs[1]["test_loss_clean"])
        self.assertNotEqual(runs[0]["train_loss"], runs[2]["train_loss"])

    def test_model_file_loads_with_keras_alone(self):
        _, result = self.run_config(epochs=1, noise="mask", noise_rate=0.3)
        x = np.random.default_rng(0).random((4, 784)).astype(np.float32)
        inputs, outputs = (
            os.path.join(result.workdir, "x.npy"),
            os.path.join(result.workdir, "y.npy"),
        )
        np.save(inputs, x)
        code = (
            "import sys, keras, numpy as np\n"
            "assert not any(m.startswith('keras_dae') for m in sys.modules)\n"
            "model = keras.saving.load_model(sys.argv[1])\n"
            "np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), verbose=0))\n"
        )
        run = subprocess.run(
            [
                sys.executable,
                "-c",
                code,
                os.path.join(result.workdir, "model.keras"),
                inputs,
                outputs,
            ],
            cwd="/",
            capture_output=True,
            text=True,
            timeout=180,
        )
        self.assertEqual(run.returncode, 0, run.stderr[-2000:])
        expected = result.decoder(result.encoder(x, training=False), training=False)
        self.assertAllClose(np.load(outputs), expected, atol=1e-6)

    def test_test_set_smaller_than_a_figure(self):
        _, result = self.run_config(epochs=1, test_examples=1)
        self.assertTrue(os.path.isfile(os.path.join(result.workdir, "latent.png")))

    def test_python_api(self):
        workdir = self.create_tempdir().full_path
        result = keras_dae.train(
            data_dir=self.data_dir,
            output_dir=workdir,
            epochs=1,
            noise="mask",
            noise_rate=0.25,
            print_every=0,
        )
        self.assertLen(result.history, 1)
        self.assertEqual(result.decoder.output_shape, (None, 784))
        # What a notebook cell ending in main(...) prints: one line, not every record.
        self.assertEqual(
            repr(result),
            f"TrainResult(workdir={workdir!r}, epochs=1, "
            f"test_loss_clean={result.history[0]['test_loss_clean']!r})",
        )
        self.assertIs(keras_dae.main, keras_dae.train)
        with self.assertRaisesRegex(keras_dae.ConfigError, "epochs"):
            keras_dae.train(epochs=0)


if __name__ == "__main__":
    tf.test.main()
