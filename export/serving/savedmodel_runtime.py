"""The SavedModel runtime: `tf.saved_model.load` of one version, the signature the request names."""

import tensorflow as tf

from keras_dae.core.errors import ExportError
from keras_dae.export import layout
from keras_dae.export.serving.served import Served, read_signatures


def _signature_call(function):
    """numpy [N, F] -> numpy outputs of one signature function (one input, one output)."""
    (input_name,) = function.structured_input_signature[1]
    (output_name,) = function.structured_outputs
    return lambda x: function(**{input_name: tf.constant(x)})[output_name].numpy()


def set_threads(intra_op: int, inter_op: int) -> None:
    """TensorFlow's thread pools, before its first op (0: TensorFlow's own choice)."""
    tf.config.threading.set_intra_op_parallelism_threads(intra_op)
    tf.config.threading.set_inter_op_parallelism_threads(inter_op)


def load(export_dir: str, version: int) -> Served:
    path = layout.saved_model_dir(export_dir, version)
    signatures = read_signatures(export_dir, version)
    try:
        loaded = tf.saved_model.load(path)
    except (OSError, ValueError, tf.errors.OpError) as e:
        raise ExportError(f"{path}: not a loadable SavedModel ({type(e).__name__})") from None
    missing = set(signatures) - set(loaded.signatures)
    if missing:
        raise ExportError(f"{path}: no signature(s) {', '.join(sorted(missing))}")
    calls = {name: _signature_call(loaded.signatures[name]) for name in signatures}
    return Served(version, signatures, lambda name, x: calls[name](x))
