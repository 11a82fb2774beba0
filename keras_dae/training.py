"""Training: the schedule, the loss, per-epoch evaluation and figures, and `train_and_evaluate`."""

import math
import os
import shutil
import sys
import tempfile
import time
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from keras_dae import data, distribute, figures, model, noise, resume
from keras_dae.optimizer import FusedAdam
from keras_dae.durable import atomic_path, write_json
from keras_dae.config import TrainConfig

GRID_IMAGES = 64  # The original shows the first 64 test images, 8x8.
EVAL_BATCH = 500  # Evaluation batch: any size gives the same mean loss.
MAX_STEPS_PER_EXECUTION = 100  # Training steps per call into TensorFlow, at most.


class TrainResult(NamedTuple):
    history: list  # One dict per epoch, as in history.json.
    autoencoder: keras.Model
    encoder: keras.Model
    decoder: keras.Model
    workdir: str


def learning_rate(epoch: int, config: TrainConfig) -> float:
    """The lr of 0-based `epoch`: the base rate, divided by the factor from `lr_decay_epoch` on."""
    decayed = epoch + 1 >= config.lr_decay_epoch
    return config.learning_rate / config.lr_decay_factor if decayed else config.learning_rate


def reconstruction_loss(name: str) -> keras.losses.Loss:
    """Per-pixel mean CE or MSE. Keras computes CE from the sigmoid's logits, so it stays finite."""
    return keras.losses.BinaryCrossentropy() if name == "ce" else keras.losses.MeanSquaredError()


def steps_per_execution(steps: int, strategy: str) -> int:
    """Steps per call into TensorFlow: the largest divisor of the epoch's steps up to 100, so
    every call stays inside one epoch (938 steps: 67). 1 under a distribution strategy, where
    Keras 3.15 fails with more."""
    if strategy != "default":
        return 1
    return max(d for d in range(1, MAX_STEPS_PER_EXECUTION + 1) if steps % d == 0)


def use_xla(strategy: str) -> bool:
    """Whether the train step is compiled with XLA: yes, except under a distribution strategy,
    which keeps the path its tests cover (one step per call, no XLA, Philox masks)."""
    return strategy == "default"


def build_models(config: TrainConfig, steps: int):
    """The compiled autoencoder (with corruption for a DAE) and its compiled clean reconstructor;
    `steps` is the number of training steps an epoch."""
    corruption = (noise.build_corruption(config.noise, config.noise_rate)
                  if config.add_noise else None)
    autoencoder = model.build_autoencoder(config.latent_dim, corruption)
    # PyTorch's Adam epsilon, so the update matches the original's. Running many steps per call
    # of the compiled train function removes the per-step Python overhead, and XLA fuses the
    # step's element-wise work; the math is unchanged.
    jit = use_xla(config.strategy)
    autoencoder.compile(FusedAdam(config.learning_rate, epsilon=1e-8),
                        reconstruction_loss(config.loss),
                        steps_per_execution=steps_per_execution(steps, config.strategy),
                        jit_compile=jit)
    if jit:
        noise.use_rng_alg(autoencoder, "threefry")
    clean = model.reconstructor(autoencoder)
    clean.compile(loss=reconstruction_loss(config.loss))
    return autoencoder, clean


class PrintEvery(keras.callbacks.Callback):
    """Logs the epoch's running training loss every `every` batches, as the original's -p
    (Keras reports batches in groups of `steps_per_execution`: a log comes at the first report
    past each multiple)."""

    def __init__(self, every: int, steps: int):
        super().__init__()
        self.every, self.steps, self.epoch, self.logged = every, steps, 0, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.logged = epoch + 1, 0

    def on_train_batch_end(self, batch, logs=None):
        if (batch + 1) // self.every > self.logged:
            self.logged = (batch + 1) // self.every
            logging.info("epoch %d batch %d/%d: loss %.4f", self.epoch, batch + 1, self.steps,
                         logs["loss"])


class EvaluateAndPlot(keras.callbacks.Callback):
    """After each epoch: test loss with dropout off (clean and noised input), the history record,
    and the reconstruction grid of the first 64 test images."""

    def __init__(self, config, workdir, clean, x_test, x_noisy, history, writer=None):
        super().__init__()
        self.config, self.workdir, self.clean = config, workdir, clean
        self.x_test, self.x_noisy, self.history, self.writer = x_test, x_noisy, history, writer
        self.started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.started
        evaluate = lambda x: self.clean.evaluate(x, self.x_test, EVAL_BATCH, verbose=0)
        record = {
            "epoch": epoch + 1,
            "train_loss": float(logs["loss"]),
            "test_loss_clean": float(evaluate(self.x_test)),
            "test_loss_noisy": float(evaluate(self.x_noisy)) if self.x_noisy is not None else None,
            "lr": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
            "seconds": round(seconds, 3),
        }
        logs.update(test_loss=record["test_loss_clean"])  # Shown by Keras and TensorBoard.
        if record["test_loss_noisy"] is not None:
            logs.update(test_loss_noisy=record["test_loss_noisy"])
        # A resumed run may redo an epoch that was recorded before the crash: keep one record each.
        self.history[:] = [h for h in self.history if h["epoch"] <= epoch] + [record]
        write_json(os.path.join(self.workdir, resume.HISTORY),
                   {"config": self.config.to_dict(), "epochs": self.history})
        inputs = (self.x_noisy if self.x_noisy is not None else self.x_test)[:GRID_IMAGES]
        recon = self.clean.predict(inputs, verbose=0)
        name = f"{self.config.run_name}-e{epoch + 1}"
        figures.save_image_grid(os.path.join(self.workdir, f"{name}.png"), recon,
                                f"{name}: reconstruction")
        if self.writer is not None:
            with self.writer.as_default():
                grid = figures.image_grid(recon)
                tf.summary.image("reconstruction", grid[None, :, :, None], step=epoch + 1)


