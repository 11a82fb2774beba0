"""The SavedModel, in TensorFlow Serving's layout: `<root>/<version>/`, signatures
`serving_default` (images -> reconstructions), `encode` and `decode`; noise and dropout off."""

import keras
import tensorflow as tf

from keras_dae.core.mnist import PIXELS


def write_saved_model(autoencoder: keras.Model, path: str) -> None:
    """Writes the three inference signatures of `autoencoder` to the folder `path`."""
    encoder, decoder = autoencoder.get_layer("encoder"), autoencoder.get_layer("decoder")
    latent_dim = encoder.output_shape[-1]
    archive = keras.export.ExportArchive()
    archive.track(autoencoder)
    images = [tf.TensorSpec([None, PIXELS], tf.float32, name="images")]
    codes = [tf.TensorSpec([None, latent_dim], tf.float32, name="codes")]
    archive.add_endpoint(
        "serving_default",
        lambda x: {"reconstructions": decoder(encoder(x, training=False), training=False)},
        input_signature=images,
    )
    archive.add_endpoint(
        "encode", lambda x: {"codes": encoder(x, training=False)}, input_signature=images
    )
    archive.add_endpoint(
        "decode", lambda z: {"reconstructions": decoder(z, training=False)}, input_signature=codes
    )
    archive.write_out(path, verbose=False)
