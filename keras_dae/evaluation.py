"""What a finished run learned, measured on TensorFlow (`python -m keras_dae.evaluate` is its
command line). Writes evaluation.json, evaluation.md, denoising.png,
filters.png and anomaly.png into the run folder: denoising curves, linear probes, first-layer
filters and reconstruction-error anomaly detection (with --compare, a second run beside it)."""

import dataclasses
import os
import time
from typing import NamedTuple

import keras
import numpy as np

from keras_dae import data, evaluation_figures, evaluation_report, metrics, model
from keras_dae.core import corruption, durable, locking, mnist, rundir
from keras_dae.core.errors import RunError
from keras_dae.probe import probe_accuracy

RATES = tuple(round(0.1 * i, 1) for i in range(10))  # 0 to 0.9: dropout's rate stays below 1.
PROBE_SEEDS = (0, 1, 2)
PROBE_EPOCHS = 5
OOD_SEED = 1234  # Uniform-noise images and corruptions: the same for every run evaluated.
BATCH = 1000
JSON, MARKDOWN = rundir.EVALUATION, "evaluation.md"
FIGURES = ("denoising.png", "filters.png", "anomaly.png")
HIDDEN_LAYER = "encoder_dense2"  # The encoder's last hidden layer (500 tanh units).
FIRST_LAYER = "encoder_dense1"


class Run(NamedTuple):
    path: str
    config: object  # TrainConfig
    epochs: list
    autoencoder: object  # keras.Model


class Measured(NamedTuple):
    report: dict  # The run's part of evaluation.json.
    scores: dict  # Anomaly scores per image set, for the figure.
    filters: np.ndarray  # [784, units] first-layer kernel.


def open_run(path: str) -> Run:
    """The finished run in `path` and its autoencoder; RunError for anything else."""
    config, epochs = rundir.finished_run(path)
    model_path = os.path.join(path, rundir.MODEL)
    autoencoder = model.load_autoencoder(model_path)
    try:
        encoder = autoencoder.get_layer("encoder")
        autoencoder.get_layer("decoder")
        for name in (FIRST_LAYER, HIDDEN_LAYER):
            encoder.get_layer(name)
    except (ValueError, AttributeError):
        raise RunError(
            f"{model_path}: not a keras-dae autoencoder (no encoder with layers {FIRST_LAYER} "
            f"and {HIDDEN_LAYER}, or no decoder)"
        ) from None
    return Run(path, config, epochs, autoencoder)


def measured_on(config, data_dir: str | None) -> dict:
    """The test set a run's numbers are measured on: the test split's source, how many of its
    images, whether binarized, and which digits the run never trained on (the anomaly split)."""
    source = data_dir or config.data_dir
    return {
        "source": os.path.realpath(source) if source else f"tfds:{config.dataset}",
        "images": config.test_examples or "all",
        "binarized": config.binarize_input,
        "held_out_digits": list(config.exclude_digits),
    }


def differing_fields(a: dict, b: dict) -> list[str]:
    """The fields in which two test sets (`measured_on`) differ."""
    return [k for k in a if a[k] != b[k]]


def tag(test_set: dict, fields: list[str]) -> str:
    """A short tag of `test_set` made of the `fields` that tell it apart, e.g. `200 images`."""
    words = {
        "source": os.path.basename(test_set["source"]) or test_set["source"],
        "images": f"{test_set['images']} images",
        "binarized": "binarized" if test_set["binarized"] else "not binarized",
        "held_out_digits": f"held out {test_set['held_out_digits'] or 'none'}",
    }
    return ", ".join(words[f] for f in fields)


def check_test_sets(run: str, compare: str, data_dir: str | None, allow: bool) -> list[str]:
    """The fields in which the two runs' test sets differ; RunError naming them unless `allow`."""
    a, b = (measured_on(rundir.training_config(path), data_dir) for path in (run, compare))
    fields = differing_fields(a, b)
    if fields and not allow:
        shown = "; ".join(f"{k}: {a[k]} vs {b[k]}" for k in fields)
        raise RunError(
            f"{run} and {compare} are measured on different test sets ({shown}); pass "
            "--allow_different_test_sets to show them side by side, each number labelled with "
            "its own test set"
        )
    return fields


