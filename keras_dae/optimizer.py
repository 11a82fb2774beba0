"""Keras's Adam, applied by TensorFlow's fused `ResourceApplyAdam` kernel: the same update, one op
per variable instead of a dozen, which makes it about 3x cheaper on a CPU."""

import keras
import tensorflow as tf
from keras import ops

from keras_dae import keras_internals


@keras.saving.register_keras_serializable(package="keras_dae")
class FusedAdam(keras.optimizers.Adam):
    """`keras.optimizers.Adam` (no amsgrad, no weight decay) with a fused update step."""

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        step = ops.cast(self.iterations + 1, dtype)
        momentum, velocity = keras_internals.adam_slots(self, variable)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle,
            m=momentum.handle,
            v=velocity.handle,
            beta1_power=ops.power(ops.cast(self.beta_1, dtype), step),
            beta2_power=ops.power(ops.cast(self.beta_2, dtype), step),
            lr=ops.cast(learning_rate, dtype),
            beta1=ops.cast(self.beta_1, dtype),
            beta2=ops.cast(self.beta_2, dtype),
            epsilon=ops.cast(self.epsilon, dtype),
            grad=ops.cast(gradient, dtype),
        )
