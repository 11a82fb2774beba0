"""The training backup, one file: every variable of the model (weights and the noise layers'
random state) and of its optimizer, and the number of epochs done, with a sha256 over all of it.
One atomic rename commits it whole; it is checked before anything is restored."""

import hashlib
import io
import os
import zipfile

import numpy as np

from keras_dae.core import durable
from keras_dae.core.errors import RunError

FORMAT = 1
_KEYS = {"format", "epoch", "names", "sha256"}


def _variables(model) -> list:
    """The model's variables (its random state included) and its optimizer's, in a fixed order."""
    return list(model.variables) + list(model.optimizer.variables)


def _digest(epoch: int, names: list[str], arrays: list[np.ndarray]) -> str:
    digest = hashlib.sha256(f"{FORMAT}:{epoch}:{'|'.join(names)}".encode())
    for a in arrays:
        digest.update(f"{a.dtype.str}{a.shape}".encode())
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()


def write(path: str, model, epoch: int) -> None:
    """Commits the state of `model` after `epoch` epochs to `path`, atomically and durably."""
    variables = _variables(model)
    names = [v.path for v in variables]
    arrays = [np.asarray(v.numpy()) for v in variables]
    buffer = io.BytesIO()  # Built in memory: a full disk fails the write below with ENOSPC.
    np.savez(
        buffer,
        format=FORMAT,
        epoch=epoch,
        names=np.array(names),
        sha256=_digest(epoch, names, arrays),
        **{f"v{i}": a for i, a in enumerate(arrays)},
    )
    durable.write_bytes(path, buffer.getvalue())


def epochs_done(path: str) -> int:
    """The epoch count a backup file records, unchecked (0 when there is none)."""
    return int(_read(path)["epoch"]) if os.path.isfile(path) else 0


def _read(path: str) -> dict:
    hint = "remove it to restart the run from its first epoch, or pass --overwrite"
    try:
        with np.load(path, allow_pickle=False) as saved:
            contents = {k: saved[k] for k in saved.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise RunError(f"{path}: damaged backup ({type(e).__name__}); {hint}") from None
    if not contents.keys() >= _KEYS or int(contents["format"]) != FORMAT:
        raise RunError(f"{path}: not a keras-dae backup of this version; {hint}")
    names = [str(n) for n in contents["names"]]
    arrays = [contents.get(f"v{i}") for i in range(len(names))]
    if any(a is None for a in arrays) or len(contents) != len(_KEYS) + len(names):
        raise RunError(f"{path}: damaged backup (variables missing or extra); {hint}")
    if _digest(int(contents["epoch"]), names, arrays) != str(contents["sha256"]):
        raise RunError(f"{path}: damaged backup (sha256 mismatch); {hint}")
    return {"epoch": int(contents["epoch"]), "names": names, "arrays": arrays}


def restore(path: str, model, max_epoch: int) -> int:
    """Restores `model` (compiled, built) from `path` and returns its epoch count; 0 and nothing
    restored when there is no backup. Raises RunError for a damaged or mismatched backup."""
    if not os.path.isfile(path):
        return 0
    saved = _read(path)
    if not 1 <= saved["epoch"] <= max_epoch:
        raise RunError(
            f"{path}: records {saved['epoch']} epochs, this run has {max_epoch}; "
            "remove it, or pass --overwrite"
        )
    model.optimizer.build(model.trainable_variables)
    variables = _variables(model)
    # Shapes, not names: Keras numbers unnamed objects per process (seed_generator_3, ...).
    expected = [tuple(v.shape) for v in variables]
    found = [a.shape for a in saved["arrays"]]
    if expected != found:
        raise RunError(
            f"{path}: the backup is of another model ({len(found)} variables, this "
            f"one has {len(expected)}); remove it, or pass --overwrite"
        )
    for variable, array in zip(variables, saved["arrays"]):
        variable.assign(array)
    return saved["epoch"]
