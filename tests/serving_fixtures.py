"""An export folder in the published layout (export/layout.py) for the serving tests: a tiny model
trained on synthetic IDX files, its SavedModel and LiteRT variants, model.json and manifest.json,
each folder of a version renamed into place whole (SavedModel first, version record last)."""

import os
from typing import NamedTuple

import keras
import numpy as np
from idx_fixtures import write_mnist_dir

from export import layout, manifest, savedmodel, tflite
from keras_dae import corruption, data, durable
from keras_dae.config import TrainConfig
from keras_dae.training import train_and_evaluate

TFLITE_FILES = {"int8": ("int8", "serving_default"), "float32": ("float32", "serving_default"),
                "encoder": ("float32", "encode"), "decoder": ("float32", "decode")}


class TinyModel(NamedTuple):
    autoencoder: keras.Model
    config: TrainConfig
    data: data.Data
    samples: dict  # versions/<v>/samples.json: the first 100 raw test images and their labels.


def train_tiny_model(folder: str, n_train: int = 300, n_test: int = 500) -> TinyModel:
    """A one-epoch DAE on synthetic digits in `folder`."""
    data_dir = os.path.join(folder, "mnist")
    os.makedirs(data_dir, exist_ok=True)
    images, labels = write_mnist_dir(data_dir, n_train=n_train, n_test=n_test)["t10k"]
    config = TrainConfig(data_dir=data_dir, epochs=1, print_every=0,
                         output_dir=os.path.join(folder, "run"))
    result = train_and_evaluate(config)
    samples = {"images": images[:100].reshape(-1, 784).tolist(), "labels": labels[:100].tolist()}
    return TinyModel(result.autoencoder, config, data.load(config), samples)


def model_info(config: TrainConfig) -> dict:
    """versions/<v>/model.json of a model trained with `config`."""
    return {"run_name": config.run_name, "latent_dim": config.latent_dim,
            "add_noise": config.add_noise, "noise": config.noise, "noise_rate": config.noise_rate,
            "binarize_input": config.binarize_input, "loss": config.loss,
            "input_max": corruption.max_value(config.noise, config.noise_rate)
            if config.add_noise else 1.0}


def calibration_images(x_train: np.ndarray, config: TrainConfig) -> np.ndarray:
    """Clean and noised training images, so the int8 input range covers both."""
    noised = corruption.corrupt(x_train, config.noise, config.noise_rate,
                                np.random.default_rng(0))
    return np.concatenate([x_train[:50], noised[:50]]).astype(np.float32)


def publish_version(export_dir: str, version: int, model: TinyModel,
                    calibration: np.ndarray) -> None:
    """Writes and publishes `version` of `model` into `export_dir`."""
    autoencoder, config = model.autoencoder, model.config
    staging_sm = durable.make_temp_dir(os.path.join(export_dir, layout.SAVED_MODEL), str(version))
    savedmodel.write_saved_model(autoencoder, staging_sm)
    record = durable.make_temp_dir(os.path.join(export_dir, layout.VERSIONS), str(version))
    for name, (variant, signature) in TFLITE_FILES.items():
        durable.write_bytes(os.path.join(record, "tflite", f"{name}.tflite"),
                            tflite.convert(staging_sm, variant, calibration, signature))
    durable.write_json(os.path.join(record, layout.MODEL_INFO), model_info(config))
    durable.write_json(os.path.join(record, layout.SAMPLES), model.samples)
    durable.rename(staging_sm, layout.saved_model_dir(export_dir, version))
    durable.write_json(os.path.join(record, layout.MANIFEST),
                       staged_manifest(export_dir, version, record))
    durable.rename(record, layout.version_dir(export_dir, version))


def staged_manifest(export_dir: str, version: int, record: str) -> dict:
    """manifest.json of `version` whose record folder is still staged at `record`."""
    built = manifest.build(export_dir, version, manifest.version_files(export_dir, version))
    final = os.path.relpath(layout.version_dir(export_dir, version), export_dir)
    for folder, _, files in os.walk(record):
        for name in files:
            path = os.path.join(folder, name)
            built["files"][os.path.join(final, os.path.relpath(path, record))] = \
                manifest.sha256(path)
    return built
