"""Runs that survive: resuming after a crash, refusing a folder that holds another run, stopping
cleanly on SIGINT/SIGTERM or a NaN loss."""

import contextlib
import json
import math
import os
import signal

import keras
import numpy as np

from keras_dae.durable import atomic_path, write_json

BACKUP = "backup"
HISTORY = "history.json"
MODEL = "model.keras"
# Fields that do not change what is trained: a run may be resumed with other values of these.
NOT_IDENTITY = {"output_dir", "data_dir", "print_every", "tensorboard", "overwrite", "strategy"}


class RunError(RuntimeError):
    """A run that cannot start or go on; the message says why and what to do."""


class Interrupted(RunError):
    """SIGINT or SIGTERM arrived; the last complete epoch is saved."""


def previous_history(config, workdir: str) -> list:
    """The epochs already recorded in `workdir` for this configuration ([] for a fresh folder).
    Raises RunError when the folder holds a run of another configuration."""
    path = os.path.join(workdir, HISTORY)
    if config.overwrite or not os.path.isfile(path):
        return []
    try:
        with open(path) as f:
            saved = json.load(f)
        saved_config, epochs = saved["config"], saved["epochs"]
    except (OSError, ValueError, KeyError, TypeError):
        raise RunError(f"{path}: unreadable; pass --overwrite to start this folder anew") from None
    differences = sorted(k for k, v in config.to_dict().items()
                         if k not in NOT_IDENTITY and saved_config.get(k) != v)
    if differences:
        shown = ", ".join(f"{k}={saved_config.get(k)!r} there, {getattr(config, k)!r} now"
                          for k in differences)
        raise RunError(f"{workdir} holds a run with another configuration ({shown}); pass "
                       "--overwrite to replace it, or choose another --output_dir")
    return epochs


def is_finished(config, workdir: str, history: list) -> bool:
    return len(history) >= config.epochs and os.path.isfile(os.path.join(workdir, MODEL))


def backed_up_epochs(backup_dir: str) -> int:
    """How many epochs the backup in `backup_dir` holds (0 for none)."""
    try:
        with open(os.path.join(backup_dir, "training_metadata.json")) as f:
            return int(json.load(f)["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """BackupAndRestore that also keeps the random-number state of the noise and dropout layers
    (Keras's weights leave it out), so a resumed run draws the noise the uninterrupted one would;
    each file is written to a temporary name and renamed, so a SIGKILL at any moment leaves the
    previous backup whole."""

    def _seed_states(self):
        return [v for v in self.model.variables if v.path.endswith("seed_generator_state")]

    def _save_model(self):
        with atomic_path(self._weights_path) as tmp:
            self.model.save_weights(tmp, overwrite=True)
        with atomic_path(os.path.join(self.backup_dir, "rng.npy")) as tmp:
            np.save(tmp, np.array([v.numpy() for v in self._seed_states()]))
        write_json(self._training_metadata_path,
                   {"epoch": self._current_epoch, "batch": self._last_batch_seen})

    def _load_model(self):
        super()._load_model()
        path = os.path.join(self.backup_dir, "rng.npy")
        if os.path.isfile(path):
            for variable, state in zip(self._seed_states(), np.load(path)):
                variable.assign(state)


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
            raise RunError(f"the training loss became {float(loss)} in epoch {self.epoch} (batch "
                           f"{batch + 1}): lower the learning rate (now {self.learning_rate:g}, "
                           "e.g. --learning_rate 3e-4)")


class StopOnSignal(keras.callbacks.Callback):
    """Raises Interrupted at the first batch end after SIGINT/SIGTERM (see `signals_caught`)."""

    def __init__(self):
        super().__init__()
        self.received = None

    def on_train_batch_end(self, batch, logs=None):
        if self.received is not None:
            raise Interrupted(f"stopped by {signal.Signals(self.received).name}")


@contextlib.contextmanager
def signals_caught(callback: StopOnSignal):
    """While the block runs, SIGINT and SIGTERM only mark `callback`, which stops at the next step
    end; outside the main thread (a notebook's worker) the handlers are left as they are."""
    handlers = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            handlers[sig] = signal.signal(sig, lambda s, _: setattr(callback, "received", s))
    except ValueError:  # Not the main thread.
        pass
    try:
        yield
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
