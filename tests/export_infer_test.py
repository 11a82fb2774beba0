"""Tests of export.infer and export.litert: edge inference on LiteRT alone, and one-line errors."""

import os
import subprocess
import sys
import tempfile

import numpy as np
from absl.testing import absltest
from PIL import Image

from export import infer
from export.errors import ExportError
from export.litert import LiteRTModel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_model_path(folder: str) -> str:
    """A float32 .tflite of a 784 -> 784 sigmoid layer, built in a subprocess (TensorFlow)."""
    path = os.path.join(folder, "tiny.tflite")
    code = ("import tensorflow as tf, sys\n"
            "m = tf.keras.Sequential([tf.keras.Input((784,)), "
            "tf.keras.layers.Dense(784, 'sigmoid')])\n"
            "open(sys.argv[1], 'wb').write("
            "tf.lite.TFLiteConverter.from_keras_model(m).convert())\n")
    subprocess.run([sys.executable, "-c", code, path], check=True, capture_output=True,
                   timeout=300)
    return path


class InferTest(absltest.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.folder = tempfile.mkdtemp(prefix="infer_test-")
        cls.model = tiny_model_path(cls.folder)

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
        batch = os.path.join(folder, "batch.npy")
        np.save(batch, np.zeros((2, 28, 28), np.uint8))
        out = os.path.join(folder, "out")
        run = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "export.infer", "--model", self.model,
             "--input", digit, batch, "--output_dir", out, "--corrupt"],
            cwd=ROOT, capture_output=True, text=True, timeout=120)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertNotIn("tensorflow", run.stderr.replace("tensorflow_lite", ""))
        self.assertCountEqual(os.listdir(out),
                              ["digit.png", "batch-0.png", "batch-1.png", "sheet.png"])
        with Image.open(os.path.join(out, "digit.png")) as image:
            self.assertEqual(image.size, (28, 28))
        with Image.open(os.path.join(out, "sheet.png")) as sheet:
            self.assertEqual(sheet.size, (3 * 112 + 8, 3 * 112))  # input, noised, output

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
        cases = [(["--model", self.model, "--input", text], "not a readable image"),
                 (["--model", self.model, "--input", wrong], "expected [N, 784]"),
                 (["--model", self.model, "--input", nan], "finite and in [0, 1]"),
                 (["--model", corrupt, "--input", wrong], "not a valid .tflite model"),
                 (["--model", os.path.join(folder, "none.tflite"), "--input", wrong],
                  "no such model file")]
        for args, message in cases:
            run = subprocess.run([sys.executable, "-m", "export.infer", *args,
                                  "--output_dir", os.path.join(folder, "o")],
                                 cwd=ROOT, capture_output=True, text=True, timeout=120)
            self.assertEqual(run.returncode, 1, args)
            lines = [l for l in run.stderr.splitlines() if not l.startswith("INFO:")]
            self.assertLen(lines, 1, run.stderr)
            self.assertIn(message, lines[0])

    def test_litert_input_checks(self):
        model = LiteRTModel(self.model)
        self.assertEqual(model.run(np.zeros((3, 784), np.float32)).shape, (3, 784))
        bad = [(np.zeros((3, 10), np.float32), r"shape \(3, 10\), expected \[N, 784\]"),
               (np.zeros((3, 784), np.int32), "dtype is int32"),
               (np.full((1, 784), np.nan, np.float32), "NaN"),
               (np.full((1, 784), 1.5, np.float32), r"span \[1.5, 1.5\], expected \[0, 1\]")]
        for x, message in bad:
            with self.assertRaisesRegex(ExportError, message):
                model.run(x, max_value=1.0)


if __name__ == "__main__":
    absltest.main()
