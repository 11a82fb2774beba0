"""Tests of export.convert.pipeline (with savedmodel, tflite, parity, publish, manifest): a small
trained model is exported once; the layout, signatures, dynamic batch, parity of every TFLite model,
model.json and samples.json, calibration, versions, refusal, leftovers and the lock are checked."""

import dataclasses
import json
import os
import shutil
import tempfile
from unittest import mock

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

import keras_dae
from keras_dae.core import durable, errors, locking
from keras_dae.core.config import TrainConfig
from keras_dae.core.errors import ExportError
from keras_dae.export import layout, manifest, parity, verify
from keras_dae.export.config import ExportConfig
from keras_dae.export.convert import pipeline, tflite
from keras_dae.export.litert import LiteRTModel
from keras_dae.export.serving import warmup
from tests.cli import CliAssertions, run_module
from tests.idx_fixtures import write_mnist_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ExportTest(CliAssertions, tf.test.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix="export_test-")
        cls.data_dir = os.path.join(cls.tmp, "mnist")
        os.makedirs(cls.data_dir, exist_ok=True)
        cls.arrays = write_mnist_dir(cls.data_dir, n_train=300, n_test=50)
        cls.result = keras_dae.train(
            data_dir=cls.data_dir, epochs=1, print_every=0, output_dir=os.path.join(cls.tmp, "run")
        )
        cls.model_path = os.path.join(cls.tmp, "run", "model.keras")
        cls.export_dir = os.path.join(cls.tmp, "export")
        cls.config = ExportConfig(
            model=cls.model_path,
            export_dir=cls.export_dir,
            calibration_examples=50,
            latency_invokes=20,
        )
        cls.report = pipeline.export_model(cls.config)
        cls.record = layout.version_dir(cls.export_dir, 1)
        cls.x = np.random.default_rng(0).random((5, 784)).astype(np.float32)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def copy_export(self, name: str) -> str:
        export_dir = os.path.join(self.tmp, name)
        shutil.copytree(self.export_dir, export_dir)
        return export_dir

    def test_model_card_has_the_run_and_the_parity_table(self):
        with open(os.path.join(self.record, "MODEL_CARD.md")) as f:
            card = f.read()
        self.assertIn("DAE-CE-z10", card)
        row = next(r for r in self.report["variants"] if r["variant"] == "int8")
        self.assertIn(f"| int8 | {row['bytes']:,} |", card)
        self.assertIn("versions/1/MODEL_CARD.md", manifest.read(self.export_dir, 1))

    def test_layout(self):
        self.assertEqual(self.report["version"], 1)
        self.assertCountEqual(
            os.listdir(os.path.join(self.record, "tflite")),
            [f"{v}.tflite" for v in tflite.VARIANTS] + ["encoder.tflite", "decoder.tflite"],
        )
        for name in (
            "report.json",
            "report.md",
            "MODEL_CARD.md",
            "manifest.json",
            "model.json",
            "samples.json",
            "micro/model_data.cc",
            "micro/model_data.h",
        ):
            self.assertTrue(os.path.isfile(os.path.join(self.record, name)), name)
        self.assertTrue(
            os.path.isfile(os.path.join(self.export_dir, "saved_model", "1", "saved_model.pb"))
        )
        self.assertCountEqual(
            os.listdir(self.export_dir), ["saved_model", "versions", ".lock", ".last_version"]
        )
        self.assertEqual(layout.latest_version(self.export_dir), 1)
        self.assertEmpty(verify.problems(self.export_dir))

    def test_manifest_lists_every_file_of_both_folders(self):
        with open(os.path.join(self.record, "manifest.json")) as f:
            files = json.load(f)["files"]
        on_disk = [
            f"saved_model/1/{n}"
            for n in manifest.folder_files(layout.saved_model_dir(self.export_dir, 1))
        ] + [f"versions/1/{n}" for n in manifest.folder_files(self.record)]
        self.assertCountEqual(files, [p for p in on_disk if p != "versions/1/manifest.json"])
        self.assertEqual(
            files["versions/1/tflite/int8.tflite"],
            manifest.sha256(os.path.join(self.record, "tflite", "int8.tflite")),
        )

    def test_warmup_file_is_a_tfrecord_of_prediction_logs_the_model_answers(self):
        path = layout.warmup_path(self.export_dir, 1)
        self.assertIn(
            "saved_model/1/assets.extra/tf_serving_warmup_requests",
            manifest.read(self.export_dir, 1),
        )
        records = list(tf.data.TFRecordDataset(path).as_numpy_iterator())  # Checks the CRCs.
        logs = [prediction_log_pb2.PredictionLog.FromString(r) for r in records]
        loaded = tf.saved_model.load(layout.saved_model_dir(self.export_dir, 1))
        by_signature = {log.predict_log.request.model_spec.signature_name: log for log in logs}
        self.assertCountEqual(by_signature, ["serving_default", "encode", "decode"])
        for name, log in by_signature.items():
            (input_name, tensor), *_ = log.predict_log.request.inputs.items()
            x = tf.make_ndarray(tensor)
            self.assertEqual(x.shape[0], 1)
            outputs = loaded.signatures[name](**{input_name: tf.constant(x)})
            self.assertTrue(np.all(np.isfinite(next(iter(outputs.values())).numpy())))
        # The server's TensorFlow-free reader finds the same requests.
        ours = [r.SerializeToString() for r in warmup.requests(self.export_dir, 1)]
        self.assertEqual(ours, [log.predict_log.request.SerializeToString() for log in logs])

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
        with open(os.path.join(self.record, "report.json")) as f:
            self.assertEqual(json.load(f)["variants"][0]["variant"], "float32")
        self.assertEqual(self.report["micro"]["images"], 50)
        self.assertEqual(
            self.report["calibration"], {"examples": 50, "noise": "dropout", "noise_rate": 0.5}
        )

    def test_encoder_and_decoder_parity(self):
        halves = {r["part"]: r for r in self.report["halves"]}
        self.assertCountEqual(halves, ["encoder", "decoder"])
        for row in halves.values():
            self.assertLess(row["max_abs_diff"], 1e-4)
            self.assertLess(abs(row["ce_change"]), 1e-4)
            self.assertTrue(row["passed"])
        with open(os.path.join(self.record, "report.md")) as f:
            text = f.read()
        self.assertIn(
            f"| encoder | {halves['encoder']['bytes']:,} | "
            f"{halves['encoder']['max_abs_diff']:.2e} |",
            text,
        )
        self.assertIn("| decoder |", text)

    def test_encoder_and_decoder_files(self):
        tflite_dir = os.path.join(self.record, "tflite")
        codes = LiteRTModel(os.path.join(tflite_dir, "encoder.tflite")).run(self.x)
        self.assertAllClose(codes, self.result.encoder(self.x), atol=1e-4)
        images = LiteRTModel(os.path.join(tflite_dir, "decoder.tflite")).run(codes)
        self.assertEqual(images.shape, (5, 784))
        self.assertAllClose(images, self.result.decoder(codes), atol=1e-4)

    def test_model_and_samples_json(self):
        with open(os.path.join(self.record, "model.json")) as f:
            self.assertEqual(
                json.load(f),
                {
                    "run_name": "DAE-CE-z10",
                    "latent_dim": 10,
                    "add_noise": True,
                    "noise": "dropout",
                    "noise_rate": 0.5,
                    "binarize_input": True,
                    "loss": "ce",
                    "input_max": 2.0,
                },
            )
        with open(os.path.join(self.record, "samples.json")) as f:
            samples = json.load(f)
        images, labels = self.arrays["t10k"]
        self.assertEqual(samples["images"], images.reshape(-1, 784).tolist())  # raw, 50 < 100
        self.assertEqual(samples["labels"], labels.tolist())

    def test_calibration_uses_the_models_own_noise(self):
        x = np.random.default_rng(1).random((40, 784)).astype(np.float32)
        config = dataclasses.replace(self.config, calibration_examples=20, seed=3)
        dropout = pipeline.calibration_images(x, TrainConfig(), config)
        # Bit for bit what the export calibrated on before the noise was configurable.
        rng = np.random.default_rng(3)
        before = x[rng.choice(40, 20, replace=False)]
        noised = before[10:] * (rng.random(before[10:].shape) >= 0.5) * 2.0
        self.assertEqual(dropout.tobytes(), np.concatenate([before[:10], noised]).tobytes())
        gaussian = pipeline.calibration_images(
            x, TrainConfig(noise="gaussian", noise_rate=0.3), config
        )
        self.assertAllEqual(gaussian[:10], before[:10])
        self.assertGreaterEqual(gaussian.min(), 0.0)
        self.assertLessEqual(gaussian.max(), 1.0)  # clipped, no survivors doubled
        self.assertGreater(np.abs(gaussian[10:] - before[10:]).mean(), 0.1)
        self.assertAllEqual(
            pipeline.calibration_images(x, TrainConfig(add_noise=False), config), before
        )

    def test_int8_io_quantizes(self):
        model = LiteRTModel(os.path.join(self.record, "tflite", "int8_io.tflite"))
        self.assertEqual(model.input["dtype"], np.int8)
        self.assertEqual(model.quantize_input(self.x).dtype, np.int8)
        self.assertAllClose(model.run(self.x), self.result.autoencoder(self.x), atol=0.2)

    def test_c_array_holds_the_model(self):
        with open(os.path.join(self.record, "tflite", "int8_io.tflite"), "rb") as f:
            model = f.read()
        with open(os.path.join(self.record, "micro", "model_data.cc")) as f:
            source = f.read()
        self.assertIn(f"g_model_data_len = {len(model)};", source)
        self.assertIn(", ".join(f"0x{b:02x}" for b in model[:12]), source)

    def test_refusal_leftovers_and_new_version(self):
        export_dir = self.copy_export("versions")
        config = dataclasses.replace(self.config, export_dir=export_dir, latency_invokes=5)
        real_variant, real_half = parity.variant_row, parity.half_row

        def float16_fails(name, *args):
            return {**real_variant(name, *args), "passed": name != "float16"}

        def decoder_fails(name, *args):
            return {**real_half(name, *args), "passed": name != "decoder"}

        with (
            mock.patch.object(parity, "variant_row", float16_fails),
            mock.patch.object(parity, "half_row", decoder_fails),
            self.assertRaisesRegex(ExportError, "nothing published: float16, decoder beyond"),
        ):
            pipeline.export_model(config)
        self.assertEqual(layout.published_versions(export_dir), [1])
        self.assertEmpty(verify.problems(export_dir))  # No temporary left either.
        # What an export killed between its two renames leaves (export_faults_test kills one at
        # every boundary): its number taken, its SavedModel in place, its record a temporary.
        torn = layout.take_version(export_dir)
        shutil.copytree(
            layout.saved_model_dir(export_dir, 1), layout.saved_model_dir(export_dir, torn)
        )
        temporary = os.path.join(export_dir, durable.TEMP_PREFIX + f"versions-{torn}.x")
        shutil.copytree(self.record, temporary)
        with self.assertLogs("absl", "WARNING") as logs:
            report = pipeline.export_model(config)
        self.assertLen(logs.output, 1)
        self.assertIn(
            f"removed what a killed export left: .partial-versions-{torn}.x, "
            f"saved_model/{torn} (incomplete version)",
            logs.output[0],
        )
        self.assertEqual(report["version"], torn + 1)  # A number is never used twice.
        self.assertEqual(layout.published_versions(export_dir), [1, torn + 1])
        self.assertEmpty(verify.problems(export_dir))

    def test_a_second_export_into_the_folder_is_refused(self):
        with (
            locking.exclusive(self.export_dir, "export"),
            self.assertRaisesRegex(
                errors.FolderLocked, f"{self.export_dir}: in use by another export"
            ),
        ):
            pipeline.export_model(self.config)

    def test_verify_finds_a_changed_file(self):
        export_dir = self.copy_export("tampered")
        record = layout.version_dir(export_dir, 1)
        with open(os.path.join(record, "tflite", "int8.tflite"), "ab") as f:
            f.write(b"\0")
        os.remove(os.path.join(record, "report.md"))
        self.assertCountEqual(
            verify.problems(export_dir),
            [
                "versions/1/tflite/int8.tflite: sha256 differs from the manifest",
                "versions/1/report.md: missing",
            ],
        )
        run = run_module("export", "verify", export_dir, timeout=60)
        self.assertEqual(run.returncode, 1)
        self.assertIn("int8.tflite: sha256 differs", run.stderr)

    def test_bad_model_file_is_one_line(self):
        bad = os.path.join(self.tmp, "bad.keras")
        with open(bad, "w") as f:
            f.write("not a model")
        run = run_module("export", "--model", bad, "--export_dir", os.path.join(self.tmp, "never"))
        self.assert_one_line_error(run, "export", f"{bad}: not a loadable Keras model")


if __name__ == "__main__":
    tf.test.main()
