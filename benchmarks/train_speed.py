"""Training speed of the faithful configuration (DAE, CE, z=10, batch 64) on the default path of
`python -m keras_dae`, beside the same run's matrix-multiply roofline, the floor of the kernels
a step is made of, and the unoptimized path.

    python -m benchmarks.train_speed --data_dir ../shared/data/mnist

Prints one JSON object and a markdown table row."""

import dataclasses
import json
import math
import os
import platform
import resource
import statistics
import tempfile
import time

from absl import app

from keras_dae import data, flags
from keras_dae.core import mnist
from keras_dae.core.config import TrainConfig
from keras_dae.core.mnist import PIXELS
from keras_dae.model import DROPOUT, HIDDEN

FLAGS = flags.FLAGS
DEFAULT = TrainConfig()
# The dense chain of the default (z=10) autoencoder.
LAYERS = [PIXELS, HIDDEN, HIDDEN, DEFAULT.latent_dim, HIDDEN, HIDDEN, PIXELS]


def flops_per_image() -> int:
    """Dense-layer FLOPs of one image's training step: forward, weight grads, input grads
    (none for the first layer, whose input is data)."""
    macs = [a * b for a, b in zip(LAYERS[:-1], LAYERS[1:])]
    return 2 * (sum(macs) + sum(macs) + sum(macs[1:]))


def _median_seconds(step, steps: int, repeats: int) -> float:
    """Median seconds of `steps` calls of `step(zero) -> scalar` in one TensorFlow while loop.

    `zero` is carried through the loop so no work can be hoisted out of it or pruned; this costs
    a few tiny ops per step."""
    import tensorflow as tf

    @tf.function
    def run(n):
        return tf.while_loop(
            lambda i, _: i < n,
            lambda i, zero: (i + 1, step(zero)),
            [tf.constant(0), tf.constant(0.0)],
        )

    run(tf.constant(10))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(tf.constant(steps))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _random(*shape):
    """A variable, not a constant, so that grappler cannot fold the work away."""
    import tensorflow as tf

    return tf.Variable(tf.random.normal(shape, stddev=0.05))


def matmul_roofline(steps: int, batch: int, repeats: int) -> float:
    """Median seconds for `steps` steps of the model's own matmuls at this batch: per layer
    x @ W, x^T @ dy, and dy @ W^T (not for the first layer), nothing else, all independent."""
    import tensorflow as tf

    pairs = list(zip(LAYERS[:-1], LAYERS[1:]))
    ws = [_random(a, b) for a, b in pairs]
    xs = [_random(batch, a) for a, _ in pairs]
    dys = [_random(batch, b) for _, b in pairs]

    def step(zero):
        outs = []
        for k, (w, x, dy) in enumerate(zip(ws, xs, dys)):
            x, dy = x + zero, dy + zero
            outs += [tf.matmul(x, w), tf.matmul(x, dy, transpose_a=True)]
            if k:
                outs.append(tf.matmul(dy, w, transpose_b=True))
        return tf.add_n([o[0, 0] for o in outs]) * 0.0

    return _median_seconds(step, steps, repeats)


def chained_matmuls(steps: int, batch: int, repeats: int) -> float:
    """The same products, chained as a training step must run them: forward through the layers,
    then back, each backward product waiting for the one before."""
    import tensorflow as tf

    ws = [_random(a, b) for a, b in zip(LAYERS[:-1], LAYERS[1:])]
    x = _random(batch, LAYERS[0])

    def step(zero):
        hs = [x + zero]
        for w in ws:
            hs.append(tf.matmul(hs[-1], w))
        dy, outs = hs[-1], []
        for k in reversed(range(len(ws))):
            outs.append(tf.matmul(hs[k], dy, transpose_a=True))
            if k:
                dy = tf.matmul(dy, ws[k], transpose_b=True)
        return tf.add_n([o[0, 0] for o in outs]) * 0.0

    return _median_seconds(step, steps, repeats)


def adam_updates(steps: int, repeats: int) -> float:
    """Adam alone: the fused update of the model's 12 weight arrays, under XLA as in training."""
    import tensorflow as tf

    shapes = [s for a, b in zip(LAYERS[:-1], LAYERS[1:]) for s in ((a, b), (b,))]
    slots = [[_random(*shape) for _ in range(4)] for shape in shapes]  # var, m, v, grad

    @tf.function(jit_compile=True)
    def update(zero):
        for var, m, v, grad in slots:
            tf.raw_ops.ResourceApplyAdam(
                var=var.handle,
                m=m.handle,
                v=v.handle,
                beta1_power=0.9,
                beta2_power=0.999,
                lr=0.0,
                beta1=0.9,
                beta2=0.999,
                epsilon=1e-8,
                grad=grad + zero,
            )
        return zero

    return _median_seconds(update, steps, repeats)


def dropout_masks(steps: int, batch: int, repeats: int) -> float:
    """The dropout of one step alone (the input's noise and the four hidden layers' dropout), under
    XLA with Threefry as in training."""
    import tensorflow as tf

    inputs = [(_random(batch, PIXELS), DEFAULT.noise_rate)] + [
        (_random(batch, HIDDEN), DROPOUT)
    ] * 4

    # One element of each output, so the floor adds no reduction of its own. XLA still draws the
    # whole masks: summing the outputs whole measured only the sums' own time (0.08 s) more.
    @tf.function(jit_compile=True)
    def masks(zero):
        seed = tf.cast(tf.stack([zero, zero]), tf.int32)
        return (
            sum(
                tf.nn.experimental.stateless_dropout(x + zero, rate, seed + k, rng_alg="threefry")[
                    0, 0
                ]
                for k, (x, rate) in enumerate(inputs)
            )
            * 0.0
        )

    return _median_seconds(masks, steps, repeats)


