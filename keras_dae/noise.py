"""Input corruption for the denoising autoencoder: Keras layers, active only while training.

Call one with `training=True` to draw corrupted images on demand (the "noised truth" figures)."""

import keras
from keras import ops


class _TrainingNoise(keras.layers.Layer):
    """Corrupts its input (`corrupt`) while training; passes it through otherwise."""

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=False):
        return self.corrupt(x) if training else x

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="keras_dae")
class MaskingNoise(_TrainingNoise):
    """Zeroes each pixel with probability `rate`, survivors unscaled (Vincent et al., 2008)."""

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(seed, **kwargs)
        self.rate = rate

    def corrupt(self, x):
        keep = keras.random.uniform(ops.shape(x), seed=self.seed_generator) >= self.rate
        return x * ops.cast(keep, x.dtype)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


@keras.saving.register_keras_serializable(package="keras_dae")
class ClippedGaussianNoise(_TrainingNoise):
    """Adds N(0, stddev^2) noise, then clips to [0, 1] so the input stays a valid image."""

    def __init__(self, stddev: float, seed: int | None = None, **kwargs):
        super().__init__(seed, **kwargs)
        self.stddev = stddev

    def corrupt(self, x):
        noise = keras.random.normal(ops.shape(x), stddev=self.stddev, seed=self.seed_generator)
        return ops.clip(x + noise, 0.0, 1.0)

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev}


def build_corruption(kind: str, rate: float, seed: int | None = None) -> keras.layers.Layer:
    """The corruption layer named `kind`: dropout (the original's), mask or gaussian."""
    layers = {
        "dropout": lambda: keras.layers.Dropout(rate, seed=seed, name="corrupt"),
        "mask": lambda: MaskingNoise(rate, seed=seed, name="corrupt"),
        "gaussian": lambda: ClippedGaussianNoise(rate, seed=seed, name="corrupt"),
    }
    return layers[kind]()
