"""Tests of keras_dae.core.mnist and keras_dae.data: IDX reading, TFDS loading (mocked),
preprocessing, tf.data batches."""

import gzip
import os
import struct
from unittest import mock

import hypothesis
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from absl.testing import parameterized
from hypothesis import strategies as st

from keras_dae import data
from keras_dae.core import errors, mnist
from keras_dae.core.config import TrainConfig
from tests.cli import CliAssertions, run_module
from tests.idx_fixtures import idx_bytes, write_mnist_dir


class IdxTest(parameterized.TestCase, tf.test.TestCase):
    @parameterized.parameters(True, False)
    def test_reads_generated_files(self, gz):
        folder = self.create_tempdir().full_path
        arrays = write_mnist_dir(folder, gz=gz)
        for split, key in (("train", "train"), ("test", "t10k")):
            s = mnist.load_idx_split(folder, split)
            self.assertAllEqual(s.images, arrays[key][0])
            self.assertAllEqual(s.labels, arrays[key][1])

    def test_parse_other_dtypes(self):
        raw = struct.pack(">BBBBII", 0, 0, 0x0D, 2, 2, 3) + np.arange(6, dtype=">f4").tobytes()
        self.assertAllEqual(mnist.parse_idx(raw), np.arange(6).reshape(2, 3))

    @parameterized.named_parameters(
        ("bad_magic", lambda raw: b"\x08\x03" + raw[2:], "magic"),
        ("empty", lambda raw: b"", "magic"),
        ("truncated_data", lambda raw: raw[:-10], "truncated"),
        ("truncated_header", lambda raw: raw[:9], "truncated IDX header"),
        ("trailing", lambda raw: raw + b"\x00", "trailing"),
        ("bad_gzip", lambda raw: gzip.compress(raw)[:-20], "gzip"),
    )
    def test_corrupt_bytes_are_a_data_error(self, mutate, message):
        raw = idx_bytes(np.zeros((3, 28, 28), np.uint8))
        with self.assertRaisesRegex(errors.DataError, message):
            mnist.parse_idx(mutate(raw), "x.idx")

    def test_count_mismatch_names_both_files(self):
        folder = self.create_tempdir().full_path
        write_mnist_dir(folder, gz=False)
        with open(os.path.join(folder, "train-labels-idx1-ubyte"), "wb") as f:
            f.write(idx_bytes(np.zeros(5, np.uint8)))
        with self.assertRaisesRegex(errors.DataError, "6 images but .*labels-idx1-ubyte has 5"):
            mnist.load_idx_split(folder, "train")

    def test_wrong_image_shape(self):
        folder = self.create_tempdir().full_path
        write_mnist_dir(folder, gz=False)
        with open(os.path.join(folder, "t10k-images-idx3-ubyte"), "wb") as f:
            f.write(idx_bytes(np.zeros((4, 27, 27), np.uint8)))
        with self.assertRaisesRegex(errors.DataError, r"\(27, 27\), expected 28x28"):
            mnist.load_idx_split(folder, "test")

    def test_missing_folder_and_files(self):
        with self.assertRaisesRegex(errors.DataError, "no such folder"):
            mnist.load_idx_split("/nonexistent/mnist", "train")
        with self.assertRaisesRegex(errors.DataError, "no train-images-idx3-ubyte"):
            mnist.load_idx_split(self.create_tempdir().full_path, "train")


class TfdsTest(tf.test.TestCase):
    def test_mnist_through_tfds(self):
        with tfds.testing.mock_data(num_examples=9):
            config = TrainConfig(dataset="mnist", test_examples=5)
            d = data.load(config)
        self.assertEqual(d.x_train.shape, (9, 784))
        self.assertEqual(d.x_test.shape, (5, 784))
        self.assertAllInSet(d.x_train, [0.0, 1.0])

    def test_unknown_dataset(self):
        with self.assertRaisesRegex(errors.DataError, "no dataset named 'mnits'"):
            data.load_tfds_split("mnits", "train")


