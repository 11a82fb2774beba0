"""The training data on TensorFlow: MNIST-format splits from IDX files or TFDS, and the tf.data
pipeline that feeds them (the TensorFlow-free reading is keras_dae.core.mnist)."""

import socket
import threading

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from absl import logging

from keras_dae.core.errors import DataError
from keras_dae.core.mnist import (
    IMAGE_SHAPE,
    Data,
    Split,
    load_idx_split,
    preprocess,
    without_digits,
)

TFDS_HOST = ("storage.googleapis.com", 443)  # Where TFDS downloads from.


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


def _tfds_dataset(name: str, split: str):
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
    logging.info(
        "loading TFDS %r %s (downloaded on first use; --data_dir reads local IDX files)",
        name,
        split,
    )
    try:
        dataset = _tfds_dataset(name, split)
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


def train_dataset(x: np.ndarray, batch_size: int, seed: int, first_epoch: int = 0):
    """Endless (input, target) batches gathered from one in-memory tensor, `steps_per_epoch` of
    them an epoch. Epoch e's order is a function of (seed, e) alone, so a run resumed at epoch
    `first_epoch` sees the orders the uninterrupted one would have."""
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
