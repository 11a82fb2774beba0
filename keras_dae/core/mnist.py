"""MNIST-format data without TensorFlow: the image constants, IDX files read and checked, and the
preprocessing to [N, 784] float32 that training, export and serving share."""

import gzip
import math
import os
from typing import NamedTuple

import numpy as np

from keras_dae.core.errors import DataError

SIDE = 28  # MNIST images are 28x28 pixels.
IMAGE_SHAPE = (SIDE, SIDE)
PIXELS = SIDE * SIDE  # 784: the model's input and output width.

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
_SPLIT_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


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


def preprocess(images: np.ndarray, binarize: bool) -> np.ndarray:
    """uint8 [N, 28, 28] -> float32 [N, 784] in [0, 1], binarized (>= 0.5) if asked."""
    x = images.reshape(len(images), PIXELS).astype(np.float32) / 255.0
    return (x >= 0.5).astype(np.float32) if binarize else x


def without_digits(s: Split, digits) -> Split:
    """`s` less the examples whose label is in `digits`, in order."""
    keep = ~np.isin(s.labels, list(digits))
    return Split(s.images[keep], s.labels[keep])


def steps_per_epoch(n: int, batch_size: int) -> int:
    return math.ceil(n / batch_size)
