"""Tests of keras_dae.noise: each corruption is on in training, the identity at inference."""

import keras
import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from keras_dae import model, noise

X = np.full((200, 784), 0.5, np.float32)


class CorruptionTest(parameterized.TestCase, tf.test.TestCase):
    @parameterized.parameters(("dropout", 0.5), ("mask", 0.3), ("gaussian", 0.2))
    def test_identity_at_inference(self, kind, rate):
        layer = noise.build_corruption(kind, rate, seed=1)
        self.assertAllEqual(layer(X), X)
        self.assertAllEqual(layer(X, training=False), X)

    def test_dropout_zeroes_half_and_doubles_survivors(self):
        y = noise.build_corruption("dropout", 0.5, seed=1)(X, training=True).numpy()
        self.assertAllInSet(y, [0.0, 1.0])  # 0.5 * 2
        self.assertNear(np.mean(y == 0), 0.5, 0.01)  # 156,800 draws: sd 0.0013

    @parameterized.parameters(0.25, 0.75)
    def test_mask_zeroes_a_fraction_without_rescaling(self, rate):
        y = noise.build_corruption("mask", rate, seed=2)(X, training=True).numpy()
        self.assertAllInSet(y, [0.0, 0.5])
        self.assertNear(np.mean(y == 0), rate, 0.01)

    def test_gaussian_adds_noise_and_clips(self):
        y = noise.build_corruption("gaussian", 0.1, seed=3)(X, training=True).numpy()
        self.assertNear(np.std(y - X), 0.1, 0.005)
        wide = noise.build_corruption("gaussian", 1.0, seed=3)(X, training=True).numpy()
        self.assertAllInRange(wide, 0.0, 1.0)
        self.assertGreater(np.mean(wide == 1.0), 0.2)  # P(N(0.5, 1) > 1) = 0.31

    def test_philox_dropout_is_keras_dropout(self):
        ours = noise.Dropout(0.1, seed=5)(X, training=True)
        self.assertAllEqual(ours, keras.layers.Dropout(0.1, seed=5)(X, training=True))

    @parameterized.parameters(("dropout", 0.5), ("mask", 0.3), ("gaussian", 0.2))
    def test_threefry_under_xla(self, kind, rate):
        """Threefry, which only XLA runs on a CPU: the same kind of noise, seeded, another draw."""

        def draw(alg):  # The first draw of a fresh layer seeded alike.
            model = keras.Sequential([keras.Input((784,)), noise.build_corruption(kind, rate, 6)])
            noise.use_rng_alg(model, alg)
            return tf.function(lambda x: model(x, training=True), jit_compile=True)(X).numpy()

        philox, threefry = draw("philox"), draw("threefry")
        self.assertAllEqual(draw("threefry"), threefry)  # Seeded: the same draw again.
        self.assertNotAllClose(philox, threefry)
        self.assertNear(np.mean(threefry == 0), np.mean(philox == 0), 0.01)
        self.assertNear(np.std(threefry), np.std(philox), 0.01)

    def test_use_rng_alg_reaches_nested_models_and_is_not_saved(self):
        dae = model.build_autoencoder(10, noise.build_corruption("dropout", 0.5))
        noise.use_rng_alg(dae, "threefry")
        layers = [dae.get_layer("corrupt")] + [
            layer
            for sub in ("encoder", "decoder")
            for layer in dae.get_layer(sub).layers
            if isinstance(layer, noise.Dropout)
        ]
        self.assertLen(layers, 5)
        self.assertEqual({layer.rng_alg for layer in layers}, {"threefry"})
        clone = keras.Model.from_config(dae.get_config())
        self.assertEqual(clone.get_layer("corrupt").rng_alg, "philox")

    @parameterized.parameters(("mask", 0.3), ("gaussian", 0.2))
    def test_serializable(self, kind, rate):
        layer = noise.build_corruption(kind, rate, seed=4)
        clone = keras.layers.deserialize(keras.layers.serialize(layer))
        self.assertEqual(type(clone), type(layer))
        self.assertEqual(clone.get_config(), layer.get_config())


if __name__ == "__main__":
    tf.test.main()
