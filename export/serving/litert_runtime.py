"""The LiteRT runtime: a .tflite variant of one version on `ai-edge-litert`, no TensorFlow."""

import os

from keras_dae.export import layout
from keras_dae.export.litert import LiteRTModel
from keras_dae.export.serving.served import Served, read_signatures

SIGNATURE_FILES = {"encode": "encoder", "decode": "decoder"}  # serving_default: the variant.


def load(export_dir: str, version: int, variant: str) -> Served:
    signatures = read_signatures(export_dir, version)
    folder = os.path.join(layout.version_dir(export_dir, version), "tflite")
    models = {
        name: LiteRTModel(os.path.join(folder, SIGNATURE_FILES.get(name, variant) + ".tflite"))
        for name in signatures
    }

    def call(name, x):
        model = models[name]
        return model.dequantize_output(model.run_raw(model.quantize_input(x)))

    return Served(version, signatures, call)
