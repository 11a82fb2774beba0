"""The private Keras/TensorFlow APIs that keras_dae.keras_internals uses exist in the installed
versions, and those versions are the ones they were checked against."""

import keras
import tensorflow as tf
from absl.testing import absltest

from keras_dae import keras_internals


class KerasInternalsTest(absltest.TestCase):
    def test_installed_versions_are_the_checked_ones(self):
        installed = {"keras": keras.__version__, "tensorflow": tf.__version__}
        self.assertEqual(
            installed,
            keras_internals.CHECKED_VERSIONS,
            "Keras or TensorFlow changed: recheck every use in keras_dae/keras_internals.py "
            "(Adam's slot variables, the multi-worker reduce patch, _symbolic_build) and run "
            "tests/optimizer_test.py and tests/distribute_test.py, then update CHECKED_VERSIONS",
        )

    def test_the_private_names_exist(self):
        from keras.src.backend.tensorflow import trainer  # noqa: PLC0415 (Keras's private module)

        adam = keras.optimizers.Adam()
        variable = keras.Variable([1.0, 2.0])
        adam.build([variable])
        momentum, velocity = keras_internals.adam_slots(adam, variable)
        self.assertEqual((momentum.shape, velocity.shape), ((2,), (2,)))
        self.assertTrue(callable(trainer.reduce_per_replica))
        self.assertTrue(callable(trainer._collective_all_reduce_multi_worker))
        self.assertTrue(callable(keras.Model._symbolic_build))
        self.assertTrue(callable(keras.Model._maybe_symbolic_build))


if __name__ == "__main__":
    absltest.main()
