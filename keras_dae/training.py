"""Training: `train_and_evaluate`, the pipeline from a TrainConfig to a finished run folder, and
its parts: the learning-rate schedule, the loss, the compiled models, the callbacks, the outputs."""

import os
import sys
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from keras_dae import callbacks, data, distribute, figures, model, noise, notebook
from keras_dae.core import backup, durable, mnist, rundir
from keras_dae.core.config import TrainConfig
from keras_dae.core.errors import RunError
from keras_dae.optimizer import FusedAdam

GRID_IMAGES = 64  # The original shows the first 64 test images, 8x8.
MAX_STEPS_PER_EXECUTION = 100  # Training steps per call into TensorFlow, at most.


class TrainResult(NamedTuple):
    history: list  # One dict per epoch, as in history.json.
    autoencoder: keras.Model
    encoder: keras.Model
    decoder: keras.Model
    workdir: str

    def __repr__(self) -> str:
        """One line (a notebook cell ending in `main(...)` prints it), not every epoch's record."""
        last = self.history[-1] if self.history else {}
        return (
            f"TrainResult(workdir={self.workdir!r}, epochs={len(self.history)}, "
            f"test_loss_clean={last.get('test_loss_clean')!r})"
        )


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


def build_models(config: TrainConfig, steps: int) -> tuple[keras.Model, keras.Model]:
    """The compiled autoencoder (with corruption for a DAE) and its compiled reconstructor (no
    corruption, shared weights); `steps` is the number of training steps an epoch."""
    corruption = (
        noise.build_corruption(config.noise, config.noise_rate) if config.add_noise else None
    )
    autoencoder = model.build_autoencoder(config.latent_dim, corruption)
    # PyTorch's Adam epsilon, so the update matches the original's. Running many steps per call
    # of the compiled train function removes the per-step Python overhead, and XLA fuses the
    # step's element-wise work; the math is unchanged.
    jit = use_xla(config.strategy)
    autoencoder.compile(
        FusedAdam(config.learning_rate, epsilon=1e-8),
        reconstruction_loss(config.loss),
        steps_per_execution=steps_per_execution(steps, config.strategy),
        jit_compile=jit,
    )
    if jit:
        noise.use_rng_alg(autoencoder, "threefry")
    reconstructor = model.reconstructor(autoencoder)
    reconstructor.compile(loss=reconstruction_loss(config.loss))
    return autoencoder, reconstructor


def noised_test_set(config: TrainConfig, x_test: np.ndarray) -> np.ndarray | None:
    """The fixed noised test set of a DAE (None for an AE), for the "noised truth" figure and the
    noisy test loss. A layer of its own draws it, so the training noise stays the same stream."""
    if not config.add_noise:
        return None
    corrupt = noise.build_corruption(config.noise, config.noise_rate, seed=config.seed)
    return keras.ops.convert_to_numpy(corrupt(x_test, training=True))


def save_input_figures(outdir: str, config: TrainConfig, x_test, x_noisy) -> None:
    """truth.png, and noised.png for a DAE: the first 64 test images the grids show."""
    figures.save_image_grid(os.path.join(outdir, "truth.png"), x_test[:GRID_IMAGES], "truth")
    if x_noisy is not None:
        figures.save_image_grid(
            os.path.join(outdir, "noised.png"),
            x_noisy[:GRID_IMAGES],
            f"noised truth ({config.noise}, {config.noise_rate})",
        )


def progress(
    config: TrainConfig, steps: int, autoencoder: keras.Model, in_notebook: bool
) -> list[keras.callbacks.Callback]:
    """The progress callback: in a notebook Keras's bar, redrawn every `print_every` batches;
    else, when asked, a log line every `print_every` batches. Batches run `steps_per_execution`
    to a call, so the train step records each one's running loss (callbacks.StepLosses)."""
    if not (in_notebook or config.print_every):
        return []
    group = autoencoder.steps_per_execution
    step_losses = callbacks.StepLosses(group) if group > 1 and config.print_every else None
    if step_losses is not None:
        step_losses.record(autoencoder)
    kind = callbacks.NotebookProgress if in_notebook else callbacks.PrintEvery
    return [kind(config.print_every, steps, step_losses)]


def fit_verbosity(config: TrainConfig, in_notebook: bool) -> int:
    """Keras's own output: none in a notebook (NotebookProgress draws the bar), its bar on a
    terminal when no --print_every lines are asked for, else a line per epoch."""
    if in_notebook:
        return 0
    return 1 if sys.stdout.isatty() and not config.print_every else 2


def make_callbacks(
    run: rundir.Run, history: callbacks.RecordHistory, reconstructor, x_test, x_noisy
) -> list:
    """The epoch's callbacks, in the order they must run: the schedule, NaN check, timer, test
    evaluation, the history record, figures, TensorBoard, and last the backup (an epoch is saved
    as done only once it is recorded)."""
    config, outdir = run.config, run.outdir
    writer = (
        tf.summary.create_file_writer(os.path.join(outdir, "tensorboard", "images"))
        if config.tensorboard
        else None
    )
    grid_inputs = (x_noisy if x_noisy is not None else x_test)[:GRID_IMAGES]
    chain = [
        keras.callbacks.LearningRateScheduler(lambda epoch: learning_rate(epoch, config)),
        callbacks.StopOnNaN(config.learning_rate),
        history.timer,
        callbacks.EvaluateOnTest(reconstructor, x_test, x_noisy),
        history,
        callbacks.ReconstructionFigures(
            reconstructor, grid_inputs, outdir, config.run_name, writer
        ),
    ]
    if config.tensorboard:
        chain.append(keras.callbacks.TensorBoard(os.path.join(outdir, "tensorboard")))
    chain.append(callbacks.EpochBackup(run.backup))
    return chain


