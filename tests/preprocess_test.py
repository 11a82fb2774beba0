"""Tests of the MNIST preprocessing: export/preprocess.py (Python) and web/preprocess.js (the page,
run under node) give the same 784 bytes, and the bytes look like MNIST's."""

import json
import os
import shutil
import subprocess

import numpy as np
from absl.testing import absltest, parameterized
from PIL import Image

from keras_dae.core.mnist import load_idx_split
from keras_dae.export import preprocess
from tests.web_fixtures import MNIST_DIR, ROOT, off_centre, photo_of_digit

NODE = shutil.which("node")
# Reads [{"rgba": [...], "width", "height", "invert"}] on stdin, prints the 784 bytes of each.
JS = """
import {grayscale, mnistPixels} from '%s';
let text = '';
process.stdin.on('data', (chunk) => { text += chunk; });
process.stdin.on('end', () => {
  const out = JSON.parse(text).map(({rgba, width, height, invert}) => {
    const gray = grayscale(Uint8Array.from(rgba));
    if (invert) gray.forEach((v, i) => { gray[i] = 255 - v; });
    return Array.from(mnistPixels(gray, width, height));
  });
  process.stdout.write(JSON.stringify(out));
});
""" % ("file://" + os.path.join(ROOT, "web", "preprocess.js"))


def sample_images() -> list[tuple[np.ndarray, bool]]:
    """(RGB uint8 [h, w, 3], invert) pairs: 20 MNIST test digits re-rendered at other sizes and
    places on other canvases, and a photo-like dark-on-light digit."""
    digits = load_idx_split(MNIST_DIR, "test").images[:20]
    rng = np.random.default_rng(0)
    images = []
    for digit in digits:
        size = tuple(int(s) for s in rng.integers(12, 90, 2))
        canvas = tuple(s + int(rng.integers(0, 60)) for s in size)
        at = tuple(int(rng.integers(0, c - s + 1)) for c, s in zip(canvas, size))
        gray = off_centre(digit, size, canvas, at)
        images.append((np.repeat(gray[..., None], 3, axis=2), False))
    images.append((np.asarray(photo_of_digit(digits[0])), True))
    return images


def python_pixels(rgb: np.ndarray, invert: bool) -> np.ndarray:
    gray = preprocess.grayscale(Image.fromarray(rgb))
    return preprocess.mnist_pixels(255 - gray if invert else gray).reshape(-1)


def node_pixels(images) -> np.ndarray:
    batch = [
        {
            "rgba": np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)
            .reshape(-1)
            .tolist(),
            "width": rgb.shape[1],
            "height": rgb.shape[0],
            "invert": invert,
        }
        for rgb, invert in images
    ]
    run = subprocess.run(
        [NODE, "--input-type=module", "-e", JS],
        input=json.dumps(batch),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return np.array(json.loads(run.stdout), np.int64)


class PreprocessTest(parameterized.TestCase):
    def test_python_and_javascript_give_the_same_bytes(self):
        if NODE is None and not os.environ.get("CI"):
            self.skipTest("node is not installed (CI installs it)")
        images = sample_images()
        python = np.stack([python_pixels(rgb, invert) for rgb, invert in images])
        javascript = node_pixels(images)
        self.assertGreater(python.sum(axis=1).min(), 0)  # Every image has a digit.
        np.testing.assert_array_equal(javascript, python)  # Un-binarized: exactly equal too.
        for binarize in (False, True):
            np.testing.assert_array_equal(
                preprocess.model_input(javascript, binarize),
                preprocess.model_input(python, binarize),
            )

    def test_digits_fill_20_pixels_and_are_centred_by_mass(self):
        for rgb, invert in sample_images():
            pixels = python_pixels(rgb, invert).reshape(28, 28).astype(np.float64)
            rows, cols = np.nonzero(pixels)
            self.assertEqual(max(np.ptp(rows), np.ptp(cols)) + 1, preprocess.BOX)
            mass = pixels.sum()
            centre = (pixels.sum(1) @ np.arange(28) / mass, pixels.sum(0) @ np.arange(28) / mass)
            np.testing.assert_allclose(centre, (14, 14), atol=0.5)

    def test_mnist_digits_are_nearly_unchanged(self):
        digits = load_idx_split(MNIST_DIR, "test").images[:200]
        again = np.stack([preprocess.mnist_pixels(d) for d in digits])
        self.assertLess(np.mean((again >= 128) != (digits >= 128)), 0.01)

    @parameterized.named_parameters(("black", 0), ("white", 255), ("gray", 97))
    def test_flat_images_are_blank(self, value):
        gray = np.full((40, 30), value, np.uint8)
        np.testing.assert_array_equal(preprocess.mnist_pixels(gray), 0)

    def test_one_pixel_is_a_20_pixel_square(self):
        gray = np.zeros((50, 50), np.uint8)
        gray[3, 40] = 200
        pixels = preprocess.mnist_pixels(gray)
        self.assertEqual(pixels.sum(), 255 * 400)
        self.assertEqual(pixels[5:25, 5:25].min(), 255)


if __name__ == "__main__":
    absltest.main()
