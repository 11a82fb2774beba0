"""Tests of keras_dae.callbacks that need no training run: NaN stop, the history record's own
list, argument checks."""

import os

import numpy as np
from absl.testing import absltest

from keras_dae import callbacks
from keras_dae.core import errors, rundir
from keras_dae.core.config import TrainConfig


class FakeOptimizer:
    learning_rate = np.float32(3e-4)


class FakeModel:
    optimizer = FakeOptimizer()


class CallbacksTest(absltest.TestCase):
    def test_nan_loss_stops_with_a_hint(self):
        callback = callbacks.StopOnNaN(learning_rate=0.5)
        callback.on_epoch_begin(1)
        callback.on_batch_end(3, {"loss": 0.2})
        with self.assertRaisesRegex(errors.RunError, "became nan in epoch 2 .*lower the learning"):
            callback.on_batch_end(4, {"loss": np.float32("nan")})

    def test_history_keeps_its_own_list_and_replaces_a_redone_epoch(self):
        workdir = self.create_tempdir().full_path
        previous = [{"epoch": 1, "train_loss": 9.0}, {"epoch": 2, "train_loss": 9.0}]
        timer = callbacks.EpochTimer()
        record = callbacks.RecordHistory(TrainConfig(output_dir=workdir), workdir, previous, timer)
        record.set_model(FakeModel())
        timer.on_epoch_begin(1)
        timer.on_epoch_end(1)
        record.on_epoch_end(1, {"loss": 0.5, "test_loss": 0.4})  # epoch 2 redone
        self.assertEqual([e["train_loss"] for e in record.epochs], [9.0, 0.5])
        self.assertEqual(previous[1]["train_loss"], 9.0)  # the caller's list is untouched
        self.assertEqual(rundir.read_history(workdir)["epochs"], record.epochs)
        self.assertIsNone(record.epochs[1]["test_loss_noisy"])
        self.assertGreaterEqual(record.epochs[1]["seconds"], 0.0)
        self.assertFalse(rundir.read_history(workdir)["finished"])
        self.assertEqual(sorted(os.listdir(workdir)), [rundir.HISTORY])

    def test_print_every_checks_its_argument(self):
        with self.assertRaisesRegex(ValueError, "every must be >= 1"):
            callbacks.PrintEvery(0, 10)


if __name__ == "__main__":
    absltest.main()