def restore_backup(run: rundir.Run, autoencoder: keras.Model) -> int:
    """Restores the last complete epoch from the run's backup; returns the epochs done."""
    done = backup.restore(run.backup, autoencoder, run.config.epochs)
    if done > len(run.epochs):
        raise RunError(
            f"{run.backup}: holds {done} epochs but {rundir.HISTORY} records "
            f"{len(run.epochs)}; remove the backup, or pass --overwrite"
        )
    if done:
        logging.info("resuming: %d of %d epochs done in %s", done, run.config.epochs, run.workdir)
    return done


def save_final_outputs(
    outdir: str, config: TrainConfig, autoencoder, reconstructor, epochs: list, x_test, y_test
) -> None:
    """model.keras (Keras's own layers: loadable without keras-dae), the loss curves, the latent
    space, for z = 2 the decoder's manifold, and for a DAE the last reconstruction of the clean
    test images (the original's fourth grid)."""
    with durable.atomic_path(os.path.join(outdir, rundir.MODEL)) as tmp:
        model.portable(autoencoder).save(tmp)
    if config.add_noise:
        clean = reconstructor.predict(x_test[:GRID_IMAGES], verbose=0)
        name = rundir.clean_reconstruction(config.run_name, epochs[-1]["epoch"])
        figures.save_image_grid(
            os.path.join(outdir, name), clean, f"{name[:-4]}: reconstruction of the clean truth"
        )
    encoder, decoder = autoencoder.get_layer("encoder"), autoencoder.get_layer("decoder")
    codes = encoder.predict(x_test, callbacks.EVAL_BATCH, verbose=0)
    figures.save_loss_curves(
        os.path.join(outdir, "loss.png"), epochs, config.lr_decay_epoch, config.loss
    )
    figures.save_latent_scatter(os.path.join(outdir, "latent.png"), codes, y_test)
    if config.latent_dim == 2:
        images = decoder.predict(figures.manifold_codes(codes), callbacks.EVAL_BATCH, verbose=0)
        figures.save_manifold(os.path.join(outdir, "manifold.png"), images)


def finished_result(run: rundir.Run) -> TrainResult:
    logging.info("%s already holds this finished run (--overwrite trains it anew)", run.workdir)
    autoencoder = model.load_autoencoder(os.path.join(run.workdir, rundir.MODEL))
    return TrainResult(
        run.epochs,
        autoencoder,
        autoencoder.get_layer("encoder"),
        autoencoder.get_layer("decoder"),
        run.workdir,
    )


def train_and_evaluate(config: TrainConfig) -> TrainResult:
    """Trains the (D)AE that `config` describes and writes every output into `config.workdir`;
    a run folder that holds part of this run is resumed, one that holds all of it is kept.

    Under a multi-worker strategy every worker trains; only the chief writes into the run folder
    (the others write into a temporary folder and keep a backup file of their own there)."""
    strategy = distribute.make_strategy(config.strategy)  # Before TensorFlow does anything else.
    task_type, task_index = distribute.task(strategy)
    with rundir.open_run(config, distribute.is_chief(strategy), f"{task_type}{task_index}") as run:
        if run.finished:
            return finished_result(run)
        keras.utils.set_random_seed(config.seed)
        splits = data.load(config)
        logging.info(
            "data: %d train, %d test images; %d replica(s); writing to %s",
            len(splits.x_train),
            len(splits.x_test),
            strategy.num_replicas_in_sync,
            run.outdir,
        )
        x_noisy = noised_test_set(config, splits.x_test)
        save_input_figures(run.outdir, config, splits.x_test, x_noisy)

        steps = mnist.steps_per_epoch(len(splits.x_train), config.batch_size)
        with strategy.scope():
            autoencoder, reconstructor = build_models(config, steps)
            done = restore_backup(run, autoencoder)
        distribute.prepare_for_multi_worker(
            strategy,
            [
                autoencoder,
                reconstructor,
                autoencoder.get_layer("encoder"),
                autoencoder.get_layer("decoder"),
            ],
            (splits.x_train[:2], splits.x_train[:2]),
        )

        history = callbacks.RecordHistory(config, run.outdir, run.epochs, callbacks.EpochTimer())
        chain = make_callbacks(run, history, reconstructor, splits.x_test, x_noisy)
        in_notebook = notebook.in_notebook()
        chain += progress(config, steps, autoencoder, in_notebook)
        batches = data.train_dataset(
            splits.x_train, config.batch_size, config.seed, first_epoch=done
        )
        autoencoder.fit(
            batches,
            epochs=config.epochs,
            initial_epoch=done,
            steps_per_epoch=steps,
            callbacks=chain,
            verbose=fit_verbosity(config, in_notebook),
            shuffle=False,
        )

        save_final_outputs(
            run.outdir,
            config,
            autoencoder,
            reconstructor,
            history.epochs,
            splits.x_test,
            splits.y_test,
        )
        rundir.complete(run, history.epochs)
    logging.info(
        "done: final test loss %.4f (clean input); outputs in %s",
        history.epochs[-1]["test_loss_clean"],
        config.workdir,
    )
    return TrainResult(
        history.epochs,
        autoencoder,
        autoencoder.get_layer("encoder"),
        autoencoder.get_layer("decoder"),
        config.workdir,
    )


def train(**kwargs) -> TrainResult:
    """The original's `main(**kwargs)` for notebooks: trains `TrainConfig(**kwargs)` and returns a
    TrainResult (history, autoencoder, encoder, decoder, workdir). In a notebook it shows, as the
    original does at the end, the grids of the first 64 test images and the loss curves."""
    result = train_and_evaluate(TrainConfig(**kwargs))
    if notebook.in_notebook():
        notebook.show_run(result.workdir)
    return result


main = train  # The original's name.
