"""Tests of export.infer and export.litert: edge inference on LiteRT alone, input hygiene, and
one-line errors."""

import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib

import numpy as np
from absl.testing import absltest
from PIL import Image

from keras_dae.core.errors import ExportError
from keras_dae.export import infer
from keras_dae.export.litert import LiteRTModel
from tests.cli import CliAssertions, run_module

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_model_paths(folder: str) -> tuple[str, str]:
    """Float32 .tflite files of a 784 -> 784 sigmoid layer (an autoencoder's shape) and of a
    784 -> 10 layer (an encoder's), built in one subprocess (TensorFlow)."""
    paths = os.path.join(folder, "tiny.tflite"), os.path.join(folder, "encoder.tflite")
    code = (
        "import tensorflow as tf, sys\n"
        "for units, path in ((784, sys.argv[1]), (10, sys.argv[2])):\n"
        "    m = tf.keras.Sequential([tf.keras.Input((784,)), "
        "tf.keras.layers.Dense(units, 'sigmoid')])\n"
        "    open(path, 'wb').write(tf.lite.TFLiteConverter.from_keras_model(m).convert())\n"
    )
    subprocess.run(
        [sys.executable, "-c", code, *paths], check=True, capture_output=True, timeout=300
    )
    return paths


def png_header_only(path: str, width: int, height: int) -> None:
    """A PNG that declares width x height pixels and holds none: decoding it would fail."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    with open(path, "wb") as f:
        f.write(
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b""))
            + chunk(b"IEND", b"")
        )


class InferTest(CliAssertions, absltest.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.folder = tempfile.mkdtemp(prefix="infer_test-")
        cls.model, cls.encoder = tiny_model_paths(cls.folder)

    def test_image_is_preprocessed_as_mnist(self):
        folder = self.create_tempdir().full_path
        for name, ink, paper, invert in (("light.png", 255, 0, False), ("dark.png", 0, 255, True)):
            gray = np.full((56, 112), paper, np.uint8)
            gray[30:50, 8:48] = ink  # A 40x20 bar, off-centre: fitted to 20x10, centred by mass.
            Image.fromarray(gray).convert("RGB").save(os.path.join(folder, name))
            x = infer.load_image(os.path.join(folder, name), invert=invert).reshape(28, 28)
            expected = np.zeros((28, 28), np.float32)
            expected[10:20, 5:25] = 1.0
            np.testing.assert_array_equal(x, expected)

    def test_cli_writes_pngs_without_tensorflow(self):
        folder = self.create_tempdir().full_path
        digit = os.path.join(folder, "digit.jpg")
        Image.fromarray(np.uint8(np.eye(40) * 255)).save(digit)
        os.makedirs(os.path.join(folder, "b"))
        same_name = os.path.join(folder, "b", "digit.png")
        Image.fromarray(np.uint8(np.eye(20) * 255)).save(same_name)
        sheet_named = os.path.join(folder, "sheet.png")
        Image.fromarray(np.uint8(np.eye(20) * 255)).save(sheet_named)
        batch = os.path.join(folder, "batch.npy")
        np.save(batch, np.zeros((2, 28, 28), np.uint8))
        out = os.path.join(folder, "out")
        run = subprocess.run(
            [
                sys.executable,
                "-X",
                "importtime",
                "-m",
                "export.infer",
                "--model",
                self.model,
                "--input",
                digit,
                batch,
                same_name,
                sheet_named,
                "--output_dir",
                out,
                "--corrupt",
            ],
            cwd=ROOT,
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertNotIn("tensorflow", run.stderr.replace("tensorflow_lite", ""))
        self.assertIn("5 image(s) denoised", run.stdout)
        self.assertCountEqual(
            os.listdir(out),
            ["digit.png", "batch-0.png", "batch-1.png", "digit-2.png", "sheet-2.png", "sheet.png"],
        )
        with Image.open(os.path.join(out, "digit.png")) as image:
            self.assertEqual(image.size, (28, 28))
        with Image.open(os.path.join(out, "sheet.png")) as sheet:
            self.assertEqual(sheet.size, (3 * 112 + 8, 5 * 112))  # input, noised, output

    def test_unique_names(self):
        self.assertEqual(
            infer.unique_names(["a", "a", "a-2", "sheet", "b"]),
            ["a", "a-2", "a-2-2", "sheet-2", "b"],
        )

    def test_pixel_limit_is_checked_before_decoding(self):
        folder = self.create_tempdir().full_path
        large, bomb = os.path.join(folder, "large.png"), os.path.join(folder, "bomb.png")
        png_header_only(large, 13000, 13000)  # Beyond the limit, within Pillow's own.
        png_header_only(bomb, 20000, 20000)  # Beyond Pillow's decompression-bomb limit too.
        with self.assertRaisesRegex(
            ExportError,
            r"large.png: 13000x13000 pixels, more than the "
            r"limit of 16,777,216 \(4096x4096\); refused before",
        ):
            infer.load_image(large, invert=False)
        with self.assertRaisesRegex(
            ExportError,
            "bomb.png: refused before decoding, more than the limit of 16,777,216 pixels",
        ):
            infer.load_image(bomb, invert=False)
        fits = os.path.join(folder, "fits.png")
        Image.new("L", (4096, 4096), 255).save(fits)
        self.assertEqual(infer.read_gray(fits).size, (4096, 4096))

    def test_16_bit_and_other_modes_are_scaled_not_clipped(self):
        folder = self.create_tempdir().full_path
        wide = np.zeros((28, 28), np.uint16)
        wide[:, :14], wide[:, 14:] = 65535, 32768
        path = os.path.join(folder, "16bit.png")
        Image.fromarray(wide).save(path)
        with Image.open(path) as image:
            self.assertEqual(image.mode, "I;16")
        gray = np.asarray(infer.read_gray(path))
        self.assertEqual(gray[:, :14].min(), 255)
        self.assertEqual(gray[:, 14:].max(), 128)  # Clipped, it would be 255.
        floats = os.path.join(folder, "float.tiff")
        Image.fromarray(np.full((28, 28), 0.25, np.float32)).save(floats)
        self.assertEqual(np.asarray(infer.read_gray(floats)).max(), 64)
        Image.fromarray(np.full((28, 28), 3.0, np.float32)).save(floats)
        with self.assertRaisesRegex(ExportError, r"float.tiff: F pixels span \[3, 3\]"):
            infer.load_image(floats, invert=False)
        transparent = os.path.join(folder, "transparent.png")
        Image.new("LA", (28, 28), (255, 0)).save(transparent)  # White, fully transparent.
        self.assertEqual(np.asarray(infer.read_gray(transparent)).max(), 0)

    def test_corrupt_uses_the_models_own_noise(self):
        folder = self.create_tempdir().full_path
        model = os.path.join(folder, "versions", "3", "tflite", "int8.tflite")
        os.makedirs(os.path.dirname(model))
        with self.assertLogs("absl", "INFO") as logs:
            self.assertEqual(infer.training_noise(model), ("dropout", 0.5))
        self.assertLen(logs.output, 1)
        self.assertIn(
            "no model.json of its export version; --corrupt uses dropout noise at rate 0.5",
            logs.output[0],
        )
        info = os.path.join(folder, "versions", "3", "model.json")
        with open(info, "w") as f:
            json.dump({"noise": "gaussian", "noise_rate": 0.3}, f)
        self.assertEqual(infer.training_noise(model), ("gaussian", 0.3))
        with open(info, "w") as f:
            f.write("{}")
        with self.assertRaisesRegex(ExportError, "model.json: unreadable"):
            infer.training_noise(model)
        x = np.random.default_rng(0).random((3, 784)).astype(np.float32)
        before = x * (np.random.default_rng(7).random(x.shape) >= 0.5) * 2.0  # As it was.
        self.assertEqual(
            infer.corrupt(x, "dropout", 0.5, 7).tobytes(), before.astype(np.float32).tobytes()
        )
        gaussian = infer.corrupt(x, "gaussian", 0.3, 7)
        self.assertBetween(float(gaussian.max()), 0.5, 1.0)

    def test_bad_inputs_are_one_line_errors(self):
        folder = self.create_tempdir().full_path
        text = os.path.join(folder, "notes.png")
        with open(text, "w") as f:
            f.write("hello")
        wrong = os.path.join(folder, "wrong.npy")
        np.save(wrong, np.zeros((2, 10)))
        nan = os.path.join(folder, "nan.npy")
        np.save(nan, np.full((1, 784), np.nan, np.float32))
        corrupt = os.path.join(folder, "corrupt.tflite")
        with open(corrupt, "wb") as f:
            f.write(b"\0" * 64)
        empty = os.path.join(folder, "empty.npy")
        np.save(empty, np.zeros((0, 784), np.uint8))
        large = os.path.join(folder, "large.png")
        png_header_only(large, 13000, 13000)
        out = os.path.join(folder, "o")
        cases = [
            (["--model", self.model, "--input", text], "not a readable image"),
            (["--model", self.model, "--input", wrong], "expected [N, 784]"),
            (["--model", self.model, "--input", nan], "finite and in [0, 1]"),
            (["--model", corrupt, "--input", wrong], "not a valid .tflite model"),
            (
                ["--model", os.path.join(folder, "none.tflite"), "--input", wrong],
                "no such model file",
            ),
            (
                ["--model", self.model, "--input", empty],
                "empty.npy: an empty batch (shape (0, 784)), no image to denoise",
            ),
            (["--model", self.model, "--input", large], "large.png: 13000x13000 pixels"),
            (
                ["--model", self.encoder, "--input", wrong],
                (
                    "encoder.tflite: input shape [1, 784], output shape [1, 10]; expected "
                    "[N, 784] images in and out"
                ),
            ),
            (
                ["--model", self.model, "--input", "missing.png", "--output_dir", text],
                "notes.png: not a folder (--output_dir)",
            ),
            (
                [
                    "--model",
                    self.model,
                    "--input",
                    "missing.png",
                    "--output_dir",
                    os.path.join(text, "below"),
                ],
                "below: cannot write there (--output_dir: Not a directory)",
            ),
        ]
        for args, message in cases:
            run = run_module("export.infer", "--output_dir", out, *args, timeout=120)
            self.assert_one_line_error(run, "export.infer", message)

    def test_litert_input_checks(self):
        model = LiteRTModel(self.model)
        self.assertEqual(model.run(np.zeros((3, 784), np.float32)).shape, (3, 784))
        bad = [
            (np.zeros((3, 10), np.float32), r"shape \(3, 10\), expected \[N, 784\]"),
            (np.zeros((3, 784), np.int32), "dtype is int32"),
            (np.full((1, 784), np.nan, np.float32), "NaN"),
            (np.full((1, 784), 1.5, np.float32), r"span \[1.5, 1.5\], expected \[0, 1\]"),
        ]
        for x, message in bad:
            with self.assertRaisesRegex(ExportError, message):
                model.run(x, max_value=1.0)


if __name__ == "__main__":
    absltest.main()