def evaluation_data(config, data_dir: str | None) -> mnist.Data:
    """The run's data with every digit in both splits (the probe needs all ten classes)."""
    return data.load(
        dataclasses.replace(config, exclude_digits=(), data_dir=data_dir or config.data_dir)
    )


def feature_models(autoencoder):
    """(reconstruct, features) of `autoencoder`, corruption off: images -> reconstructions, and
    images -> {"z": codes, "hidden": the last hidden layer} in one pass."""
    clean, encoder = model.reconstructor(autoencoder), autoencoder.get_layer("encoder")
    both = keras.Model(encoder.inputs, [encoder.outputs[0], encoder.get_layer(HIDDEN_LAYER).output])

    def reconstruct(x):
        return np.asarray(clean.predict(x, batch_size=BATCH, verbose=0))

    def features(x):
        z, hidden = both.predict(x, batch_size=BATCH, verbose=0)
        return {"z": np.asarray(z), "hidden": np.asarray(hidden)}

    return reconstruct, features


def denoising_curves(reconstruct, x: np.ndarray) -> dict:
    """Per corruption and rate: mean test CE and PSNR of the reconstruction of the corrupted
    images, and of the corrupted images themselves clipped to [0, 1] (dropout's survivors reach
    1 / (1 - rate)), all against the clean images."""
    curves = {}
    for k, kind in enumerate(corruption.KINDS):
        rows = {
            "rates": list(RATES),
            "model_ce": [],
            "model_psnr": [],
            "input_ce": [],
            "input_psnr": [],
        }
        for r, rate in enumerate(RATES):
            noisy = corruption.corrupt(x, kind, rate, np.random.default_rng([OOD_SEED, k, r]))
            for name, images in (("model", reconstruct(noisy)), ("input", np.clip(noisy, 0, 1))):
                rows[f"{name}_ce"].append(float(np.mean(metrics.cross_entropy(x, images))))
                rows[f"{name}_psnr"].append(float(np.mean(metrics.psnr(x, images))))
        curves[kind] = rows
    return curves


def linear_probes(features, d: mnist.Data, epochs: int) -> dict:
    """Test accuracy of softmax regression on the codes z and on the last hidden layer of the
    whole training split, one fit of `epochs` epochs per seed in PROBE_SEEDS."""
    probes = {"examples": len(d.x_train), "epochs": epochs, "seeds": list(PROBE_SEEDS)}
    train, test = features(d.x_train), features(d.x_test)
    for name in ("z", "hidden"):
        probes[name] = metrics.summary(
            [
                probe_accuracy(train[name], d.y_train, test[name], d.y_test, seed, epochs)
                for seed in PROBE_SEEDS
            ]
        )
    return probes


def anomaly_sets(config, d: mnist.Data, ood_dir: str | None) -> dict:
    """Images to score: the trained digits of the test set ("normal"), its held-out digits,
    uniform noise and inverted digits (preprocessed as the run's inputs), and --ood_dir's test
    split."""
    held_out = np.isin(d.y_test, config.exclude_digits)
    normal = d.x_test[~held_out]
    noise = np.random.default_rng(OOD_SEED).random(normal.shape, dtype=np.float32)
    sets = {
        "normal": normal,
        "held_out": d.x_test[held_out],
        "uniform_noise": (noise >= 0.5).astype(np.float32) if config.binarize_input else noise,
        "inverted": 1.0 - normal,
    }
    if ood_dir:
        split = mnist.load_idx_split(ood_dir, "test")
        sets["ood_dir"] = mnist.preprocess(split.images, config.binarize_input)
    return sets


def anomaly_scores(reconstruct, sets: dict) -> dict:
    """The anomaly score of every image: the CE of its reconstruction against it."""
    return {
        name: metrics.cross_entropy(x, reconstruct(x)) if len(x) else np.zeros(0)
        for name, x in sets.items()
    }


