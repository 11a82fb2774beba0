"""Tests of export.pipeline (with savedmodel, tflite, parity, manifest): a small trained model is
exported once; signatures, dynamic batch, parity, versions, refusal and the manifest are checked."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow as tf

from export import manifest, pipeline, tflite
from export.errors import ExportError
from export.litert import LiteRTModel
from idx_fixtures import write_mnist_dir
from keras_dae.config import TrainConfig
from keras_dae.training import train_and_evaluate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ExportTest(tf.test.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix="export_test-")
        cls.data_dir = os.path.join(cls.tmp, "mnist")
        os.makedirs(cls.data_dir, exist_ok=True)
        write_mnist_dir(cls.data_dir, n_train=300, n_test=50)
        config = TrainConfig(data_dir=cls.data_dir, epochs=1, print_every=0,
                             output_dir=os.path.join(cls.tmp, "run"))
        cls.result = train_and_evaluate(config, config.workdir)
        cls.model_path = os.path.join(config.workdir, "model.keras")
        cls.export_dir = os.path.join(cls.tmp, "export")
        cls.report = pipeline.export_model(cls.model_path, cls.export_dir, calibration_examples=50,
                                           latency_invokes=20)
        cls.x = np.random.default_rng(0).random((5, 784)).astype(np.float32)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def test_layout(self):
        self.assertEqual(self.report["version"], 1)
        self.assertCountEqual(
            os.listdir(os.path.join(self.export_dir, "tflite")),
            [f"{v}.tflite" for v in tflite.VARIANTS] + ["encoder.tflite", "decoder.tflite"])
        for name in ("report.json", "report.md", "manifest.json", "micro/model_data.cc",
                     "micro/model_data.h", "saved_model/1/saved_model.pb"):
            self.assertTrue(os.path.isfile(os.path.join(self.export_dir, name)), name)
        self.assertEmpty([f for f in os.listdir(self.export_dir) if f.startswith(".")])

    def test_signatures_and_dynamic_batch(self):
        loaded = tf.saved_model.load(os.path.join(self.export_dir, "saved_model", "1"))
        self.assertCountEqual(loaded.signatures.keys(), ["serving_default", "encode", "decode"])
        for n in (1, 5):
            out = loaded.signatures["serving_default"](images=tf.constant(self.x[:n]))
            self.assertEqual(out["reconstructions"].shape, (n, 784))
        codes = loaded.signatures["encode"](images=tf.constant(self.x))["codes"]
        self.assertEqual(codes.shape, (5, 10))
        back = loaded.signatures["decode"](codes=codes)["reconstructions"]
        clean = self.result.decoder(self.result.encoder(self.x))
        self.assertAllClose(back, clean, atol=1e-5)  # dropout and noise off

    def test_parity_report(self):
        rows = {r["variant"]: r for r in self.report["variants"]}
        self.assertCountEqual(rows, tflite.VARIANTS)
        self.assertLess(rows["float32"]["max_abs_diff"], 1e-5)
        self.assertLess(rows["int8"]["bytes"], rows["float32"]["bytes"] / 3)
        for row in rows.values():
            self.assertTrue(row["passed"])
            self.assertGreater(row["latency_us_batch1"], 0)
        with open(os.path.join(self.export_dir, "report.json")) as f:
            self.assertEqual(json.load(f)["variants"][0]["variant"], "float32")
        self.assertEqual(self.report["micro"]["images"], 50)

    def test_encoder_and_decoder_files(self):
        tflite_dir = os.path.join(self.export_dir, "tflite")
        codes = LiteRTModel(os.path.join(tflite_dir, "encoder.tflite")).run(self.x)
        self.assertAllClose(codes, self.result.encoder(self.x), atol=1e-4)
        images = LiteRTModel(os.path.join(tflite_dir, "decoder.tflite")).run(codes)
        self.assertEqual(images.shape, (5, 784))

    def test_int8_io_quantizes(self):
        model = LiteRTModel(os.path.join(self.export_dir, "tflite", "int8_io.tflite"))
        self.assertEqual(model.input["dtype"], np.int8)
        self.assertEqual(model.quantize_input(self.x).dtype, np.int8)
        self.assertAllClose(model.run(self.x), self.result.autoencoder(self.x), atol=0.2)

    def test_c_array_holds_the_model(self):
        with open(os.path.join(self.export_dir, "tflite", "int8_io.tflite"), "rb") as f:
            model = f.read()
        with open(os.path.join(self.export_dir, "micro", "model_data.cc")) as f:
            source = f.read()
        self.assertIn(f"g_model_data_len = {len(model)};", source)
        self.assertIn(", ".join(f"0x{b:02x}" for b in model[:12]), source)

    def test_new_version_and_refusal_keep_earlier_versions(self):
        export_dir = os.path.join(self.tmp, "versions")
        shutil.copytree(self.export_dir, export_dir)
        with self.assertRaisesRegex(ExportError, "nothing published"):
            # A negative tolerance no variant can meet: the export must publish nothing.
            pipeline.export_model(self.model_path, export_dir, float_tolerance=-1.0,
                                  calibration_examples=50, latency_invokes=5)
        self.assertEqual(os.listdir(os.path.join(export_dir, "saved_model")), ["1"])
        self.assertEmpty(manifest.verify(export_dir))
        report = pipeline.export_model(self.model_path, export_dir, calibration_examples=50,
                                       latency_invokes=5)
        self.assertEqual(report["version"], 2)
        self.assertCountEqual(os.listdir(os.path.join(export_dir, "saved_model")), ["1", "2"])
        self.assertEmpty(manifest.verify(export_dir))

    def test_verify_finds_a_changed_file(self):
        export_dir = os.path.join(self.tmp, "tampered")
        shutil.copytree(self.export_dir, export_dir)
        with open(os.path.join(export_dir, "tflite", "int8.tflite"), "ab") as f:
            f.write(b"\0")
        os.remove(os.path.join(export_dir, "report.md"))
        self.assertCountEqual(manifest.verify(export_dir),
                              ["tflite/int8.tflite: sha256 differs from the manifest",
                               "report.md: missing"])
        run = subprocess.run([sys.executable, "-m", "export", "verify", export_dir], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 1)
        self.assertIn("int8.tflite: sha256 differs", run.stderr)

    def test_bad_model_file_is_one_line(self):
        bad = os.path.join(self.tmp, "bad.keras")
        with open(bad, "w") as f:
            f.write("not a model")
        run = subprocess.run([sys.executable, "-m", "export", "--model", bad, "--export_dir",
                              os.path.join(self.tmp, "never")], cwd=ROOT, capture_output=True,
                             text=True, timeout=120)
        self.assertEqual(run.returncode, 1)
        self.assertIn(f"export: error: {bad}: not a loadable Keras model", run.stderr)
        self.assertNotIn("Traceback", run.stderr)


if __name__ == "__main__":
    tf.test.main()
