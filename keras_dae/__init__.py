"""keras-dae: the PyTorch MNIST (denoising) autoencoder, ported to Keras 3 and TensorFlow.

`train(**kwargs)` (also `main`, the original's name) trains from a notebook; TensorFlow loads at
its first call, so `import keras_dae` and its TensorFlow-free parts (`keras_dae.core`,
`keras_dae.export` but its `convert` stage) stay light."""

import importlib
import os

from keras_dae.core.config import TrainConfig
from keras_dae.core.errors import ConfigError, KerasDaeError

# The repository keeps export/ and flags.py beside keras_dae/ (the design card's top level); the
# wheel installs them inside keras_dae/, so that no top-level `export` or `flags` module clobbers
# PyPI's packages of those names. Both are imported as keras_dae.export and keras_dae.flags: in a
# checkout, this package's path takes in the folder above it to find them there.
_CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if not os.path.exists(os.path.join(__path__[0], "flags.py")) and os.path.isfile(
    os.path.join(_CHECKOUT, "flags.py")
):
    __path__.append(_CHECKOUT)

_TRAINING = ("train", "main", "TrainResult")  # From keras_dae.training.


def __getattr__(name: str):
    """`train`, `main` and `TrainResult`: keras_dae.training is imported on first use (PEP 562),
    in a notebook without TensorFlow's start-up lines in the cell."""
    if name in _TRAINING:
        return getattr(importlib.import_module("keras_dae.notebook").import_training(), name)
    raise AttributeError(f"module 'keras_dae' has no attribute {name!r}")


__all__ = ["ConfigError", "KerasDaeError", "TrainConfig", "TrainResult", "main", "train"]
