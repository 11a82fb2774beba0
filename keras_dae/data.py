"""MNIST-format data: IDX files or TFDS, preprocessed to [N, 784] float32, fed by tf.data."""

import gzip
import math
import os
import socket
import threading
from typing import NamedTuple

import numpy as np
from absl import logging

IMAGE_SHAPE = (28, 28)
PIXELS = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]

# IDX type codes (http://yann.lecun.com/exdb/mnist/): all big-endian.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_TYPE_NAMES = {
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "int16",
    0x0C: "int32",
    0x0D: "float32",
    0x0E: "float64",
}
CLASSES = 10
TFDS_HOST = ("storage.googleapis.com", 443)  # Where TFDS downloads from.
_SPLIT_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class DataError(ValueError):
    """Input data that cannot be used; the message names the file and the problem."""


class Split(NamedTuple):
    images: np.ndarray  # uint8 [N, 28, 28]
    labels: np.ndarray  # int [N]


class Data(NamedTuple):
    x_train: np.ndarray  # float32 [N, 784] in [0, 1]
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decodes the bytes of one IDX file (gzipped or not) into an array."""
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            raise DataError(f"{name}: corrupt or truncated gzip data ({e})") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_DTYPES or raw[3] == 0:
        raise DataError(f"{name}: not an IDX file (bad magic number {raw[:4].hex() or 'empty'})")
    ndim, dtype = raw[3], np.dtype(_IDX_DTYPES[raw[2]])
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{name}: truncated IDX header ({len(raw)} bytes, expected {header})")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, offset=4))
    expected = header + math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    if len(raw) != expected:
        problem = "truncated" if len(raw) < expected else "has trailing bytes"
        raise DataError(f"{name}: {problem}: {len(raw)} bytes, the header {shape} needs {expected}")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape)


def _type_name(array: np.ndarray) -> str:
    code = next(c for c, t in _IDX_DTYPES.items() if np.dtype(t) == array.dtype)
    return f"{_IDX_TYPE_NAMES[code]} (0x{code:02X})"


def read_idx(path: str) -> np.ndarray:
    """Reads one IDX file from disk; errors name the file."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    return parse_idx(raw, path)


def _find(data_dir: str, stem: str) -> str:
    """The path of `stem` in `data_dir`: raw or .gz, with '-idx' or '.idx' before the type."""
    for name in (stem, stem.replace("-idx", ".idx")):
        for suffix in ("", ".gz"):
            path = os.path.join(data_dir, name + suffix)
            if os.path.isfile(path):
                return path
    raise DataError(f"{data_dir}: no {stem}[.gz] file (expected the four MNIST IDX files)")


