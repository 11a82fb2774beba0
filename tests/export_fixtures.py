"""A small real export for the serving and web tests: a model trained briefly on a few images,
exported by `python -m export`'s own pipeline with small calibration and latency budgets."""

import os

from keras_dae.core import rundir
from keras_dae.core.config import TrainConfig
from keras_dae.export.config import ExportConfig
from keras_dae.export.convert.pipeline import export_model
from keras_dae.training import train_and_evaluate


def train_tiny_run(folder: str, **config) -> TrainConfig:
    """A one-epoch run in `folder`/run (the rest of `config`: data_dir, sizes...)."""
    train_config = TrainConfig(
        epochs=1, print_every=0, output_dir=os.path.join(folder, "run"), **config
    )
    train_and_evaluate(train_config)
    return train_config


def publish_test_version(export_dir: str, run_dir: str) -> int:
    """Exports the run in `run_dir` as the next version of `export_dir`; returns its number."""
    config = ExportConfig(
        model=os.path.join(run_dir, rundir.MODEL),
        export_dir=export_dir,
        calibration_examples=100,
        latency_invokes=10,
    )
    return export_model(config)["version"]
