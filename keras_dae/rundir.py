"""The run folder's one owner: its file names, `history.json` (the config and one record per
epoch), "is this the same run", and loading `model.keras`. Training, export, evaluation and
serving read and write a run folder only through here."""

import json
import os

from keras_dae import durable
from keras_dae.config import ConfigError, TrainConfig

HISTORY = "history.json"
MODEL = "model.keras"


class RunError(RuntimeError):
    """A run that cannot start or go on, or a run folder that cannot be read; the message says
    why and what to do."""


def read_history(workdir: str) -> dict | None:
    """`history.json` of `workdir` as {"config": {...}, "epochs": [...]}; None when absent.
    Raises RunError when it cannot be read faithfully."""
    path = os.path.join(workdir, HISTORY)
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            saved = json.load(f)
        if not isinstance(saved["config"], dict) or not isinstance(saved["epochs"], list):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError):
        raise RunError(f"{path}: unreadable; pass --overwrite to start this folder anew") from None
    return saved


def write_history(workdir: str, config: TrainConfig, epochs: list) -> None:
    durable.write_json(os.path.join(workdir, HISTORY),
                       {"config": config.to_dict(), "epochs": epochs})


def previous_epochs(config: TrainConfig, workdir: str) -> list:
    """The epochs already recorded in `workdir` for this configuration ([] for a fresh folder).
    Raises RunError when the folder holds a run of another configuration."""
    saved = None if config.overwrite else read_history(workdir)
    if saved is None:
        return []
    differences = config.differences(saved["config"])
    if differences:
        shown = ", ".join(f"{k}={saved['config'].get(k)!r} there, {getattr(config, k)!r} now"
                          for k in differences)
        raise RunError(f"{workdir} holds a run with another configuration ({shown}); pass "
                       "--overwrite to replace it, or choose another --output_dir")
    return saved["epochs"]


def is_finished(config: TrainConfig, workdir: str, epochs: list) -> bool:
    return len(epochs) >= config.epochs and os.path.isfile(os.path.join(workdir, MODEL))


def training_config(workdir: str) -> TrainConfig:
    """The TrainConfig of the run in `workdir`, from its `history.json`."""
    saved = read_history(workdir)
    if saved is None:
        raise RunError(f"{workdir}: no {HISTORY} (not a keras-dae run folder)")
    try:
        return TrainConfig.from_dict(saved["config"])
    except ConfigError as e:
        raise RunError(f"{os.path.join(workdir, HISTORY)}: {e}") from None


def load_autoencoder(path: str):
    """The trained autoencoder in `path` (a model.keras), or a one-line RunError."""
    import keras

    from keras_dae import noise, optimizer  # noqa: F401  (registers the custom objects)

    if not os.path.isfile(path):
        raise RunError(f"{path}: no such model file")
    try:
        return keras.saving.load_model(path)
    except Exception as e:  # Keras raises many kinds for a file that is not a model.
        raise RunError(f"{path}: not a loadable Keras model ({type(e).__name__})") from None


def finished_run(workdir: str) -> tuple[TrainConfig, list]:
    """The config and epoch records of the finished run in `workdir`; RunError when the folder is
    not a run folder or its run is not finished."""
    config = training_config(workdir)
    epochs = read_history(workdir)["epochs"]
    if not is_finished(config, workdir, epochs):
        raise RunError(f"{workdir}: the run is not finished ({len(epochs)} of {config.epochs} "
                       "epochs); run its training command again to complete it")
    return config, epochs
