"""Training-time noise: the model's dropout and the denoising autoencoder's input corruption,
Keras layers active only while training.

Call one with `training=True` to draw corrupted images on demand (the "noised truth" figures).
Each draws from TensorFlow's stateless generators with the algorithm in its `rng_alg`: Philox,
the only one TensorFlow's CPU kernels have, unless `use_rng_alg` sets Threefry for a model that
trains under XLA, which compiles Philox to code about 3x slower than Threefry on a CPU."""

import keras
import tensorflow as tf


def _seed(generator: keras.random.SeedGenerator) -> tf.Tensor:
    """The next stateless seed of `generator`, cast to int32 as Keras's TensorFlow backend does."""
    return tf.cast(tf.math.floormod(generator.next(), tf.int32.max - 1), tf.int32)


@keras.saving.register_keras_serializable(package="keras_dae")
class Dropout(keras.layers.Dropout):
    """`keras.layers.Dropout` (the same mask for the same seed) with a choice of `rng_alg`."""

    rng_alg = "philox"  # Not saved: how a mask is drawn, not what the model is.

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        return tf.nn.experimental.stateless_dropout(
            inputs, self.rate, _seed(self.seed_generator), rng_alg=self.rng_alg
        )


class _TrainingNoise(keras.layers.Layer):
    """Corrupts its input (`corrupt`) while training; passes it through otherwise."""

    rng_alg = "philox"

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
        u = tf.random.stateless_uniform(tf.shape(x), _seed(self.seed_generator), alg=self.rng_alg)
        return x * tf.cast(u >= self.rate, x.dtype)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


@keras.saving.register_keras_serializable(package="keras_dae")
class ClippedGaussianNoise(_TrainingNoise):
    """Adds N(0, stddev^2) noise, then clips to [0, 1] so the input stays a valid image."""

    def __init__(self, stddev: float, seed: int | None = None, **kwargs):
        super().__init__(seed, **kwargs)
        self.stddev = stddev

    def corrupt(self, x):
        noise = tf.random.stateless_normal(
            tf.shape(x), _seed(self.seed_generator), stddev=self.stddev, alg=self.rng_alg
        )
        return tf.clip_by_value(x + noise, 0.0, 1.0)

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev}


def build_corruption(kind: str, rate: float, seed: int | None = None) -> keras.layers.Layer:
    """The corruption layer named `kind`: dropout (the original's), mask or gaussian."""
    layers = {
        "dropout": lambda: Dropout(rate, seed=seed, name="corrupt"),
        "mask": lambda: MaskingNoise(rate, seed=seed, name="corrupt"),
        "gaussian": lambda: ClippedGaussianNoise(rate, seed=seed, name="corrupt"),
    }
    return layers[kind]()


def use_rng_alg(model: keras.Model, alg: str) -> None:
    """Sets the random-number algorithm of every noise layer in `model`, nested models included."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            use_rng_alg(layer, alg)
        elif isinstance(layer, (Dropout, _TrainingNoise)):
            layer.rng_alg = alg
