"""The training callbacks, one job each: progress, epoch time, test evaluation, the history record,
the reconstruction figures, the epoch backup, stopping on a NaN loss."""

import math
import os
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from keras_dae import figures
from keras_dae.core import backup, rundir
from keras_dae.core.config import TrainConfig
from keras_dae.core.errors import RunError

EVAL_BATCH = 500  # Evaluation batch: any size gives the same mean loss.


class StepLosses:
    """The epoch's running training loss after each step of a `group` of steps run in one call
    (steps_per_execution), written on the device by the train step itself: Keras hands the
    callbacks only each group's last logs. One scalar write a step, one read of `group` floats
    a group."""

    def __init__(self, group: int):
        self.group = group
        self.values = tf.Variable(tf.zeros([group]), trainable=False, name="step_losses")

    def record(self, model: keras.Model) -> None:
        """Makes `model`'s train step (the documented override point) also write its running
        loss at the step's place in the group, (optimizer step - 1) mod `group`: no group
        crosses an epoch, whose steps are a multiple of it (training.steps_per_execution).
        Call before the first fit."""
        train_step = model.train_step

        def recording_step(data):
            logs = train_step(data)
            place = tf.one_hot((model.optimizer.iterations - 1) % self.group, self.group)
            self.values.assign(self.values * (1.0 - place) + place * logs["loss"])
            return logs

        model.train_step = recording_step

    def read(self) -> np.ndarray:
        return self.values.numpy()


class EveryNBatches(keras.callbacks.Callback):
    """Finds, after each group of batches, the batches of the epoch that are multiples of `every`
    and the running training loss after each (from `step_losses` when a group holds more than one
    batch), and hands them to `report`."""

    def __init__(self, every: int, steps: int, step_losses: StepLosses | None = None):
        super().__init__()
        self.every, self.steps, self.step_losses = every, steps, step_losses
        self.epoch, self.done = 0, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.done = epoch + 1, 0

    def on_train_batch_end(self, batch, logs=None):
        first, self.done = self.done + 1, batch + 1
        marks = [b for b in range(first, batch + 2) if self.every and b % self.every == 0]
        if not marks:
            return
        if self.step_losses is None:  # One batch a group: the logs are its own.
            self.report([(marks[-1], float(logs["loss"]))])
            return
        losses = self.step_losses.read()
        self.report([(b, float(losses[(b - 1) % self.step_losses.group])) for b in marks])

    def report(self, reached: list[tuple[int, float]]) -> None:
        raise NotImplementedError


class PrintEvery(EveryNBatches):
    """Logs the epoch's running training loss after every `every` batches, as the original's -p;
    the lines of a group of batches run in one call come together as it returns."""

    def __init__(self, every: int, steps: int, step_losses: StepLosses | None = None):
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        super().__init__(every, steps, step_losses)

    def report(self, reached):
        for batch, loss in reached:
            logging.info("epoch %d batch %d/%d: loss %.4f", self.epoch, batch, self.steps, loss)


class NotebookProgress(EveryNBatches):
    """Keras's progress bar, one per epoch, redrawn in place (a notebook renders its carriage
    returns): after each group it moves to the group's last multiple of `every` with the running
    loss there (`every` 0: drawn at the epoch's end only), and ends with the test losses."""

    SHOWN = ("loss", "test_loss", "test_loss_noisy")

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        print(f"Epoch {epoch + 1}/{self.params['epochs']}")
        # interval 0: every report is drawn (Keras skips redraws less than 0.05 s apart, which
        # would drop a group's report).
        self.bar = keras.utils.Progbar(self.steps, stateful_metrics=self.SHOWN, interval=0)

    def report(self, reached):
        batch, loss = reached[-1]
        if batch < self.steps:  # The epoch's end is drawn with its test losses.
            self.bar.update(batch, [("loss", loss)])

    def on_epoch_end(self, epoch, logs=None):
        shown = [(k, logs[k]) for k in self.SHOWN if logs.get(k) is not None]
        self.bar.update(self.steps, shown, finalize=True)


