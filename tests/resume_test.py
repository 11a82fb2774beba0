"""Tests of keras_dae.resume: resuming after SIGKILL, SIGINT, another run's folder, NaN loss."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf

from idx_fixtures import write_mnist_dir
from keras_dae import resume
from keras_dae.config import TrainConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def epochs_recorded(workdir: str) -> int:
    try:
        with open(os.path.join(workdir, "history.json")) as f:
            return len(json.load(f)["epochs"])
    except (OSError, ValueError):
        return 0


class ResumeTest(tf.test.TestCase):

    def setUp(self):
        super().setUp()
        self.data_dir = self.create_tempdir().full_path
        write_mnist_dir(self.data_dir, n_train=6000, n_test=100)
        self.workdir = os.path.join(self.create_tempdir().full_path, "run")
        self.args = [sys.executable, "-m", "keras_dae", "--data_dir", self.data_dir,
                     "--output_dir", self.workdir, "-e", "4", "--lr_decay_epoch", "3", "-p", "10"]

    def start(self):
        return subprocess.Popen(self.args, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    def wait_for_epochs(self, process, n: int):
        deadline = time.time() + 240
        while epochs_recorded(self.workdir) < n:
            self.assertIsNone(process.poll(), "the run ended before it could be stopped")
            self.assertLess(time.time(), deadline)
            time.sleep(0.05)

    def finish(self, process):
        output, _ = process.communicate(timeout=300)
        return process.returncode, output

    def assert_complete(self):
        with open(os.path.join(self.workdir, "history.json")) as f:
            history = json.load(f)["epochs"]
        self.assertEqual([h["epoch"] for h in history], [1, 2, 3, 4])
        self.assertAllClose([h["lr"] for h in history], [3e-4, 3e-4, 3e-5, 3e-5])
        self.assertTrue(os.path.isfile(os.path.join(self.workdir, "model.keras")))
        self.assertFalse(os.path.exists(os.path.join(self.workdir, resume.BACKUP)))
        return history

    def test_sigkill_mid_epoch_then_rerun_resumes(self):
        process = self.start()
        self.wait_for_epochs(process, 2)
        time.sleep(0.3)  # into the third epoch
        process.send_signal(signal.SIGKILL)
        process.wait()
        self.assertLess(epochs_recorded(self.workdir), 4)
        code, output = self.finish(self.start())
        self.assertEqual(code, 0, output)
        self.assertIn("resuming: ", output)
        self.assertNotIn("Epoch 1/4", output)  # only the remaining epochs are trained
        resumed = self.assert_complete()
        # The same data order, noise and optimizer state: as if never interrupted.
        self.workdir = os.path.join(self.create_tempdir().full_path, "uninterrupted")
        self.args[self.args.index("--output_dir") + 1] = self.workdir
        code, output = self.finish(self.start())
        self.assertEqual(code, 0, output)
        uninterrupted = self.assert_complete()
        for key in ("train_loss", "test_loss_clean", "test_loss_noisy"):
            self.assertAllClose([h[key] for h in resumed], [h[key] for h in uninterrupted],
                                rtol=1e-5, msg=key)

    def test_sigint_stops_at_a_step_and_says_how_to_resume(self):
        process = self.start()
        self.wait_for_epochs(process, 1)
        process.send_signal(signal.SIGINT)
        code, output = self.finish(process)
        self.assertEqual(code, 130, output)
        self.assertIn("stopped by SIGINT", output)
        self.assertIn("run the same command again to resume", output)
        self.assertNotIn("Traceback", output)
        code, output = self.finish(self.start())
        self.assertEqual(code, 0, output)
        self.assert_complete()
        code, output = self.finish(self.start())  # finished: nothing to train
        self.assertEqual(code, 0, output)
        self.assertIn("already holds this finished run", output)


class RunFolderTest(tf.test.TestCase):

    def test_other_configuration_is_refused_unless_overwrite(self):
        workdir = self.create_tempdir().full_path
        config = TrainConfig(output_dir=workdir, latent_dim=10)
        with open(os.path.join(workdir, "history.json"), "w") as f:
            json.dump({"config": config.to_dict(), "epochs": [{"epoch": 1}]}, f)
        self.assertEqual(resume.previous_history(config, workdir), [{"epoch": 1}])
        other = TrainConfig(output_dir=workdir, latent_dim=2, print_every=5)
        with self.assertRaisesRegex(resume.RunError, "latent_dim=10 there, 2 now.*--overwrite"):
            resume.previous_history(other, workdir)
        overwrite = TrainConfig(output_dir=workdir, latent_dim=2, overwrite=True)
        self.assertEqual(resume.previous_history(overwrite, workdir), [])

    def test_unreadable_history(self):
        workdir = self.create_tempdir().full_path
        with open(os.path.join(workdir, "history.json"), "w") as f:
            f.write("{half")
        with self.assertRaisesRegex(resume.RunError, "unreadable"):
            resume.previous_history(TrainConfig(), workdir)

    def test_nan_loss_stops_with_a_hint(self):
        callback = resume.StopOnNaN(learning_rate=0.5)
        callback.on_epoch_begin(1)
        callback.on_batch_end(3, {"loss": 0.2})
        with self.assertRaisesRegex(resume.RunError, "became nan in epoch 2 .*lower the learning"):
            callback.on_batch_end(4, {"loss": np.float32("nan")})

    def test_backup_write_is_atomic(self):
        import keras

        folder = self.create_tempdir().full_path
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        model.compile("adam", "mse")
        backup = resume.AtomicBackupAndRestore(folder)
        backup.set_model(model)
        backup.on_epoch_end(0)
        self.assertCountEqual(os.listdir(folder),
                              ["latest.weights.h5", "rng.npy", "training_metadata.json"])
        with open(os.path.join(folder, "training_metadata.json")) as f:
            self.assertEqual(json.load(f)["epoch"], 1)


if __name__ == "__main__":
    tf.test.main()