def fit_epochs(config: TrainConfig, optimized: bool) -> tuple[list, list]:
    """Epoch seconds and train losses of a bare fit (no evaluation) of the default path's models,
    or, without `optimized`, of the unoptimized path: the same model, data and seed, but Keras's
    own Adam, one step per call (steps_per_execution=1), no XLA (Philox dropout masks)."""
    import keras

    from keras_dae import noise
    from keras_dae.training import build_models, reconstruction_loss

    keras.utils.set_random_seed(config.seed)
    splits = data.load(config)
    steps = mnist.steps_per_epoch(len(splits.x_train), config.batch_size)
    autoencoder, _ = build_models(config, steps)
    if not optimized:
        autoencoder.compile(
            keras.optimizers.Adam(config.learning_rate, epsilon=1e-8),
            reconstruction_loss(config.loss),
            steps_per_execution=1,
            jit_compile=False,
        )
        noise.use_rng_alg(autoencoder, "philox")
    times = []
    timer = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda e, logs: times.append(-time.perf_counter()),
        on_epoch_end=lambda e, logs: times.__setitem__(-1, times[-1] + time.perf_counter()),
    )
    history = autoencoder.fit(
        data.train_dataset(splits.x_train, config.batch_size, config.seed),
        epochs=config.epochs,
        callbacks=[timer],
        verbose=0,
        steps_per_epoch=steps,
        shuffle=False,
    )
    return times, history.history["loss"]


def max_difference(a: list, b: list) -> float:
    return round(max(abs(x - y) for x, y in zip(a, b)), 5)


def main(argv):
    del argv
    from keras_dae.training import train_and_evaluate

    config = TrainConfig(
        data_dir=FLAGS.data_dir,
        epochs=FLAGS.epochs + 1,
        print_every=0,
        output_dir=tempfile.mkdtemp(prefix="train_speed-"),
    )
    start = time.perf_counter()
    result = train_and_evaluate(config)
    wall = time.perf_counter() - start
    epochs = [h["seconds"] for h in result.history[1:]]  # The first is the warm-up.
    epoch = statistics.median(epochs)
    images = len(mnist.load_idx_split(config.data_dir, "train").labels)
    steps = math.ceil(images / config.batch_size)
    roofline = matmul_roofline(steps, config.batch_size, FLAGS.repeats)
    # The floor of a step built from these kernels: the products chained as training chains
    # them, Adam's update and the dropout masks, each timed alone. The two cores are busy in each,
    # so overlapping them gains little: an epoch cannot beat their sum by much.
    floor = {
        "chained_matmuls": chained_matmuls(steps, config.batch_size, FLAGS.repeats),
        "adam": adam_updates(steps, FLAGS.repeats),
        "dropout_masks": dropout_masks(steps, config.batch_size, FLAGS.repeats),
    }
    floor_seconds = sum(floor.values())
    figures = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "epoch_seconds_median": round(epoch, 3),
        "epoch_seconds": epochs,
        "images_per_second": round(images / epoch),
        "gflops_per_second": round(flops_per_image() * images / epoch / 1e9, 1),
        "roofline_seconds": round(roofline, 3),
        "ratio_to_roofline": round(epoch / roofline, 2),
        "floor_seconds": {k: round(v, 3) for k, v in floor.items()},
        "floor_sum_seconds": round(floor_seconds, 3),
        "floor_sum_to_roofline": round(floor_seconds / roofline, 2),
        "run_seconds_with_eval_and_figures": round(wall, 1),
        "final_test_ce": round(result.history[-1]["test_loss_clean"], 4),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    if FLAGS.baseline:
        losses = [h["train_loss"] for h in result.history]
        times, baseline = fit_epochs(config, optimized=False)
        _, other_seed = fit_epochs(dataclasses.replace(config, seed=config.seed + 1), False)
        figures["baseline_epoch_seconds_median"] = round(statistics.median(times[1:]), 3)
        figures["speedup_over_baseline"] = round(statistics.median(times[1:]) / epoch, 2)
        figures["train_loss_default"] = [round(x, 5) for x in losses]
        figures["train_loss_baseline"] = [round(x, 5) for x in baseline]
        figures[f"train_loss_baseline_seed{config.seed + 1}"] = [round(x, 5) for x in other_seed]
        # Normal seed variance: the unoptimized path's own change with the seed.
        figures["max_loss_difference_to_baseline"] = max_difference(losses, baseline)
        figures["max_loss_difference_between_baseline_seeds"] = max_difference(baseline, other_seed)
    print(json.dumps(figures, indent=2))
    print(
        "| median epoch (s) | images/s | GFLOP/s | roofline (s) | epoch/roofline | floor (s) "
        "| peak RSS (MiB) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(
        f"| {epoch:.2f} | {figures['images_per_second']} | {figures['gflops_per_second']} | "
        f"{roofline:.2f} | {figures['ratio_to_roofline']} | {floor_seconds:.2f} | "
        f"{figures['peak_rss_mib']} |"
    )


if __name__ == "__main__":
    flags.define_train_benchmark_flags()
    app.run(main, flags_parser=flags.parse_or_exit)
