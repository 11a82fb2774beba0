"""Tests of keras_dae.core.backup: one file, restored exactly, and refused with one line when
damaged."""

import os

import keras
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from keras_dae import noise
from keras_dae.core import backup, errors


def tiny_model(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    x = noise.Dropout(0.5, seed=seed, name="dropout")(keras.layers.Dense(3, name="d1")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, name="d2")(x))
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    model.fit(np.ones((8, 4)), np.zeros((8, 2)), epochs=2, verbose=0)
    return model


class BackupTest(parameterized.TestCase, tf.test.TestCase):
    def setUp(self):
        super().setUp()
        self.path = os.path.join(self.create_tempdir().full_path, "backup.npz")
        self.model = tiny_model()
        backup.write(self.path, self.model, epoch=2)

    def test_restores_weights_optimizer_and_random_state(self):
        restored = tiny_model(seed=1)
        self.assertEqual(backup.restore(self.path, restored, max_epoch=5), 2)
        for a, b in zip(
            self.model.variables + self.model.optimizer.variables,
            restored.variables + restored.optimizer.variables,
        ):
            self.assertAllEqual(a, b, msg=a.path)
        self.assertEqual(os.listdir(os.path.dirname(self.path)), ["backup.npz"])

    def test_no_backup(self):
        self.assertEqual(backup.restore(self.path + ".none", tiny_model(), 5), 0)

    @parameterized.named_parameters(
        (
            "flipped_byte",
            lambda raw: raw[:600] + bytes([raw[600] ^ 1]) + raw[601:],
            "damaged backup",
        ),
        ("truncated", lambda raw: raw[: len(raw) // 2], "damaged backup"),
        ("empty", lambda raw: b"", "damaged backup"),
        ("not_numpy", lambda raw: b"PK\x03\x04 not a zip", "damaged backup"),
    )
    def test_damaged_file_is_one_line(self, damage, message):
        with open(self.path, "rb") as f:
            raw = f.read()
        with open(self.path, "wb") as f:
            f.write(damage(raw))
        with self.assertRaisesRegex(errors.RunError, f"backup.npz: {message}.*--overwrite"):
            backup.restore(self.path, tiny_model(), 5)

    def test_checksum_catches_a_changed_value(self):
        with np.load(self.path) as saved:
            contents = dict(saved)
        contents["v0"] = contents["v0"] + 1  # a consistent zip with one array changed
        np.savez(self.path, **contents)
        with self.assertRaisesRegex(errors.RunError, "sha256 mismatch"):
            backup.restore(self.path, tiny_model(), 5)

    def test_another_model_or_epoch_count_is_refused(self):
        other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        other.compile("adam", "mse")
        with self.assertRaisesRegex(errors.RunError, "backup is of another model"):
            backup.restore(self.path, other, 5)
        with self.assertRaisesRegex(errors.RunError, "records 2 epochs, this run has 1"):
            backup.restore(self.path, tiny_model(), 1)


if __name__ == "__main__":
    tf.test.main()
