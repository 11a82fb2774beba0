"""Every use of a private Keras or TensorFlow API, fenced here, each with its reason. Nothing else
in keras-dae touches a name that starts with an underscore in those libraries.

They are checked against these versions (tests/keras_internals_test.py fails with a list of what
to recheck when the installed ones differ): recheck each use before changing the pins."""

import keras
import tensorflow as tf
from keras.src.backend.tensorflow import trainer

CHECKED_VERSIONS = {"keras": "3.15.1", "tensorflow": "2.21.0"}


def adam_slots(optimizer: keras.optimizers.Adam, variable) -> tuple:
    """Adam's first and second moment of `variable`. Keras has no public accessor for them, and
    the fused update (optimizer.py) must hand both to TensorFlow's ResourceApplyAdam kernel."""
    i = optimizer._get_variable_index(variable)
    return optimizer._momentums[i], optimizer._velocities[i]


def patch_multi_worker_reduce() -> None:
    """Keras 3.15 reduces the scalar step logs of MultiWorkerMirroredStrategy along axis 0, which
    fails ("Invalid reduction dimension 0", tensorflow#72388): reduce scalars whole instead.
    No public hook replaces `reduce_per_replica`; patched once per process."""
    if getattr(trainer.reduce_per_replica, "keras_dae_patched", False):
        return
    original = trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction == "auto" and trainer._collective_all_reduce_multi_worker(strategy):
            return tf.nest.map_structure(
                lambda v: strategy.reduce("MEAN", v, axis=None if v.shape.rank == 0 else 0), values
            )
        return original(values, strategy, reduction)

    reduce_per_replica.keras_dae_patched = True
    trainer.reduce_per_replica = reduce_per_replica


def build_from_local_batch(model: keras.Model, sample_batch) -> None:
    """Keras 3.15's fit/evaluate/predict under MultiWorkerMirroredStrategy first reduce an input
    batch across workers to build the model, which fails eagerly ("Attempt to convert a value
    (PerReplica...)", tensorflow#72388): build the compiled model from a local batch and skip
    that step."""
    if model.compiled:
        model._symbolic_build(data_batch=sample_batch)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
