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

from keras_dae.export import layout
from tests.export_fixtures import publish_test_version, train_tiny_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST_DIR = os.path.join(ROOT, "..", "shared", "data", "mnist")
CHROMIUM = "/usr/bin/chromium"  # Debian's package; Playwright drives it (no browser download).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SAMPLES = 20  # Real MNIST test digits in samples.json (the export writes 100).


def off_centre(
    digit: np.ndarray, size: tuple[int, int], canvas: tuple[int, int], at: tuple[int, int]
) -> np.ndarray:
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


def tiny_export(export_dir: str) -> str:
    """Trains a z=2 DAE for one epoch on 300 real MNIST digits and exports it (samples.json: the
    first MNIST test digits); returns the published versions/<v>/."""
    with tempfile.TemporaryDirectory(prefix="web_fixture-") as folder:
        config = train_tiny_run(
            folder, latent_dim=2, data_dir=MNIST_DIR, train_examples=300, test_examples=SAMPLES
        )
        version = publish_test_version(export_dir, config.workdir)
    return layout.version_dir(export_dir, version)


def start_server(export_dir: str) -> tuple[subprocess.Popen, str]:
    """`python -m export.web` on a free port, and the URL it prints."""
    server = subprocess.Popen(
        [sys.executable, "-m", "export.web", "--export_dir", export_dir, "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = server.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+/", line)
    if match is None:
        server.kill()
        raise RuntimeError(f"export.web did not start: {line}{server.stderr.read()}")
    return server, match.group(0)