class PreprocessTest(tf.test.TestCase):
    def test_binarize_threshold_is_half(self):
        images = np.array([[0, 127, 128, 255] * 196], np.uint8).reshape(1, 28, 28)
        x = mnist.preprocess(images, binarize=True)
        self.assertEqual(x.shape, (1, 784))
        self.assertEqual(x.dtype, np.float32)
        self.assertAllEqual(x[0, :4], [0, 0, 1, 1])  # 127/255 < 0.5 <= 128/255

    def test_scale_without_binarize(self):
        x = mnist.preprocess(np.full((2, 28, 28), 51, np.uint8), binarize=False)
        self.assertAllClose(x, np.full((2, 784), 0.2))

    def test_load_limits_examples(self):
        folder = self.create_tempdir().full_path
        write_mnist_dir(folder, n_train=10, n_test=8)
        d = data.load(TrainConfig(data_dir=folder, train_examples=7, test_examples=3))
        self.assertEqual((len(d.x_train), len(d.y_train), len(d.x_test)), (7, 7, 3))


class TrainDatasetTest(tf.test.TestCase):
    def epochs(self, ds, steps, count):
        it = iter(ds)
        return [[tuple(t.numpy() for t in next(it)) for _ in range(steps)] for _ in range(count)]

    def test_batches_cover_the_data_once_per_epoch(self):
        x = np.arange(130, dtype=np.float32)[:, None] * np.ones((1, 784), np.float32)
        steps = mnist.steps_per_epoch(130, 64)
        first, second = self.epochs(data.train_dataset(x, batch_size=64, seed=1), steps, 2)
        self.assertEqual([len(b[0]) for b in first], [64, 64, 2])
        for batches in (first, second):
            seen = np.concatenate([b[0][:, 0] for b in batches])
            self.assertAllEqual(np.sort(seen), np.arange(130))
            self.assertAllEqual(batches[0][0], batches[0][1])  # target = clean input
        self.assertNotAllEqual(first[0][0], second[0][0])  # reshuffled each epoch

    def test_seeded_and_resumable(self):
        x = np.random.default_rng(0).random((100, 784), np.float32)
        a = self.epochs(data.train_dataset(x, 32, seed=5), 4, 3)
        b = self.epochs(data.train_dataset(x, 32, seed=5), 4, 3)
        resumed = self.epochs(data.train_dataset(x, 32, seed=5, first_epoch=2), 4, 1)
        other = self.epochs(data.train_dataset(x, 32, seed=6), 4, 1)
        self.assertAllEqual(a[0][0][0], b[0][0][0])
        self.assertAllEqual(a[2][1][0], resumed[0][1][0])  # epoch 3, as if never interrupted
        self.assertNotAllEqual(a[0][0][0], other[0][0][0])


class IdxFuzzTest(tf.test.TestCase):
    """Arbitrary bytes, and mutations of a valid file, raise DataError and nothing else."""

    VALID = idx_bytes(np.arange(2 * 28 * 28).reshape(2, 28, 28) % 256)

    @hypothesis.settings(max_examples=300, deadline=None)
    @hypothesis.given(st.binary(max_size=4096))
    def test_arbitrary_bytes(self, raw):
        self.parse_or_data_error(raw)

    @hypothesis.settings(max_examples=300, deadline=None)
    @hypothesis.given(
        st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), max_size=8),
        st.integers(0, len(VALID)),
        st.booleans(),
    )
    def test_mutated_valid_file(self, flips, cut, gz):
        raw = bytearray(self.VALID)
        for position, value in flips:
            raw[position] = value
        raw = bytes(raw[:cut])
        self.parse_or_data_error(gzip.compress(raw) if gz else raw)

    def parse_or_data_error(self, raw):
        try:
            array = mnist.parse_idx(raw, "fuzz.idx")
        except errors.DataError as e:
            self.assertIn("fuzz.idx", str(e))
        else:
            self.assertIsInstance(array, np.ndarray)


