"""keras-dae: the PyTorch MNIST (denoising) autoencoder, ported to Keras 3 and TensorFlow."""

from keras_dae.config import ConfigError, TrainConfig


def train(**kwargs):
    """The original's `main(**kwargs)` for notebooks: trains `TrainConfig(**kwargs)` and returns a
    TrainResult (history, autoencoder, encoder, decoder, workdir)."""
    from keras_dae.training import train_and_evaluate  # noqa: PLC0415 (import keras_dae loads no TensorFlow)

    return train_and_evaluate(TrainConfig(**kwargs))


__all__ = ["ConfigError", "TrainConfig", "train"]
