"""Tests of keras_dae.core.durable: a failed write leaves the old file and no temporary behind."""

import errno
import json
import os

from absl.testing import absltest

from keras_dae.core import durable
from keras_dae.core.durable import atomic_path, write_json


class AtomicPathTest(absltest.TestCase):
    def test_success_replaces(self):
        folder = self.create_tempdir().full_path
        path = os.path.join(folder, "sub", "h.json")
        write_json(path, {"a": 1})
        write_json(path, {"a": 2})
        with open(path) as f:
            self.assertEqual(json.load(f), {"a": 2})
        self.assertEqual(os.listdir(os.path.dirname(path)), ["h.json"])

    def test_failure_keeps_the_old_file(self):
        folder = self.create_tempdir().full_path
        path = os.path.join(folder, "model.keras")
        with open(path, "w") as f:
            f.write("old")
        with self.assertRaises(RuntimeError), atomic_path(path) as tmp:
            self.assertTrue(tmp.endswith(".keras"))
            with open(tmp, "w") as f:
                f.write("half")
            raise RuntimeError("interrupted")
        with open(path) as f:
            self.assertEqual(f.read(), "old")
        self.assertEqual(os.listdir(folder), ["model.keras"])

    def test_a_failed_write_names_the_file_and_leaves_no_temporary(self):
        folder = self.create_tempdir().full_path
        path = os.path.join(folder, "history.json")
        with self.assertRaisesRegex(OSError, "No space left") as raised, atomic_path(path):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.assertEqual(raised.exception.filename, path)
        self.assertEqual(os.listdir(folder), [])

    def test_leftovers_of_killed_writes_are_removed(self):
        folder = self.create_tempdir().full_path
        os.makedirs(os.path.join(folder, durable.TEMP_PREFIX + "saved_model.x"))
        open(os.path.join(folder, durable.TEMP_PREFIX + "loss.png.y.png"), "w").close()
        open(os.path.join(folder, "loss.png"), "w").close()
        self.assertEqual(
            durable.remove_temporaries(folder),
            [durable.TEMP_PREFIX + "loss.png.y.png", durable.TEMP_PREFIX + "saved_model.x"],
        )
        self.assertEqual(os.listdir(folder), ["loss.png"])


if __name__ == "__main__":
    absltest.main()
