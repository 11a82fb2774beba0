"""Tests of keras_dae.optimizer: FusedAdam takes the same steps as Keras's Adam."""

import keras
import numpy as np
import tensorflow as tf

from keras_dae.optimizer import FusedAdam


class FusedAdamTest(tf.test.TestCase):
    def test_same_updates_as_keras_adam(self):
        rng = np.random.default_rng(0)
        start = rng.normal(size=(30, 7)).astype(np.float32)
        grads = [rng.normal(size=(30, 7)).astype(np.float32) for _ in range(25)]
        finals = []
        for optimizer in (keras.optimizers.Adam(3e-3, epsilon=1e-8), FusedAdam(3e-3, epsilon=1e-8)):
            variable = keras.Variable(start)

            @tf.function
            def step(g):
                optimizer.apply_gradients([(g, variable)])  # noqa: B023 (called in this loop)

            for g in grads:
                step(g)
            finals.append(variable.numpy())
        self.assertGreater(np.abs(finals[0] - start).max(), 0.02)  # it did move
        self.assertAllClose(finals[0], finals[1], atol=2e-6)

    def test_round_trips_through_config(self):
        optimizer = FusedAdam(1e-3, epsilon=1e-8)
        clone = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
        self.assertIsInstance(clone, FusedAdam)
        self.assertAllClose(clone.learning_rate, 1e-3)


if __name__ == "__main__":
    tf.test.main()
