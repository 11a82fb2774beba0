"""Small MNIST-format IDX files generated for tests."""

import gzip
import os
import struct

import numpy as np


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    return header + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()


def write_mnist_dir(folder, n_train=6, n_test=4, gz=True, seed=0):
    """Writes the four IDX files of a small random MNIST into `folder`; returns the arrays."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        arrays[split] = (
            rng.integers(0, 256, (n, 28, 28), np.uint8),
            rng.integers(0, 10, n, np.uint8),
        )
        for kind, array in zip(("images-idx3", "labels-idx1"), arrays[split]):
            raw = idx_bytes(array)
            name = f"{split}-{kind}-ubyte" + (".gz" if gz else "")
            with open(os.path.join(folder, name), "wb") as f:
                f.write(gzip.compress(raw) if gz else raw)
    return arrays
