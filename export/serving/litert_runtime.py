"""The LiteRT runtime: a .tflite variant of one version on `ai-edge-litert`, no TensorFlow."""

import os

from export import layout
from export.litert import LiteRTModel
from export.serving import runtimes

SIGNATURE_FILES = {"encode": "encoder", "decode": "decoder"}  # serving_default: the variant.


def load(export_dir: str, version: int, variant: str) -> runtimes.Served:
    signatures = runtimes.read_signatures(export_dir, version)
    folder = os.path.join(layout.version_dir(export_dir, version), "tflite")
    models = {
        name: LiteRTModel(os.path.join(folder, SIGNATURE_FILES.get(name, variant) + ".tflite"))
        for name in signatures
    }

    def call(name, x):
        model = models[name]
        return model.dequantize_output(model.run_raw(model.quantize_input(x)))

    return runtimes.Served(version, signatures, call)
