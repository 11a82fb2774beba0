"""keras-dae: the PyTorch MNIST (denoising) autoencoder, ported to Keras 3 and TensorFlow.

`train(**kwargs)` (also `main`, the original's name) trains from a notebook; TensorFlow loads at
its first call, so `import keras_dae` and its TensorFlow-free parts (`keras_dae.core`,
`keras_dae.export` but its `convert` stage) stay light."""

import importlib
import importlib.util
import os
import sys

from keras_dae.core.config import TrainConfig
from keras_dae.core.errors import ConfigError, KerasDaeError, missing_extra


def _load_from_checkout(name: str, path: str, package: bool) -> None:
    """Registers the repository's `export/` or `flags.py` as keras_dae.<name>."""
    spec = importlib.util.spec_from_file_location(
        f"{__name__}.{name}",
        os.path.join(path, "__init__.py") if package else path,
        submodule_search_locations=[path] if package else None,
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    globals()[name] = module


# The repository keeps export/ and flags.py beside keras_dae/ (the design card's top level); the
# wheel installs them inside keras_dae/, so that no top-level `export` or `flags` module clobbers
# PyPI's packages of those names. Either way they are imported as keras_dae.export and
# keras_dae.flags: in a checkout (or an editable install), they are loaded from beside it.
_CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if not os.path.exists(os.path.join(__path__[0], "flags.py")):
    _load_from_checkout("export", os.path.join(_CHECKOUT, "export"), package=True)
    _load_from_checkout("flags", os.path.join(_CHECKOUT, "flags.py"), package=False)

_TRAINING = ("train", "main", "TrainResult")  # From keras_dae.training, on first use.


def __getattr__(name: str):
    """`train`, `main` and `TrainResult`: keras_dae.training is imported on first use (PEP 562),
    in a notebook without TensorFlow's start-up lines in the cell; without the [train] install,
    an ImportError that says which install they need."""
    if name not in _TRAINING:
        raise AttributeError(f"module 'keras_dae' has no attribute {name!r}")
    try:
        training = importlib.import_module("keras_dae.notebook").import_training()
    except ModuleNotFoundError as e:
        raise ImportError(f"keras_dae.{name}: {missing_extra(e)}") from None
    return getattr(training, name)


__all__ = ["ConfigError", "KerasDaeError", "TrainConfig"]  # And, with TensorFlow, _TRAINING.
