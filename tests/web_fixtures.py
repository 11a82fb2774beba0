"""The web page's test fixtures (tests and benchmarks/web.py): a small published export (a model
trained briefly, converted to the TFLite files the page loads, model.json and samples.json, in
export/layout.py's layout), digit pictures, the browser and the server."""

import os
import re
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

from export import layout
from keras_dae.data import load_idx_split
from keras_dae.durable import write_bytes, write_json
from tests.idx_fixtures import write_mnist_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST_DIR = os.path.join(ROOT, "..", "shared", "data", "mnist")
CHROMIUM = "/usr/bin/chromium"  # Debian's package; Playwright drives it (no browser download).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
SAMPLES = 20  # Real MNIST test digits in samples.json (the export writes 100).
PAGE_MODELS = {"float32": "serving_default", "int8": "serving_default",
               "encoder": "encode", "decoder": "decode"}


def off_centre(digit: np.ndarray, size: tuple[int, int], canvas: tuple[int, int],
               at: tuple[int, int]) -> np.ndarray:
    """An MNIST digit (uint8 [28, 28]) re-rendered at `size` (w, h, bilinear) at `at` on a
    black `canvas` (w, h): uint8 [h, w]."""
    image = Image.new("L", canvas)
    image.paste(Image.fromarray(digit).resize(size, Image.Resampling.BILINEAR), at)
    return np.asarray(image)


def photo_of_digit(digit: np.ndarray, seed: int = 0) -> Image.Image:
    """A photo-like RGB picture of an MNIST digit: dark blue ink on uneven cream paper with
    grain, off-centre in a 160x120 frame, the digit stretched to 54x75."""
    rng = np.random.default_rng(seed)
    ink = off_centre(digit, (54, 75), (160, 120), (88, 14)).astype(np.float64) / 255
    shade = np.linspace(0.9, 1.0, 160)[None, :, None] * np.linspace(1.0, 0.93, 120)[:, None, None]
    paper = np.array([236, 228, 206]) * shade + rng.normal(0, 6, (120, 160, 1))
    rgb = paper * (1 - ink[..., None]) + np.array([35, 40, 85]) * ink[..., None]
    return Image.fromarray(np.uint8(np.clip(rgb, 0, 255).round()))


def model_info(config) -> dict:
    """model.json of a training config (the export writes the same keys)."""
    from keras_dae.corruption import max_value

    return {"run_name": config.run_name, "latent_dim": config.latent_dim,
            "add_noise": config.add_noise, "noise": config.noise,
            "noise_rate": config.noise_rate, "binarize_input": config.binarize_input,
            "loss": config.loss,
            "input_max": max_value(config.noise, config.noise_rate) if config.add_noise else 1.0}


def mnist_samples(count: int = SAMPLES) -> dict:
    """samples.json: the first `count` real MNIST test images (raw bytes) and labels."""
    split = load_idx_split(MNIST_DIR, "test")
    return {"images": split.images[:count].reshape(count, -1).tolist(),
            "labels": split.labels[:count].tolist()}


def write_export(export_dir: str, model_path: str, config, samples: int = SAMPLES) -> str:
    """Converts the Keras model at `model_path` into `export_dir`'s version 1 with `samples` test
    digits; returns versions/1/."""
    from export import tflite
    from export.savedmodel import write_saved_model
    from keras_dae.data import preprocess
    from keras_dae.rundir import load_autoencoder

    saved_model = layout.saved_model_dir(export_dir, 1)
    write_saved_model(load_autoencoder(model_path), saved_model)
    samples = mnist_samples(samples)
    calibration = preprocess(np.array(samples["images"], np.uint8).reshape(-1, 28, 28),
                             config.binarize_input)
    record = layout.version_dir(export_dir, 1)
    for name, signature in PAGE_MODELS.items():
        variant = "int8" if name == "int8" else "float32"
        write_bytes(os.path.join(record, "tflite", f"{name}.tflite"),
                    tflite.convert(saved_model, variant, calibration, signature))
    write_json(os.path.join(record, layout.MODEL_INFO), model_info(config))
    write_json(os.path.join(record, layout.SAMPLES), samples)
    return record


def tiny_export(export_dir: str) -> str:
    """Trains a z=2 DAE for one epoch on 300 random images and exports it; returns versions/1/."""
    from keras_dae.config import TrainConfig
    from keras_dae.training import train_and_evaluate

    with tempfile.TemporaryDirectory(prefix="web_fixture-") as folder:
        data_dir = os.path.join(folder, "mnist")
        os.makedirs(data_dir)
        write_mnist_dir(data_dir, n_train=300, n_test=20)
        config = TrainConfig(latent_dim=2, epochs=1, data_dir=data_dir, print_every=0,
                             output_dir=os.path.join(folder, "run"))
        train_and_evaluate(config)
        return write_export(export_dir, os.path.join(config.output_dir, "model.keras"), config)


def start_server(export_dir: str) -> tuple[subprocess.Popen, str]:
    """`python -m export.web` on a free port, and the URL it prints."""
    server = subprocess.Popen(
        [sys.executable, "-m", "export.web", "--export_dir", export_dir, "--port", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+/", line)
    if match is None:
        server.kill()
        raise RuntimeError(f"export.web did not start: {line}{server.stderr.read()}")
    return server, match.group(0)


if __name__ == "__main__":  # python -m tests.web_fixtures EXPORT_DIR [MODEL.keras]
    import sys

    from keras_dae.rundir import training_config

    if len(sys.argv) == 3:
        run = os.path.dirname(sys.argv[2])
        print(write_export(sys.argv[1], sys.argv[2], training_config(run), samples=100))
    else:
        print(tiny_export(sys.argv[1]))