class EpochTimer(keras.callbacks.Callback):
    """Times each epoch's training in `seconds` (first in the list, so evaluation after it is not
    counted)."""

    def __init__(self):
        super().__init__()
        self.started, self.seconds = 0.0, 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = time.perf_counter() - self.started


class EvaluateOnTest(keras.callbacks.Callback):
    """Adds the test loss with dropout off to the epoch logs: `test_loss` on clean input and, for
    a DAE, `test_loss_noisy` on the fixed noised test set; Keras and TensorBoard show them."""

    def __init__(
        self, reconstructor: keras.Model, x_test: np.ndarray, x_noisy: np.ndarray | None = None
    ):
        super().__init__()
        self.reconstructor, self.x_test, self.x_noisy = reconstructor, x_test, x_noisy

    def on_epoch_end(self, epoch, logs=None):
        logs["test_loss"] = self.test_loss(self.x_test)
        if self.x_noisy is not None:
            logs["test_loss_noisy"] = self.test_loss(self.x_noisy)

    def test_loss(self, inputs: np.ndarray) -> float:
        return float(self.reconstructor.evaluate(inputs, self.x_test, EVAL_BATCH, verbose=0))


class RecordHistory(keras.callbacks.Callback):
    """Appends each epoch's record to `epochs` (its own list, starting from `previous`) and writes
    history.json. An epoch redone after a crash replaces its earlier record."""

    def __init__(self, config: TrainConfig, workdir: str, previous: list, timer: EpochTimer):
        super().__init__()
        self.config, self.workdir, self.epochs = config, workdir, list(previous)
        self.timer = timer

    def on_epoch_end(self, epoch, logs=None):
        record = {
            "epoch": epoch + 1,
            "train_loss": float(logs["loss"]),
            "test_loss_clean": logs["test_loss"],
            "test_loss_noisy": logs.get("test_loss_noisy"),
            "lr": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
            "seconds": round(self.timer.seconds, 3),
        }
        self.epochs = [h for h in self.epochs if h["epoch"] <= epoch] + [record]
        rundir.write_history(self.workdir, self.config, self.epochs)


class ReconstructionFigures(keras.callbacks.Callback):
    """After each epoch, `<prefix>-e<epoch>.png`: the reconstruction of `images` (the original's
    result grids), and the same grid in TensorBoard when `writer` is given."""

    def __init__(
        self, reconstructor: keras.Model, images: np.ndarray, workdir: str, prefix: str, writer=None
    ):
        super().__init__()
        self.reconstructor, self.images, self.workdir = reconstructor, images, workdir
        self.prefix, self.writer = prefix, writer

    def on_epoch_end(self, epoch, logs=None):
        recon = self.reconstructor.predict(self.images, verbose=0)
        name = f"{self.prefix}-e{epoch + 1}"
        figures.save_image_grid(
            os.path.join(self.workdir, f"{name}.png"), recon, f"{name}: reconstruction"
        )
        if self.writer is not None:
            with self.writer.as_default():
                grid = figures.image_grid(recon)
                tf.summary.image("reconstruction", grid[None, :, :, None], step=epoch + 1)


class EpochBackup(keras.callbacks.Callback):
    """Commits the training state to one backup file after each epoch (keras_dae.backup), last in
    the list, so an epoch counts as done only once it is recorded."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        backup.write(self.path, self.model, epoch + 1)


class StopOnNaN(keras.callbacks.TerminateOnNaN):
    """TerminateOnNaN that stops with a RunError (and a hint) instead of a silent early end."""

    def __init__(self, learning_rate: float):
        super().__init__()
        self.learning_rate, self.epoch = learning_rate, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise RunError(
                f"the training loss became {float(loss)} in epoch {self.epoch} (batch "
                f"{batch + 1}): lower the learning rate (now {self.learning_rate:g}, e.g. "
                "--learning_rate 3e-4)"
            )
