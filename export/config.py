"""The export's configuration: one frozen dataclass, validated (values and the paths it names)
on construction, before TensorFlow is imported."""

import dataclasses
import math
import os

from keras_dae.core.errors import ExportError


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """Every knob of `python -m export`; defaults are the command line's."""

    model: str
    export_dir: str
    data_dir: str | None = None  # None: the folder the model was trained on (history.json).
    float_tolerance: float = 0.001  # Largest relative test-CE rise of a float variant.
    int8_tolerance: float = 0.02  # Largest relative test-CE rise of an int8 variant.
    calibration_examples: int = 1000
    num_threads: int = 1
    latency_invokes: int = 2000
    seed: int = 0

    def __post_init__(self):
        for problem in _problems(self):
            raise ExportError(problem)


def _is_int(value, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _problems(c: ExportConfig):
    """Yields a one-line description of each invalid value or path."""
    if not c.model or not os.path.isfile(c.model):
        yield f"{c.model}: no such model file" if c.model else "--model is required"
    if not c.export_dir:
        yield "--export_dir is required"
    elif os.path.exists(c.export_dir) and not os.path.isdir(c.export_dir):
        yield f"{c.export_dir}: not a folder"
    if c.data_dir is not None and not os.path.isdir(c.data_dir):
        yield f"{c.data_dir}: " + (
            "not a folder" if os.path.exists(c.data_dir) else "no such folder"
        )
    for name in ("float_tolerance", "int8_tolerance"):
        value = getattr(c, name)
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            yield f"{name} must be a finite number >= 0, got {value!r}"
    for name, least in (
        ("calibration_examples", 2),
        ("num_threads", 1),
        ("latency_invokes", 1),
        ("seed", 0),
    ):
        if not _is_int(getattr(c, name), least):
            yield f"{name} must be an integer >= {least}, got {getattr(c, name)!r}"
