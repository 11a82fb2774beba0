"""Tests of keras_dae.model: the original's layers, sizes, initialisation and composition."""

import keras
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from keras_dae import model, noise


def dense_params(sizes):
    """Weights and biases of a chain of dense layers of these sizes."""
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))


class ModelTest(parameterized.TestCase, tf.test.TestCase):
    @parameterized.parameters(2, 10, 32)
    def test_shapes_and_parameter_count(self, z):
        encoder, decoder = model.build_encoder(z), model.build_decoder(z)
        self.assertEqual(encoder(np.zeros((3, 784))).shape, (3, z))
        self.assertEqual(decoder(np.zeros((3, z))).shape, (3, 784))
        self.assertEqual(encoder.count_params(), dense_params([784, 500, 500, z]))
        self.assertEqual(decoder.count_params(), dense_params([z, 500, 500, 784]))

    def test_layers_activations_and_dropout(self):
        for m, activations in (
            (model.build_encoder(10), ["elu", "tanh", "linear"]),
            (model.build_decoder(10), ["tanh", "elu", "sigmoid"]),
        ):
            dense = [layer for layer in m.layers if isinstance(layer, keras.layers.Dense)]
            dropout = [layer for layer in m.layers if isinstance(layer, keras.layers.Dropout)]
            self.assertEqual([layer.activation.__name__ for layer in dense], activations)
            self.assertEqual(
                [layer.rate for layer in dropout], [0.1, 0.1]
            )  # after each hidden layer
            self.assertLess(m.layers.index(dense[0]), m.layers.index(dropout[0]))

    def test_he_normal_fan_in_untruncated_zero_bias(self):
        keras.utils.set_random_seed(0)
        layer = model.build_encoder(10).get_layer("encoder_dense1")
        kernel = layer.kernel.numpy()
        self.assertNear(kernel.std(), np.sqrt(2 / 784), 0.001)
        self.assertGreater(np.abs(kernel).max(), 2 * np.sqrt(2 / 784) * 2)  # untruncated tails
        self.assertAllEqual(layer.bias.numpy(), np.zeros(500))

    def test_decoder_outputs_probabilities(self):
        out = model.build_decoder(10)(np.random.default_rng(0).normal(0, 50, (10, 10)))
        self.assertAllInRange(out, 0.0, 1.0)

    def test_autoencoder_composition(self):
        dae = model.build_autoencoder(10, noise.build_corruption("dropout", 0.5))
        ae = model.build_autoencoder(10)
        self.assertEqual(
            [layer.name for layer in dae.layers], ["image", "corrupt", "encoder", "decoder"]
        )
        self.assertEqual([layer.name for layer in ae.layers], ["image", "encoder", "decoder"])
        x = np.random.default_rng(1).random((4, 784)).astype(np.float32)
        clean = model.reconstructor(dae)
        self.assertAllClose(clean(x), dae(x, training=False))  # inference: no noise, no dropout
        self.assertNotAllClose(dae(x, training=True), dae(x, training=False))
        self.assertEqual(clean.count_params(), dae.count_params())  # shared weights


if __name__ == "__main__":
    tf.test.main()
