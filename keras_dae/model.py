"""The original's MLP autoencoder, in the Keras functional API.

Encoder 784 -> 500 (ELU) -> 500 (tanh) -> z; decoder z -> 500 (tanh) -> 500 (ELU) -> 784 (sigmoid);
dropout 0.1 after every hidden layer; He-normal (fan-in, untruncated) weights, zero biases."""

import os

import keras

from keras_dae import noise, optimizer  # noqa: F401 (optimizer registers FusedAdam for load_model)
from keras_dae.core.errors import RunError
from keras_dae.core.mnist import PIXELS

HIDDEN = 500
DROPOUT = 0.1


def _dense(units: int, activation: str | None, name: str) -> keras.layers.Dense:
    """A dense layer initialised as PyTorch's kaiming_normal_ (fan_in, gain sqrt(2))."""
    init = keras.initializers.VarianceScaling(2.0, "fan_in", "untruncated_normal")
    return keras.layers.Dense(
        units, activation, kernel_initializer=init, bias_initializer="zeros", name=name
    )


def _mlp(inputs, specs, name: str) -> keras.Model:
    """Dense layers from (units, activation) specs, dropout after each hidden one."""
    x = inputs
    for i, (units, activation) in enumerate(specs, start=1):
        x = _dense(units, activation, f"{name}_dense{i}")(x)
        if i < len(specs):
            x = noise.Dropout(DROPOUT, name=f"{name}_dropout{i}")(x)
    return keras.Model(inputs, x, name=name)


def build_encoder(latent_dim: int) -> keras.Model:
    """[N, 784] images -> [N, latent_dim] codes."""
    specs = [(HIDDEN, "elu"), (HIDDEN, "tanh"), (latent_dim, None)]
    return _mlp(keras.Input((PIXELS,), name="image"), specs, "encoder")


def build_decoder(latent_dim: int) -> keras.Model:
    """[N, latent_dim] codes -> [N, 784] pixel probabilities."""
    specs = [(HIDDEN, "tanh"), (HIDDEN, "elu"), (PIXELS, "sigmoid")]
    return _mlp(keras.Input((latent_dim,), name="code"), specs, "decoder")


def build_autoencoder(latent_dim: int, corruption: keras.layers.Layer | None = None):
    """corruption (training only) -> encoder -> decoder; the DAE when `corruption` is given."""
    inputs = keras.Input((PIXELS,), name="image")
    x = corruption(inputs) if corruption is not None else inputs
    outputs = build_decoder(latent_dim)(build_encoder(latent_dim)(x))
    return keras.Model(inputs, outputs, name="dae" if corruption is not None else "ae")


def reconstructor(autoencoder: keras.Model) -> keras.Model:
    """The autoencoder without its corruption: encoder -> decoder, sharing the weights."""
    inputs = keras.Input((PIXELS,), name="image")
    outputs = autoencoder.get_layer("decoder")(autoencoder.get_layer("encoder")(inputs))
    return keras.Model(inputs, outputs, name="reconstructor")


def portable(autoencoder: keras.Model) -> keras.Model:
    """The inference autoencoder (image -> encoder -> decoder, the same weights) built from Keras's
    own layers only, so that `keras.saving.load_model` reads it in a program that imports nothing
    of keras-dae. The training noise is left out: history.json records it."""

    def builtin(layer):
        if isinstance(layer, noise.Dropout):
            return keras.layers.Dropout.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    parts = [
        keras.models.clone_model(autoencoder.get_layer(name), clone_function=builtin)
        for name in ("encoder", "decoder")
    ]
    for part, name in zip(parts, ("encoder", "decoder")):
        part.set_weights(autoencoder.get_layer(name).get_weights())
    inputs = keras.Input((PIXELS,), name="image")
    return keras.Model(inputs, parts[1](parts[0](inputs)), name=autoencoder.name)


def load_autoencoder(path: str) -> keras.Model:
    """The trained autoencoder in `path` (a model.keras), or a one-line RunError."""
    if not os.path.isfile(path):
        raise RunError(f"{path}: no such model file")
    try:
        return keras.saving.load_model(path)
    except Exception as e:  # Keras raises many kinds for a file that is not a model.
        raise RunError(f"{path}: not a loadable Keras model ({type(e).__name__})") from None
