"""The warm-up file: written by the export (TF's TFRecordWriter), read back by the server without
TensorFlow, replayed before a version serves; a damaged file is one line."""

import os
import tempfile

import numpy as np
from absl.testing import absltest

from keras_dae.core.errors import ExportError
from keras_dae.export import layout
from keras_dae.export.convert import warmup as writer
from keras_dae.export.serving import protocol, warmup
from keras_dae.export.serving.served import Served, warm_up

SIGNATURES = protocol.signatures(latent_dim=4, input_max=1.0)
INPUTS = {"images": np.full((3, 784), 0.5, np.float32), "codes": np.ones((3, 4), np.float32)}


class WarmupTest(absltest.TestCase):
    def setUp(self):
        self.export_dir = tempfile.mkdtemp(prefix="warmup_test-")
        self.saved_model = layout.saved_model_dir(self.export_dir, 1)
        os.makedirs(self.saved_model)
        self.calls = []

    def served(self) -> Served:
        return Served(1, SIGNATURES, lambda name, x: self.calls.append((name, x.shape)))

    def test_replays_one_request_per_signature(self):
        writer.write(self.saved_model, writer.records(SIGNATURES, INPUTS))
        requests = warmup.requests(self.export_dir, 1)
        self.assertEqual(
            [r.model_spec.signature_name for r in requests], ["serving_default", "encode", "decode"]
        )
        warm_up(self.served(), self.export_dir)
        self.assertEqual(
            self.calls,
            [("serving_default", (1, 784)), ("encode", (1, 784)), ("decode", (1, 4))],
        )

    def test_a_version_without_the_file_warms_up_on_zeros(self):
        self.assertEqual(warmup.requests(self.export_dir, 1), [])
        warm_up(self.served(), self.export_dir)
        self.assertLen(self.calls, 3)

    def test_truncated_file_is_one_line(self):
        writer.write(self.saved_model, writer.records(SIGNATURES, INPUTS))
        path = layout.warmup_path(self.export_dir, 1)
        with open(path, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(data[:-10])
        with self.assertRaisesRegex(ExportError, r"tf_serving_warmup_requests: truncated TFRecord"):
            warmup.requests(self.export_dir, 1)

    def test_request_that_fails_its_check_names_the_record(self):
        inputs = {**INPUTS, "codes": np.ones((1, 5), np.float32)}  # decode takes 4 values.
        writer.write(self.saved_model, writer.records(SIGNATURES, inputs))
        with self.assertRaisesRegex(ExportError, r"record 2: input 'codes' has shape \[1, 5\]"):
            warm_up(self.served(), self.export_dir)


if __name__ == "__main__":
    absltest.main()
