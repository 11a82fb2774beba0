"""`export_model`: a trained model.keras becomes a new, whole version of an export folder: the
SavedModel, the TFLite variants and halves checked against Keras, the firmware C array, the
reports, model.json, samples.json and the manifest, published only once every check has passed."""

import dataclasses
import json
import os

import keras
import numpy as np
from absl import logging

from keras_dae import data, model
from keras_dae.core import corruption, durable, locking, mnist, rundir
from keras_dae.core.config import TrainConfig
from keras_dae.core.errors import ExportError
from keras_dae.export import layout, model_card, parity, publish
from keras_dae.export.config import ExportConfig
from keras_dae.export.convert import savedmodel, tflite, warmup
from keras_dae.export.convert.micro import run_micro
from keras_dae.export.litert import LiteRTModel
from keras_dae.export.serving import protocol

MICRO_IMAGES = 100  # Test images run through TFLM (one invoke each: slow).
SAMPLE_IMAGES = 100  # Test digits published in samples.json.
PREDICT_BATCH = 500


def export_model(config: ExportConfig) -> dict:
    """Exports `config.model` as a new version of `config.export_dir`; returns the report. Raises
    ExportError, having published nothing, when a TFLite model fails its parity check."""
    with locking.exclusive(config.export_dir, "export"):
        publish.clear_leftovers(config.export_dir)
        autoencoder = model.load_autoencoder(config.model)
        train_config = training_config(config)
        images = data.load(train_config)
        reference = keras_reference(autoencoder, images.x_test)
        staging = publish.stage(config.export_dir)
        try:
            savedmodel.write_saved_model(autoencoder, staging.saved_model)
            write_warmup(staging.saved_model, train_config, images.x_test, reference["codes"])
            calibration = calibration_images(images.x_train, train_config, config)
            variants = write_variants(staging, calibration)
            variant_rows = variants_parity(variants, images.x_test, reference, config)
            halves = write_halves(staging)
            half_rows = halves_parity(halves, autoencoder, images.x_test, reference, config)
            micro = micro_parity(variants["int8_io"], images.x_test[:MICRO_IMAGES])
            write_micro_source(staging.record, variants["int8_io"])
            report = build_report(
                config,
                staging.version,
                images.x_test,
                reference,
                variant_rows,
                half_rows,
                micro,
                len(calibration),
                train_config,
            )
            write_reports(staging.record, report)
            write_model_info(staging.record, train_config)
            write_samples(staging.record, train_config)
            write_model_card(staging.record, config, train_config, report)
            refuse_failures(report)
            publish.publish(config.export_dir, staging)
        finally:
            publish.discard(staging)
    return report


def training_config(config: ExportConfig) -> TrainConfig:
    """The run's TrainConfig (history.json beside the model), `--data_dir` first."""
    saved = rundir.training_config(os.path.dirname(os.path.abspath(config.model)))
    return dataclasses.replace(saved, data_dir=config.data_dir or saved.data_dir)


def keras_reference(autoencoder: keras.Model, x_test: np.ndarray) -> dict:
    """The Keras outputs every TFLite model is held to: codes and reconstructions (noise and
    dropout off), and the reconstructions' test CE."""
    codes = autoencoder.get_layer("encoder").predict(x_test, PREDICT_BATCH, verbose=0)
    reconstructions = model.reconstructor(autoencoder).predict(x_test, PREDICT_BATCH, verbose=0)
    return {
        "codes": codes,
        "reconstructions": reconstructions,
        "ce": parity.cross_entropy(x_test, reconstructions),
    }


def write_warmup(
    saved_model: str, train_config: TrainConfig, x_test: np.ndarray, codes: np.ndarray
) -> None:
    """TF Serving's warm-up file: each signature on the first test digit (or its code)."""
    info = model_info(train_config)
    signatures = protocol.signatures(info["latent_dim"], info["input_max"])
    warmup.write(saved_model, warmup.records(signatures, {"images": x_test, "codes": codes}))