class BadInputCommandLineTest(CliAssertions, parameterized.TestCase):
    """python -m keras_dae with bad data: one line naming the file, non-zero exit, no traceback."""

    def test_one_line_errors(self):
        folder = self.create_tempdir().full_path
        write_mnist_dir(folder, gz=False)
        with open(os.path.join(folder, "t10k-images-idx3-ubyte"), "r+b") as f:
            f.write(b"\x00\x00\x99\x03")  # bad magic: no such type code
        empty = self.create_tempdir().full_path
        cases = [
            (folder, "t10k-images-idx3-ubyte: not an IDX file (bad magic number"),
            (empty, "no train-images-idx3-ubyte[.gz] file"),
            (os.path.join(empty, "none"), "no such folder"),
        ]
        for data_dir, message in cases:
            run = run_module(
                "keras_dae",
                "--data_dir",
                data_dir,
                "--output_dir",
                os.path.join(self.create_tempdir().full_path, "o"),
            )
            self.assert_one_line_error(run, "keras_dae", message)

    def test_unreadable_file(self):
        folder = self.create_tempdir().full_path
        write_mnist_dir(folder)
        real_open = open

        def deny(path, *args, **kwargs):
            if "train-images" in str(path):
                raise PermissionError(13, "Permission denied")
            return real_open(path, *args, **kwargs)

        with (
            mock.patch("builtins.open", deny),
            self.assertRaisesRegex(errors.DataError, "cannot read \\(Permission denied\\)"),
        ):
            mnist.load_idx_split(folder, "train")

    @parameterized.named_parameters(
        ("signed_bytes", 0x09, ">i1", "signed byte \\(0x09\\)"),
        ("int32", 0x0C, ">i4", "int32 \\(0x0C\\)"),
        ("float32_over_255", 0x0D, ">f4", "float32 \\(0x0D\\)"),
    )
    def test_images_of_another_type_are_refused_not_cast(self, code, dtype, name):
        folder = self.create_tempdir().full_path
        write_mnist_dir(folder, gz=False)
        pixels = np.random.default_rng(0).random((6, 28, 28)) * (1 if code == 0x0D else 100)
        with open(os.path.join(folder, "train-images-idx3-ubyte"), "wb") as f:
            f.write(
                struct.pack(">BBBBIII", 0, 0, code, 3, 6, 28, 28) + pixels.astype(dtype).tobytes()
            )
        with self.assertRaisesRegex(
            errors.DataError,
            f"train-images-idx3-ubyte: element type {name}, expected unsigned bytes",
        ):
            mnist.load_idx_split(folder, "train")

    @parameterized.named_parameters(
        ("out_of_range", np.array([0, 1, 2, 3, 4, 12], ">u1"), 0x08, r"labels span \[0, 12\]"),
        ("float", np.arange(6, dtype=">f4"), 0x0D, "float32 .*expected integer labels"),
    )
    def test_bad_labels_are_refused(self, labels, code, message):
        folder = self.create_tempdir().full_path
        write_mnist_dir(folder, gz=False)
        with open(os.path.join(folder, "train-labels-idx1-ubyte"), "wb") as f:
            f.write(struct.pack(">BBBBI", 0, 0, code, 1, 6) + labels.tobytes())
        with self.assertRaisesRegex(errors.DataError, message):
            mnist.load_idx_split(folder, "train")


class OfflineTfdsTest(tf.test.TestCase):
    def test_fails_fast_with_the_hint_when_nothing_is_prepared(self):
        with (
            mock.patch.object(data, "_reachable", return_value=False) as reachable,
            mock.patch.dict(os.environ, {"TFDS_DATA_DIR": self.create_tempdir().full_path}),
            self.assertRaisesRegex(errors.DataError, "no network; pass --data_dir"),
        ):
            data.load_tfds_split("mnist", "test")
        reachable.assert_called_once()
