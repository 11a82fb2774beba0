"""Inference speed: batch-1 latency (median) and batch-256 throughput of the Keras model, the
SavedModel's serving_default signature, and each LiteRT variant of an export's latest version.

    python -m benchmarks.inference --export_dir exports/dae

Prints one JSON object and a markdown table."""

import json
import os
import statistics
import sys
import time

import numpy as np
from absl import app

from keras_dae import flags

FLAGS = flags.FLAGS
BATCH = 256


def median_seconds(call, repeats: int) -> float:
    """Median wall time of `call()` after a warm-up."""
    for _ in range(min(100, repeats)):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(name: str, single, batch, repeats: int) -> dict:
    latency = median_seconds(single, repeats)
    batch_time = median_seconds(batch, max(10, repeats // 20))
    return {
        "path": name,
        "latency_us_batch1": round(latency * 1e6, 1),
        "images_per_second_batch256": round(BATCH / batch_time),
    }


def main(argv):
    del argv
    import tensorflow as tf

    from keras_dae.core.rundir import load_autoencoder
    from keras_dae.export import layout
    from keras_dae.export.litert import LiteRTModel
    from keras_dae.model import reconstructor

    version = layout.latest_version(FLAGS.export_dir)
    if version is None:
        sys.exit(f"{FLAGS.export_dir}: no published export version")
    with open(os.path.join(layout.version_dir(FLAGS.export_dir, version), layout.REPORT_JSON)) as f:
        report = json.load(f)
    rng = np.random.default_rng(0)
    one = (rng.random((1, 784)) >= 0.8).astype(np.float32)
    many = (rng.random((BATCH, 784)) >= 0.8).astype(np.float32)

    clean = reconstructor(load_autoencoder(report["model"]))
    serve = tf.function(lambda x: clean(x, training=False))
    sm_dir = layout.saved_model_dir(FLAGS.export_dir, version)
    signature = tf.saved_model.load(sm_dir).signatures["serving_default"]
    one_t, many_t = tf.constant(one), tf.constant(many)
    rows = [
        measure(
            "Keras model(x), eager",
            lambda: clean(one_t, training=False).numpy(),
            lambda: clean(many_t, training=False).numpy(),
            FLAGS.repeats,
        ),
        measure(
            "Keras model in tf.function",
            lambda: serve(one_t).numpy(),
            lambda: serve(many_t).numpy(),
            FLAGS.repeats,
        ),
        measure(
            "SavedModel serving_default",
            lambda: signature(images=one_t),
            lambda: signature(images=many_t),
            FLAGS.repeats,
        ),
    ]
    for variant in report["variants"]:
        model = LiteRTModel(layout.tflite_path(FLAGS.export_dir, version, variant["variant"]))
        single, quantized = model.quantize_input(one), model.quantize_input(many)
        # Batch 1: invoke only (input set once), as the export's report measures it.
        model.run_raw(single)
        rows.append(
            measure(
                f"LiteRT {variant['variant']}",
                model.interpreter.invoke,
                lambda m=model, q=quantized: m.run_raw(q),
                FLAGS.repeats,
            )
        )
    print(json.dumps({"export": FLAGS.export_dir, "version": version, "rows": rows}, indent=2))
    print("| path | batch-1 latency (median, us) | batch-256 throughput (images/s) |")
    print("| --- | ---: | ---: |")
    for r in rows:
        print(f"| {r['path']} | {r['latency_us_batch1']} | {r['images_per_second_batch256']:,} |")


if __name__ == "__main__":
    flags.define_inference_benchmark_flags()
    app.run(main, flags_parser=flags.parse_or_exit)