def train_and_evaluate(config: TrainConfig, workdir: str) -> TrainResult:
    """Trains the (D)AE that `config` describes and writes every output into `workdir`.

    Under a multi-worker strategy every worker trains; only the chief writes into `workdir`
    (the others write into a temporary folder, removed at the end, and keep a backup of their own
    for resuming)."""
    strategy = distribute.make_strategy(config.strategy)  # Before TensorFlow does anything else.
    history = resume.previous_history(config, workdir)
    model_path = os.path.join(workdir, resume.MODEL)
    if resume.is_finished(config, workdir, history):
        logging.info("%s already holds this finished run (--overwrite trains it anew)", workdir)
        autoencoder = keras.saving.load_model(model_path)
        return TrainResult(history, autoencoder, autoencoder.get_layer("encoder"),
                           autoencoder.get_layer("decoder"), workdir)
    chief = distribute.is_chief(strategy)
    task_type, task_index = distribute.task(strategy)
    outdir = workdir if chief else tempfile.mkdtemp(prefix=f"keras_dae-{task_type}{task_index}-")
    backup = os.path.join(workdir, resume.BACKUP if chief else
                          f"{resume.BACKUP}-{task_type}{task_index}")
    if config.overwrite:  # Start anew: no epochs to restore.
        shutil.rmtree(backup, ignore_errors=True)
    keras.utils.set_random_seed(config.seed)
    os.makedirs(outdir, exist_ok=True)
    d = data.load(config)
    logging.info("data: %d train, %d test images; %d replica(s); writing to %s", len(d.x_train),
                 len(d.x_test), strategy.num_replicas_in_sync, outdir)
    steps = data.steps_per_epoch(len(d.x_train), config.batch_size)
    with strategy.scope():
        autoencoder, clean = build_models(config, steps)
    distribute.prepare_for_multi_worker(
        strategy, [autoencoder, clean, autoencoder.get_layer("encoder"),
                   autoencoder.get_layer("decoder")], (d.x_train[:2], d.x_train[:2]))

    # The fixed noised test set: the "noised truth" figure and the noisy test loss. A layer of its
    # own draws it, so the training noise stays the same stream whatever the test set.
    x_noisy = None
    if config.add_noise:
        corrupt = noise.build_corruption(config.noise, config.noise_rate, seed=config.seed)
        x_noisy = keras.ops.convert_to_numpy(corrupt(d.x_test, training=True))
    grid = d.x_test[:GRID_IMAGES]
    figures.save_image_grid(os.path.join(outdir, "truth.png"), grid, "truth")
    if x_noisy is not None:
        figures.save_image_grid(os.path.join(outdir, "noised.png"), x_noisy[:GRID_IMAGES],
                                f"noised truth ({config.noise}, {config.noise_rate})")

    tb_dir = os.path.join(outdir, "tensorboard")
    writer = (tf.summary.create_file_writer(os.path.join(tb_dir, "images"))
              if config.tensorboard else None)
    # EvaluateAndPlot adds the test losses to the epoch logs, before Keras and TensorBoard see them.
    # BackupAndRestore comes after EvaluateAndPlot: an epoch is saved as done once it is recorded.
    stopper = resume.StopOnSignal()
    callbacks = [
        keras.callbacks.LearningRateScheduler(lambda epoch: learning_rate(epoch, config)),
        resume.StopOnNaN(config.learning_rate),
        stopper,
        EvaluateAndPlot(config, outdir, clean, d.x_test, x_noisy, history, writer),
        resume.AtomicBackupAndRestore(backup, delete_checkpoint=False),  # Removed at the end.
    ]
    if config.print_every:
        callbacks.append(PrintEvery(config.print_every, steps))
    if config.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(tb_dir))
    verbose = 1 if sys.stdout.isatty() and not config.print_every else 2
    if history:
        logging.info("resuming: %d of %d epochs done in %s", len(history), config.epochs, workdir)
    try:
        with resume.signals_caught(stopper):
            batches = data.train_dataset(d.x_train, config.batch_size, config.seed,
                                         first_epoch=resume.backed_up_epochs(backup))
            autoencoder.fit(batches, epochs=config.epochs, steps_per_epoch=steps,
                            callbacks=callbacks, verbose=verbose, shuffle=False)
    except resume.Interrupted as e:
        raise resume.Interrupted(
            f"{e}: epochs 1-{len(history)} of {config.epochs} are saved in {workdir}; run the same "
            "command again to resume") from None

    with atomic_path(os.path.join(outdir, resume.MODEL)) as tmp:
        autoencoder.save(tmp)
    encoder, decoder = autoencoder.get_layer("encoder"), autoencoder.get_layer("decoder")
    codes = encoder.predict(d.x_test, EVAL_BATCH, verbose=0)
    figures.save_loss_curves(os.path.join(outdir, "loss.png"), history, config.lr_decay_epoch,
                             config.loss)
    figures.save_latent_scatter(os.path.join(outdir, "latent.png"), codes, d.y_test)
    if config.latent_dim == 2:
        images = decoder.predict(figures.manifold_codes(codes), EVAL_BATCH, verbose=0)
        figures.save_manifold(os.path.join(outdir, "manifold.png"), images)
    shutil.rmtree(backup, ignore_errors=True)
    if not chief:
        shutil.rmtree(outdir, ignore_errors=True)
    logging.info("done: final test loss %.4f (clean input); outputs in %s",
                 history[-1]["test_loss_clean"], workdir)
    return TrainResult(history, autoencoder, encoder, decoder, workdir)