def load_idx_split(data_dir: str, split: str) -> Split:
    """Reads the images and labels of one split ('train' or 'test') and checks they agree."""
    if not os.path.isdir(data_dir):
        raise DataError(
            f"{data_dir}: " + ("not a folder" if os.path.exists(data_dir) else "no such folder")
        )
    image_path, label_path = (_find(data_dir, stem) for stem in _SPLIT_STEMS[split])
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.dtype != np.uint8:  # Casting would turn pixel/255 floats into black images.
        raise DataError(
            f"{image_path}: element type {_type_name(images)}, expected unsigned "
            "bytes (0x08) as in MNIST"
        )
    if labels.dtype.kind not in "iu":
        raise DataError(f"{label_path}: element type {_type_name(labels)}, expected integer labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= CLASSES):
        raise DataError(
            f"{label_path}: labels span [{labels.min()}, {labels.max()}], expected 0-{CLASSES - 1}"
        )
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise DataError(f"{image_path}: images are {images.shape[1:]}, expected 28x28")
    if labels.ndim != 1:
        raise DataError(f"{label_path}: labels have shape {labels.shape}, expected [N]")
    if len(images) != len(labels):
        raise DataError(
            f"{image_path}: {len(images)} images but {label_path} has {len(labels)} labels"
        )
    return Split(images, labels.astype(np.int64))


def _reachable(host: tuple[str, int], seconds: float) -> bool:
    """Whether a TCP connection to `host` opens within `seconds` (DNS included)."""
    opened = threading.Event()

    def connect():
        try:
            socket.create_connection(host, timeout=seconds).close()
            opened.set()
        except OSError:
            pass

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(seconds)
    return opened.is_set()


def _tfds_dataset(tfds, name: str, split: str):
    """The split as a tf.data.Dataset: the prepared copy, else a download, refused at once
    without network (where TFDS would retry for minutes)."""
    try:
        return tfds.load(name, split=split, as_supervised=True, download=False)
    except tfds.core.registered.DatasetNotFoundError:
        raise
    except Exception:  # Not prepared here.
        if not _reachable(TFDS_HOST, 3.0):
            raise DataError(
                f"cannot download TFDS dataset {name!r}: no network; pass --data_dir "
                "DIR holding the four MNIST IDX files"
            ) from None
        return tfds.load(name, split=split, as_supervised=True)


def load_tfds_split(name: str, split: str) -> Split:
    """Loads one split of a TFDS image dataset (downloads on first use)."""
    import tensorflow_datasets as tfds  # noqa: PLC0415 (TFDS loads TensorFlow: only when used)

    logging.info(
        "loading TFDS %r %s (downloaded on first use; --data_dir reads local IDX files)",
        name,
        split,
    )
    try:
        dataset = _tfds_dataset(tfds, name, split)
        batches = list(tfds.as_numpy(dataset.batch(10_000)))
        images, labels = (np.concatenate(column) for column in zip(*batches))
    except tfds.core.registered.DatasetNotFoundError:
        raise DataError(
            f"TFDS has no dataset named {name!r} (try mnist, fashion_mnist, kmnist)"
        ) from None
    except DataError:
        raise
    except Exception as e:  # A failed download: TFDS raises many kinds.
        raise DataError(
            f"cannot load TFDS dataset {name!r} ({type(e).__name__}); without "
            "network, pass --data_dir DIR holding the four MNIST IDX files"
        ) from None
    images = np.squeeze(images, axis=-1) if images.ndim == 4 else images
    if images.shape[1:] != IMAGE_SHAPE:
        raise DataError(f"TFDS {name!r}: images are {images.shape[1:]}, expected 28x28")
    return Split(images.astype(np.uint8), labels.astype(np.int64))


def preprocess(images: np.ndarray, binarize: bool) -> np.ndarray:
    """uint8 [N, 28, 28] -> float32 [N, 784] in [0, 1], binarized (>= 0.5) if asked."""
    x = images.reshape(len(images), PIXELS).astype(np.float32) / 255.0
    return (x >= 0.5).astype(np.float32) if binarize else x


def without_digits(s: Split, digits) -> Split:
    """`s` less the examples whose label is in `digits`, in order."""
    keep = ~np.isin(s.labels, list(digits))
    return Split(s.images[keep], s.labels[keep])


def load(config) -> Data:
    """The train and test splits that `config` names, preprocessed and limited; the training
    split first loses `config.exclude_digits` (then `train_examples` counts what is left)."""
    splits = []
    for split, limit in (("train", config.train_examples), ("test", config.test_examples)):
        s = (
            load_idx_split(config.data_dir, split)
            if config.data_dir
            else load_tfds_split(config.dataset, split)
        )
        if split == "train":
            s = without_digits(s, config.exclude_digits)
        splits += [preprocess(s.images[:limit], config.binarize_input), s.labels[:limit]]
    return Data(*splits)


def steps_per_epoch(n: int, batch_size: int) -> int:
    return math.ceil(n / batch_size)


def train_dataset(x: np.ndarray, batch_size: int, seed: int, first_epoch: int = 0):
    """Endless (input, target) batches gathered from one in-memory tensor, `steps_per_epoch` of
    them an epoch. Epoch e's order is a function of (seed, e) alone, so a run resumed at epoch
    `first_epoch` sees the orders the uninterrupted one would have."""
    import tensorflow as tf  # noqa: PLC0415 (data.py is imported by TensorFlow-free commands)

    images, n = tf.constant(x), len(x)

    def epoch_batches(epoch):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(n, dtype=tf.int64), seed=tf.stack([tf.constant(seed, tf.int64), epoch])
        )
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    # One tf.data thread: on a small machine more of them fight the training step for the cores
    # (measured on 2 cores: epochs of 6-10 s become a steady 6 s).
    options = tf.data.Options()
    options.threading.private_threadpool_size = 1
    # Under multi-worker training every worker draws the same global batches and keeps its share.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return (
        tf.data.Dataset.range(first_epoch, 2**62)
        .flat_map(epoch_batches)
        .map(lambda i: (tf.gather(images, i),) * 2)
        .prefetch(2)
        .with_options(options)
    )
