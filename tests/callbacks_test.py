"""Tests of keras_dae.callbacks: NaN stop, the history record's own list, argument checks, and
--print_every's exact batches inside steps_per_execution groups (a tiny model fitted)."""

import os

import keras
import numpy as np
from absl.testing import absltest, parameterized

from keras_dae import callbacks
from keras_dae.core import errors, rundir
from keras_dae.core.config import TrainConfig


class FakeOptimizer:
    learning_rate = np.float32(3e-4)


class FakeModel:
    optimizer = FakeOptimizer()


class Reported(callbacks.EveryNBatches):
    """Keeps every report, one (epoch, batch, loss) each."""

    def __init__(self, *args):
        super().__init__(*args)
        self.reports = []

    def report(self, reached):
        self.reports += [(self.epoch, batch, loss) for batch, loss in reached]


def fit_and_report(group: int, every: int, epochs: int = 2) -> list:
    """Fits a tiny dense model (12 batches an epoch, `group` a call, the train step compiled with
    XLA as the default path's) and returns what EveryNBatches reported."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(6, activation="sigmoid")])
    model.compile("sgd", "mse", steps_per_execution=group, jit_compile=True)
    step_losses = callbacks.StepLosses(group) if group > 1 else None
    if step_losses is not None:
        step_losses.record(model)
    x = np.random.default_rng(0).random((12 * 8, 6)).astype(np.float32)
    reported = Reported(every, 12, step_losses)
    model.fit(x, x, batch_size=8, epochs=epochs, callbacks=[reported], verbose=0, shuffle=False)
    return reported.reports


class PrintEveryTest(parameterized.TestCase):
    @parameterized.parameters(1, 5, 12)
    def test_every_n_batches_exactly_inside_groups(self, every):
        # One step a call reports every batch itself: the reference for groups of 4 and 6.
        reference = [r for r in fit_and_report(1, 1) if r[1] % every == 0]
        self.assertLen(reference, 2 * (12 // every))
        for group in (4, 6):
            reports = fit_and_report(group, every)
            self.assertEqual([r[:2] for r in reports], [r[:2] for r in reference])
            np.testing.assert_allclose([r[2] for r in reports], [r[2] for r in reference], 1e-6)

    def test_zero_reports_nothing(self):
        self.assertEmpty(fit_and_report(4, 0, epochs=1))


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
