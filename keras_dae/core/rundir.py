"""The run folder's one owner: its file names, `history.json` (the config, one record per epoch,
and the completion fact, written last), "is this the same run", the folder's lock and leftovers,
and loading `model.keras`. Training, export, evaluation and serving go through here."""

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile

from absl import logging

from keras_dae.core import durable, locking
from keras_dae.core.config import TrainConfig
from keras_dae.core.errors import ConfigError, RunError

HISTORY = "history.json"
MODEL = "model.keras"
EVALUATION = "evaluation.json"  # Written by keras_dae.evaluate, last of its outputs.


def clean_reconstruction(run_name: str, epoch: int) -> str:
    """A DAE's last reconstruction of the clean test images, beside the original's grid of the
    noised ones (`DAE-CE-z10-e10.png`): `DAE-CE-z10-e10-clean.png`."""
    return f"{run_name}-e{epoch}-clean.png"


def final_figures(workdir: str) -> list[str]:
    """The paths of what the original shows at the end of a run, in its order, those present:
    truth, noised truth, the last reconstruction (of the noised truth for a DAE), that of the
    clean truth, and the loss curves."""
    saved = read_history(workdir)
    if saved is None or not saved["epochs"]:
        return []
    name = TrainConfig.from_dict(saved["config"]).run_name
    last = saved["epochs"][-1]["epoch"]
    names = ("truth.png", "noised.png", f"{name}-e{last}.png")
    names += (clean_reconstruction(name, last), "loss.png")
    paths = [os.path.join(workdir, n) for n in names]
    return [p for p in paths if os.path.isfile(p)]


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


def write_history(workdir: str, config: TrainConfig, epochs: list, finished: bool = False) -> None:
    """Writes history.json; `finished` is the completion fact, set once every output exists."""
    durable.write_json(
        os.path.join(workdir, HISTORY),
        {"config": config.to_dict(), "epochs": epochs, "finished": finished},
    )


def read_evaluation(workdir: str) -> dict | None:
    """`evaluation.json` of `workdir` (None when the run was not evaluated); RunError when it
    cannot be read."""
    path = os.path.join(workdir, EVALUATION)
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        raise RunError(f"{path}: unreadable; run the evaluation again") from None


def previous_epochs(config: TrainConfig, workdir: str) -> list:
    """The epochs already recorded in `workdir` for this configuration ([] for a fresh folder).
    Raises RunError when the folder holds a run of another configuration."""
    saved = None if config.overwrite else read_history(workdir)
    if saved is None:
        return []
    differences = config.differences(saved["config"])
    if differences:
        shown = ", ".join(
            f"{k}={saved['config'].get(k)!r} there, {getattr(config, k)!r} now" for k in differences
        )
        raise RunError(
            f"{workdir} holds a run with another configuration ({shown}); pass "
            "--overwrite to replace it, or choose another --output_dir"
        )
    return saved["epochs"]


def is_finished(config: TrainConfig, workdir: str) -> bool:
    """Whether `workdir` holds this run complete: its history says so (written last) and the
    model is there."""
    saved = None if config.overwrite else read_history(workdir)
    return (
        saved is not None
        and saved.get("finished") is True
        and len(saved["epochs"]) >= config.epochs
        and os.path.isfile(os.path.join(workdir, MODEL))
    )


def training_config(workdir: str) -> TrainConfig:
    """The TrainConfig of the run in `workdir`, from its `history.json`."""
    saved = read_history(workdir)
    if saved is None:
        raise RunError(f"{workdir}: no {HISTORY} (not a keras-dae run folder)")
    try:
        return TrainConfig.from_dict(saved["config"])
    except ConfigError as e:
        raise RunError(f"{os.path.join(workdir, HISTORY)}: {e}") from None


def finished_run(workdir: str) -> tuple[TrainConfig, list]:
    """The config and epoch records of the finished run in `workdir`; RunError when the folder is
    not a run folder or its run is not finished."""
    config = training_config(workdir)
    epochs = read_history(workdir)["epochs"]
    if not is_finished(config, workdir):
        raise RunError(
            f"{workdir}: the run is not finished ({len(epochs)} of {config.epochs} "
            "epochs); run its training command again to complete it"
        )
    return config, epochs


@dataclasses.dataclass
class Run:
    """A run folder opened for training: where this process writes (`outdir`: the run folder for
    the chief, a temporary one for other workers), its backup file, the epochs already recorded."""

    config: TrainConfig
    workdir: str
    outdir: str
    backup: str
    epochs: list
    finished: bool


def _check_writable(workdir: str) -> None:
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise RunError(f"{workdir}: not a folder")
    os.makedirs(workdir, exist_ok=True)
    if not os.access(workdir, os.W_OK | os.X_OK):
        raise RunError(f"{workdir}: not writable")


def backup_path(workdir: str, task: str = "") -> str:
    """The backup file of a run folder (`task`: e.g. "worker1" for a non-chief worker's own)."""
    return os.path.join(workdir, f"backup{'-' + task if task else ''}.npz")


@contextlib.contextmanager
def open_run(config: TrainConfig, chief: bool = True, task: str = ""):
    """The run folder of `config`, held by this process for the block (one writer per folder: a
    second one gets locking.FolderLocked, naming the holder). Leftovers of killed writes are
    removed first. Non-chief workers write into a temporary folder, removed at the end."""
    workdir = config.workdir
    _check_writable(workdir)
    with locking.exclusive(workdir, "run") if chief else contextlib.nullcontext():
        if chief:
            left = durable.remove_temporaries(workdir)
            if left:
                logging.info(
                    "removed %d temporary file(s) left by an interrupted run in %s: %s",
                    len(left),
                    workdir,
                    ", ".join(left),
                )
        outdir = workdir if chief else tempfile.mkdtemp(prefix=f"keras_dae-{task}-")
        backup = backup_path(workdir, "" if chief else task)
        finished = is_finished(config, workdir)
        if (config.overwrite or finished) and os.path.exists(backup):
            os.remove(backup)  # Starting anew, or left by a run killed as it completed.
        try:
            yield Run(config, workdir, outdir, backup, previous_epochs(config, workdir), finished)
        finally:
            if not chief:
                shutil.rmtree(outdir, ignore_errors=True)


def complete(run: Run, epochs: list) -> None:
    """Writes the completion fact (after every output), then removes the backup."""
    if run.outdir == run.workdir:
        write_history(run.workdir, run.config, epochs, finished=True)
    if os.path.exists(run.backup):
        os.remove(run.backup)
        durable.fsync_dir(os.path.dirname(run.backup))
