"""Training speed of the faithful configuration (DAE, CE, z=10, batch 64) on the default path of
`python -m keras_dae`, beside the same run's matrix-multiply roofline.

    python benchmarks/train_speed.py --data_dir ../shared/data/mnist

Prints one JSON object and a markdown table row."""

import json
import math
import os
import platform
import resource
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # noqa: E402

import flags  # noqa: E402
from keras_dae.config import TrainConfig  # noqa: E402

FLAGS = flags.FLAGS
LAYERS = [784, 500, 500, 10, 500, 500, 784]  # The dense chain of the z=10 autoencoder.


def flops_per_image() -> int:
    """Dense-layer FLOPs of one image's training step: forward, weight grads, input grads
    (none for the first layer, whose input is data)."""
    macs = [a * b for a, b in zip(LAYERS[:-1], LAYERS[1:])]
    return 2 * (sum(macs) + sum(macs) + sum(macs[1:]))


def matmul_roofline(steps: int, batch: int, repeats: int) -> float:
    """Median seconds for `steps` steps of the model's own matmuls at this batch: per layer
    x @ W, x^T @ dy, and dy @ W^T (not for the first layer), nothing else."""
    import tensorflow as tf

    pairs = list(zip(LAYERS[:-1], LAYERS[1:]))
    # Variables, not constants, so that grappler cannot fold the products away.
    ws = [tf.Variable(tf.random.normal([a, b])) for a, b in pairs]
    xs = [tf.Variable(tf.random.normal([batch, a])) for a, _ in pairs]
    dys = [tf.Variable(tf.random.normal([batch, b])) for _, b in pairs]

    @tf.function
    def run(n):
        # `zero` is carried through the loop so no product can be hoisted out of it or pruned;
        # this costs a few tiny ops per step next to the 17 products.
        def body(i, zero):
            outs = []
            for k, (w, x, dy) in enumerate(zip(ws, xs, dys)):
                x, dy = x + zero, dy + zero
                outs += [tf.matmul(x, w), tf.matmul(x, dy, transpose_a=True)]
                if k:
                    outs.append(tf.matmul(dy, w, transpose_b=True))
            return i + 1, tf.add_n([o[0, 0] for o in outs]) * 0.0
        return tf.while_loop(lambda i, _: i < n, body, [tf.constant(0), tf.constant(0.0)])

    run(tf.constant(10))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(tf.constant(steps))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def baseline_epochs(config: TrainConfig) -> tuple[list, list]:
    """Epoch seconds and train losses of the unoptimized path: the same model, data and seed, but
    Keras's own Adam and one step per call (steps_per_execution=1)."""
    import keras

    from keras_dae import data
    from keras_dae.training import build_models, reconstruction_loss

    keras.utils.set_random_seed(config.seed)
    d = data.load(config)
    steps = data.steps_per_epoch(len(d.x_train), config.batch_size)
    autoencoder, _ = build_models(config, steps)
    autoencoder.compile(keras.optimizers.Adam(config.learning_rate, epsilon=1e-8),
                        reconstruction_loss(config.loss), steps_per_execution=1)
    times = []
    timer = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda e, logs: times.append(-time.perf_counter()),
        on_epoch_end=lambda e, logs: times.__setitem__(-1, times[-1] + time.perf_counter()))
    history = autoencoder.fit(data.train_dataset(d.x_train, config.batch_size, config.seed),
                              epochs=config.epochs, callbacks=[timer], verbose=0,
                              steps_per_epoch=steps, shuffle=False)
    return times, history.history["loss"]


def main(argv):
    del argv
    from keras_dae.training import train_and_evaluate

    config = TrainConfig(data_dir=FLAGS.data_dir, epochs=FLAGS.epochs + 1, print_every=0,
                         output_dir=tempfile.mkdtemp(prefix="train_speed-"))
    start = time.perf_counter()
    result = train_and_evaluate(config, config.workdir)
    wall = time.perf_counter() - start
    epochs = [h["seconds"] for h in result.history[1:]]  # The first is the warm-up.
    epoch = statistics.median(epochs)
    images = 60_000 if config.train_examples is None else config.train_examples
    steps = math.ceil(images / config.batch_size)
    roofline = matmul_roofline(steps, config.batch_size, FLAGS.repeats)
    figures = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "epoch_seconds_median": round(epoch, 3),
        "epoch_seconds": epochs,
        "images_per_second": round(images / epoch),
        "gflops_per_second": round(flops_per_image() * images / epoch / 1e9, 1),
        "roofline_seconds": round(roofline, 3),
        "ratio_to_roofline": round(epoch / roofline, 2),
        "run_seconds_with_eval_and_figures": round(wall, 1),
        "final_test_ce": round(result.history[-1]["test_loss_clean"], 4),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    if FLAGS.baseline:
        times, losses = baseline_epochs(config)
        figures["baseline_epoch_seconds_median"] = round(statistics.median(times[1:]), 3)
        figures["speedup_over_baseline"] = round(statistics.median(times[1:]) / epoch, 2)
        figures["train_loss_default"] = [round(h["train_loss"], 5) for h in result.history]
        figures["train_loss_baseline"] = [round(loss, 5) for loss in losses]
    print(json.dumps(figures, indent=2))
    print("| median epoch (s) | images/s | GFLOP/s | roofline (s) | epoch/roofline | peak RSS (MiB) |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(f"| {epoch:.2f} | {figures['images_per_second']} | {figures['gflops_per_second']} | "
          f"{roofline:.2f} | {figures['ratio_to_roofline']} | {figures['peak_rss_mib']} |")


if __name__ == "__main__":
    flags.define_train_benchmark_flags()
    app.run(main, flags_parser=flags.parse_or_exit)
