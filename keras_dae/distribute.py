"""tf.distribute: the strategy that --strategy names, and which worker writes the outputs."""

import os

import tensorflow as tf

from keras_dae.resume import RunError


def make_strategy(name: str) -> tf.distribute.Strategy:
    """`default` (one device), `mirrored` (all local GPUs) or `multi_worker` (TF_CONFIG's cluster).
    Must run before TensorFlow executes anything else."""
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise RunError("--strategy=multi_worker needs the cluster in the TF_CONFIG "
                           "environment variable (see the README)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def task(strategy: tf.distribute.Strategy) -> tuple[str, int]:
    """(task type, index) of this process; ("chief", 0) outside a cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return "chief", 0
    return resolver.task_type, int(resolver.task_id)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """The process that writes figures, history and model: the chief, else worker 0."""
    task_type, index = task(strategy)
    if task_type == "chief":
        return True
    cluster = strategy.cluster_resolver.cluster_spec().as_dict()
    return task_type == "worker" and index == 0 and "chief" not in cluster


def prepare_for_multi_worker(strategy, models, sample_batch) -> None:
    """Works around two Keras 3.15 bugs with MultiWorkerMirroredStrategy (tensorflow#72388):
    fit/evaluate/predict first reduce an input batch across workers to build the model (which
    fails eagerly: "Attempt to convert a value (PerReplica...)"), and they reduce the scalar
    step logs along axis 0 ("Invalid reduction dimension 0"). Here the models are built from a
    local batch and that step skipped, and scalars are reduced whole. Nothing changes under other
    strategies."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    from keras.src.backend.tensorflow import trainer

    if not getattr(trainer.reduce_per_replica, "keras_dae_patched", False):
        original = trainer.reduce_per_replica

        def reduce_per_replica(values, strategy, reduction):
            if reduction == "auto" and trainer._collective_all_reduce_multi_worker(strategy):
                return tf.nest.map_structure(
                    lambda v: strategy.reduce("MEAN", v, axis=None if v.shape.rank == 0 else 0),
                    values)
            return original(values, strategy, reduction)

        reduce_per_replica.keras_dae_patched = True
        trainer.reduce_per_replica = reduce_per_replica
    with strategy.scope():
        for model in models:
            if model.compiled:
                model._symbolic_build(data_batch=sample_batch)
            model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