def anomaly_report(config, scores: dict) -> dict:
    """ROC-AUC of each anomalous set against the normal test images (null where absent)."""
    auc = {
        name: metrics.roc_auc(scores["normal"], scores[name]) if name in scores else None
        for name in ("held_out", "uniform_noise", "inverted", "ood_dir")
    }
    return {
        "held_out_digits": list(config.exclude_digits),
        "roc_auc": auc,
        "images": {name: len(s) for name, s in scores.items()},
        "mean_score": {name: float(np.mean(s)) if len(s) else None for name, s in scores.items()},
    }


def measure(
    run: Run, data_dir: str | None, ood_dir: str | None, probe_epochs: int = PROBE_EPOCHS
) -> Measured:
    """Every measurement of one run, with the seconds each part took."""
    d = evaluation_data(run.config, data_dir)
    reconstruct, features = feature_models(run.autoencoder)
    seconds, started = {}, time.perf_counter()

    def lap(name):
        nonlocal started
        seconds[name], started = round(time.perf_counter() - started, 3), time.perf_counter()

    scores = anomaly_scores(reconstruct, anomaly_sets(run.config, d, ood_dir))
    lap("anomaly")
    denoising = denoising_curves(reconstruct, d.x_test)
    lap("denoising")
    probe = linear_probes(features, d, probe_epochs)
    lap("probe")
    report = {
        "run": run.path,
        "run_name": run.config.run_name,
        "label": os.path.basename(os.path.normpath(run.path)),  # Its folder: tells runs apart.
        "training_seconds": sum(e.get("seconds", 0.0) for e in run.epochs),
        "test_set": measured_on(run.config, data_dir) | {"images": len(d.x_test)},
        "denoising": denoising,
        "probe": probe,
        "anomaly": anomaly_report(run.config, scores),
        "part_seconds": seconds,
    }
    kernel = run.autoencoder.get_layer("encoder").get_layer(FIRST_LAYER).get_weights()[0]
    return Measured(report, scores, kernel)


def write_outputs(folder: str, evaluation: dict, main: Measured, other: Measured | None) -> None:
    """The figures, evaluation.md, then evaluation.json (last: its presence means complete)."""
    durable.remove_temporaries(folder)  # Of a killed evaluation; the lock keeps writers out.
    compared = None if other is None else other.report
    evaluation_figures.save_denoising(os.path.join(folder, FIGURES[0]), main.report, compared)
    evaluation_figures.save_filters(os.path.join(folder, FIGURES[1]), main, other)
    evaluation_figures.save_anomaly(os.path.join(folder, FIGURES[2]), main.report, main.scores)
    durable.write_text(os.path.join(folder, MARKDOWN), evaluation_report.markdown(evaluation))
    durable.write_json(os.path.join(folder, JSON), evaluation)


def label_test_sets(reports: list[dict], fields: list[str]) -> None:
    """Gives each report its test set's `tag` (`test_set_label`) when the runs' differ."""
    for report in reports:
        report["test_set_label"] = tag(report["test_set"], fields) if fields else None


def evaluate(
    run: str,
    compare: str | None = None,
    ood_dir: str | None = None,
    data_dir: str | None = None,
    probe_epochs: int = PROBE_EPOCHS,
    allow_different_test_sets: bool = False,
) -> dict:
    """Evaluates the finished run in `run` (with `compare` beside it) and writes the results
    into `run`; returns evaluation.json's content. Raises RunError, DataError or FolderLocked;
    RunError too when the two runs' test sets differ, unless `allow_different_test_sets`."""
    started, cpu_started = time.perf_counter(), time.process_time()
    rundir.finished_run(run)  # Refuses a folder that is not a finished run before locking it.
    differ = []
    if compare is not None:
        rundir.finished_run(compare)
        differ = check_test_sets(run, compare, data_dir, allow_different_test_sets)
    with locking.exclusive(run, "evaluation"):
        main = measure(open_run(run), data_dir, ood_dir, probe_epochs)
        other = (
            None if compare is None else measure(open_run(compare), data_dir, ood_dir, probe_epochs)
        )
        label_test_sets([main.report] + ([other.report] if other else []), differ)
        evaluation = main.report | {
            "compare": None if other is None else other.report,
            "seconds": round(time.perf_counter() - started, 3),
            "cpu_seconds": round(time.process_time() - cpu_started, 3),
        }
        write_outputs(run, evaluation, main, other)
    return evaluation
