"""`export_model`: SavedModel, TFLite variants, parity report and manifest, staged in a temporary
folder and published by renames only once every variant has passed."""

import json
import os
import shutil
import tempfile

import keras
import numpy as np
from absl import logging

import keras_dae  # noqa: F401  (registers the custom layers and optimizer for loading)
from export import manifest, parity, savedmodel, tflite
from export.errors import ExportError
from export.litert import LiteRTModel
from keras_dae import data, optimizer  # noqa: F401
from keras_dae.durable import write_json
from keras_dae.config import TrainConfig
from keras_dae.model import reconstructor

MICRO_IMAGES = 100


def load_autoencoder(path: str) -> keras.Model:
    """The trained autoencoder in `path` (a model.keras), or a one-line ExportError."""
    if not os.path.isfile(path):
        raise ExportError(f"{path}: no such model file")
    try:
        return keras.saving.load_model(path)
    except Exception as e:  # Keras raises many kinds for a file that is not a model.
        raise ExportError(f"{path}: not a loadable Keras model ({type(e).__name__})") from None


def training_config(model_path: str, data_dir: str | None) -> TrainConfig:
    """The data settings the model was trained with (history.json beside it), `data_dir` first."""
    history = os.path.join(os.path.dirname(model_path), "history.json")
    saved = {}
    if os.path.isfile(history):
        with open(history) as f:
            saved = json.load(f).get("config", {})
    return TrainConfig(data_dir=data_dir or saved.get("data_dir"),
                       dataset=saved.get("dataset", "mnist"),
                       binarize_input=saved.get("binarize_input", True))


def calibration_images(x_train: np.ndarray, n: int, seed: int) -> np.ndarray:
    """n training images for int8 calibration: half clean, half with the training noise
    (survivors doubled), so the int8 input range covers both."""
    rng = np.random.default_rng(seed)
    n = min(n, len(x_train))
    x = x_train[rng.choice(len(x_train), n, replace=False)]
    noised = x[n // 2:] * (rng.random(x[n // 2:].shape) >= 0.5) * 2.0
    return np.concatenate([x[:n // 2], noised]).astype(np.float32)


def _publish_dir(src: str, dst: str) -> None:
    """Moves folder `src` onto `dst`, replacing it; the old one is removed only afterwards."""
    old = None
    if os.path.exists(dst):
        old = tempfile.mkdtemp(prefix=".old-", dir=os.path.dirname(dst))
        os.rename(dst, os.path.join(old, "x"))
    os.rename(src, dst)
    if old:
        shutil.rmtree(old)


def export_model(model_path: str, export_dir: str, data_dir: str | None = None,
                 float_tolerance: float = 0.001, int8_tolerance: float = 0.02,
                 calibration_examples: int = 1000, num_threads: int = 1,
                 latency_invokes: int = 2000, seed: int = 0) -> dict:
    """Exports `model_path` into `export_dir`; returns the report. Raises ExportError, having
    published nothing, when a variant's test CE rises more than its tolerance."""
    autoencoder = load_autoencoder(model_path)
    d = data.load(training_config(model_path, data_dir))
    clean = reconstructor(autoencoder)
    reference = clean.predict(d.x_test, 500, verbose=0)
    reference_ce = parity.cross_entropy(d.x_test, reference)

    os.makedirs(export_dir, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".staging-", dir=export_dir)
    try:
        version = savedmodel.next_version(os.path.join(export_dir, "saved_model"))
        sm_dir = os.path.join(staging, "saved_model", str(version))
        logging.info("writing SavedModel version %d", version)
        savedmodel.write_saved_model(autoencoder, sm_dir)

        calibration = calibration_images(d.x_train, calibration_examples, seed)
        os.makedirs(os.path.join(staging, "tflite"))
        rows = []
        for variant in tflite.VARIANTS:
            logging.info("converting and checking %s", variant)
            path = os.path.join(staging, "tflite", f"{variant}.tflite")
            with open(path, "wb") as f:
                f.write(tflite.convert(sm_dir, variant, calibration))
            tolerance = int8_tolerance if variant in tflite.INT8_VARIANTS else float_tolerance
            rows.append(parity.variant_row(variant, path, d.x_test, reference, reference_ce,
                                           tolerance, num_threads, latency_invokes))
        for part, signature in (("encoder", "encode"), ("decoder", "decode")):
            with open(os.path.join(staging, "tflite", f"{part}.tflite"), "wb") as f:
                f.write(tflite.convert(sm_dir, "float32", signature=signature))

        int8_io = os.path.join(staging, "tflite", "int8_io.tflite")
        report = {"version": version, "model": os.path.abspath(model_path),
                  "test_images": len(d.x_test), "keras_test_ce": reference_ce,
                  "num_threads": num_threads, "variants": rows,
                  "micro": micro_parity(int8_io, d.x_test[:MICRO_IMAGES])}
        os.makedirs(os.path.join(staging, "micro"))
        with open(int8_io, "rb") as f:
            source, header = tflite.c_source(f.read())
        for name, text in (("model_data.cc", source), ("model_data.h", header)):
            with open(os.path.join(staging, "micro", name), "w") as f:
                f.write(text)
        write_json(os.path.join(staging, "report.json"), report)
        with open(os.path.join(staging, "report.md"), "w") as f:
            f.write(parity.markdown(report))

        failed = [r["variant"] for r in report["variants"] if not r["passed"]]
        if failed:
            print(parity.markdown(report))
            raise ExportError(f"export refused, nothing published: {', '.join(failed)} beyond "
                              "the test-CE tolerance (see the table above)")
        publish(staging, export_dir, version)
        return report
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def micro_parity(int8_io_path: str, x: np.ndarray) -> dict:
    """TFLM against LiteRT, batch 1, on the `int8_io` model: the largest output difference in int8
    steps, the share of outputs that differ, and the CE of each on these images."""
    from export.micro import run_micro

    litert = LiteRTModel(int8_io_path)
    x_int8 = litert.quantize_input(x)
    lite = np.stack([litert.run_raw(row[None])[0] for row in x_int8])
    micro = run_micro(int8_io_path, x_int8)
    steps = np.abs(lite.astype(int) - micro)
    return {"images": len(x), "max_steps": int(steps.max()),
            "differing_fraction": float(np.mean(steps > 0)),
            "litert_ce": parity.cross_entropy(x, litert.dequantize_output(lite)),
            "tflm_ce": parity.cross_entropy(x, litert.dequantize_output(micro))}


def publish(staging: str, export_dir: str, version: int) -> None:
    """Renames the staged outputs into `export_dir`; the manifest, written last, lists them."""
    versions = os.path.join(export_dir, "saved_model")
    os.makedirs(versions, exist_ok=True)
    os.rename(os.path.join(staging, "saved_model", str(version)),
              os.path.join(versions, str(version)))
    for folder in ("tflite", "micro"):
        _publish_dir(os.path.join(staging, folder), os.path.join(export_dir, folder))
    for name in ("report.json", "report.md"):
        os.replace(os.path.join(staging, name), os.path.join(export_dir, name))
    published = [f"saved_model/{version}"] + ["tflite", "micro", "report.json", "report.md"]
    paths = []
    for top in published:
        full = os.path.join(export_dir, top)
        if os.path.isfile(full):
            paths.append(top)
        for folder, _, files in os.walk(full):
            paths += [os.path.relpath(os.path.join(folder, f), export_dir) for f in files]
    write_json(os.path.join(export_dir, manifest.MANIFEST), manifest.build(export_dir, paths))
