"""tf.distribute: the strategy that --strategy names, and which worker writes the outputs."""

import os

import tensorflow as tf

from keras_dae import keras_internals
from keras_dae.core.errors import RunError


def make_strategy(name: str) -> tf.distribute.Strategy:
    """`default` (one device), `mirrored` (all local GPUs) or `multi_worker` (TF_CONFIG's cluster).
    Must run before TensorFlow executes anything else."""
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise RunError(
                "--strategy=multi_worker needs the cluster in the TF_CONFIG "
                "environment variable (see the README)"
            )
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
    """Works around two Keras 3.15 bugs with MultiWorkerMirroredStrategy (tensorflow#72388; see
    keras_internals). Nothing changes under other strategies."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    keras_internals.patch_multi_worker_reduce()
    with strategy.scope():
        for model in models:
            keras_internals.build_from_local_batch(model, sample_batch)