def calibration_images(
    x_train: np.ndarray, train_config: TrainConfig, config: ExportConfig
) -> np.ndarray:
    """Training images for int8 calibration: for a DAE half clean, half corrupted with the
    model's own noise, so the int8 input range covers both; for a plain AE all clean."""
    rng = np.random.default_rng(config.seed)
    n = min(config.calibration_examples, len(x_train))
    x = x_train[rng.choice(len(x_train), n, replace=False)]
    if not train_config.add_noise:
        return x.astype(np.float32)
    noised = corruption.corrupt(x[n // 2 :], train_config.noise, train_config.noise_rate, rng)
    return np.concatenate([x[: n // 2], noised]).astype(np.float32)


def write_variants(staging: publish.Staging, calibration: np.ndarray) -> dict[str, str]:
    """Converts the SavedModel into every autoencoder variant; returns {variant: path}."""
    paths = {}
    for variant in tflite.VARIANTS:
        logging.info("converting %s", variant)
        paths[variant] = os.path.join(staging.record, layout.TFLITE, f"{variant}.tflite")
        durable.write_bytes(
            paths[variant], tflite.convert(staging.saved_model, variant, calibration)
        )
    return paths


def variants_parity(
    paths: dict[str, str], x_test: np.ndarray, reference: dict, config: ExportConfig
) -> list[dict]:
    """One parity row per variant (float or int8 tolerance by its kind)."""
    rows = []
    for variant, path in paths.items():
        logging.info("checking %s", variant)
        tolerance = (
            config.int8_tolerance if variant in tflite.INT8_VARIANTS else config.float_tolerance
        )
        rows.append(
            parity.variant_row(
                variant,
                path,
                x_test,
                reference["reconstructions"],
                reference["ce"],
                tolerance,
                config.num_threads,
                config.latency_invokes,
            )
        )
    return rows


def write_halves(staging: publish.Staging) -> dict[str, str]:
    """Converts the `encode` and `decode` signatures to float32; returns {half: path}."""
    paths = {}
    for half, signature in zip(layout.HALVES, ("encode", "decode")):
        paths[half] = os.path.join(staging.record, layout.TFLITE, f"{half}.tflite")
        durable.write_bytes(
            paths[half], tflite.convert(staging.saved_model, "float32", signature=signature)
        )
    return paths


def halves_parity(
    paths: dict[str, str],
    autoencoder: keras.Model,
    x_test: np.ndarray,
    reference: dict,
    config: ExportConfig,
) -> list[dict]:
    """The encoder's codes against Keras's (reconstructed by the Keras decoder) and the decoder's
    reconstructions of Keras's codes against Keras's, each within the float tolerance."""
    codes = LiteRTModel(paths["encoder"], config.num_threads).run(x_test)
    from_codes = autoencoder.get_layer("decoder").predict(codes, PREDICT_BATCH, verbose=0)
    decoded = LiteRTModel(paths["decoder"], config.num_threads).run(reference["codes"])
    return [
        parity.half_row(
            "encoder",
            paths["encoder"],
            codes,
            reference["codes"],
            parity.cross_entropy(x_test, from_codes),
            reference["ce"],
            config.float_tolerance,
        ),
        parity.half_row(
            "decoder",
            paths["decoder"],
            decoded,
            reference["reconstructions"],
            parity.cross_entropy(x_test, decoded),
            reference["ce"],
            config.float_tolerance,
        ),
    ]


def micro_parity(int8_io_path: str, x: np.ndarray) -> dict:
    """TFLM against LiteRT, batch 1, on the `int8_io` model: the largest output difference in int8
    steps, the share of outputs that differ, and the CE of each on these images."""
    litert = LiteRTModel(int8_io_path)
    x_int8 = litert.quantize_input(x)
    lite = np.stack([litert.run_raw(row[None])[0] for row in x_int8])
    micro = run_micro(int8_io_path, x_int8)
    steps = np.abs(lite.astype(int) - micro)
    return {
        "images": len(x),
        "max_steps": int(steps.max()),
        "differing_fraction": float(np.mean(steps > 0)),
        "litert_ce": parity.cross_entropy(x, litert.dequantize_output(lite)),
        "tflm_ce": parity.cross_entropy(x, litert.dequantize_output(micro)),
    }


def write_micro_source(record: str, int8_io_path: str) -> None:
    """micro/model_data.cc and .h: the int8_io model as a C array for firmware."""
    with open(int8_io_path, "rb") as f:
        source, header = tflite.c_source(f.read())
    durable.write_text(os.path.join(record, layout.MICRO, "model_data.cc"), source)
    durable.write_text(os.path.join(record, layout.MICRO, "model_data.h"), header)


def build_report(
    config: ExportConfig,
    version: int,
    x_test: np.ndarray,
    reference: dict,
    variant_rows: list,
    half_rows: list,
    micro: dict,
    calibration_examples: int,
    train_config: TrainConfig,
) -> dict:
    return {
        "version": version,
        "model": os.path.abspath(config.model),
        "test_images": len(x_test),
        "keras_test_ce": reference["ce"],
        "num_threads": config.num_threads,
        "calibration": {
            "examples": calibration_examples,
            "noise": train_config.noise if train_config.add_noise else None,
            "noise_rate": train_config.noise_rate if train_config.add_noise else None,
        },
        "variants": variant_rows,
        "halves": half_rows,
        "micro": micro,
    }


def write_reports(record: str, report: dict) -> None:
    durable.write_json(os.path.join(record, layout.REPORT_JSON), report)
    durable.write_text(os.path.join(record, layout.REPORT_MD), parity.markdown(report))


def model_info(train_config: TrainConfig) -> dict:
    """model.json: the settings a reader of the export needs, among them the largest pixel value
    the model accepts (a dropout DAE's noised inputs reach 1 / (1 - rate))."""
    c = train_config
    return {
        "run_name": c.run_name,
        "latent_dim": c.latent_dim,
        "add_noise": c.add_noise,
        "noise": c.noise,
        "noise_rate": c.noise_rate,
        "binarize_input": c.binarize_input,
        "loss": c.loss,
        "input_max": corruption.max_value(c.noise, c.noise_rate) if c.add_noise else 1.0,
    }


def write_model_info(record: str, train_config: TrainConfig) -> None:
    durable.write_json(os.path.join(record, layout.MODEL_INFO), model_info(train_config))


def write_model_card(
    record: str, config: ExportConfig, train_config: TrainConfig, report: dict
) -> None:
    """MODEL_CARD.md: what the model is, its data and settings, the run's evaluation when there is
    one (evaluation.json beside the model), the parity table, uses and limits."""
    run = os.path.dirname(os.path.abspath(config.model))
    card = model_card.render(
        model_info(train_config), rundir.read_history(run), report, rundir.read_evaluation(run)
    )
    durable.write_text(os.path.join(record, layout.MODEL_CARD), card)


def write_samples(record: str, train_config: TrainConfig) -> None:
    """samples.json: the first test digits as raw pixels (0..255, not binarized), with labels."""
    split = (
        mnist.load_idx_split(train_config.data_dir, "test")
        if train_config.data_dir
        else data.load_tfds_split(train_config.dataset, "test")
    )
    images = split.images[:SAMPLE_IMAGES].reshape(-1, mnist.PIXELS)
    samples = {
        "images": images.astype(int).tolist(),
        "labels": split.labels[:SAMPLE_IMAGES].astype(int).tolist(),
    }
    # Compact: indented, 78,400 pixels would take a line each.
    durable.write_text(
        os.path.join(record, layout.SAMPLES), json.dumps(samples, separators=(",", ":")) + "\n"
    )


def refuse_failures(report: dict) -> None:
    """Raises ExportError (the table printed first) when a TFLite model is beyond its tolerance."""
    failed = parity.failed(report)
    if failed:
        print(parity.markdown(report))
        raise ExportError(
            f"export refused, nothing published: {', '.join(failed)} beyond "
            "the test-CE tolerance (see the table above)"
        )
