"""What --print_every costs on the default path of `python -m keras_dae`: the same training
(DAE, CE, z=10, real MNIST) with print_every=1 (a log line after every batch) and 0 (per epoch
only), alternated in one process so both see the same machine.

    python -m benchmarks.print_every --data_dir ../shared/data/mnist 2>/dev/null

Prints one JSON object: each setting's epoch seconds (history.json's, training only, warm-up
epoch left out) and their medians."""

import json
import os
import statistics
import tempfile

from absl import app

from keras_dae import flags
from keras_dae.core.config import TrainConfig

FLAGS = flags.FLAGS
SETTINGS = (0, 1)


def epoch_seconds(print_every: int, folder: str) -> list[float]:
    """The timed epochs' seconds of one fresh run (the first epoch compiles: left out)."""
    from keras_dae.training import train_and_evaluate

    config = TrainConfig(
        data_dir=FLAGS.data_dir, epochs=FLAGS.epochs + 1, print_every=print_every, output_dir=folder
    )
    return [h["seconds"] for h in train_and_evaluate(config).history[1:]]


def main(argv):
    del argv
    folder = tempfile.mkdtemp(prefix="print_every-")
    seconds = {p: [] for p in SETTINGS}
    for repeat in range(FLAGS.repeats):
        for p in SETTINGS:
            seconds[p] += epoch_seconds(p, os.path.join(folder, f"p{p}-{repeat}"))
    medians = {p: statistics.median(s) for p, s in seconds.items()}
    print(
        json.dumps(
            {
                "epoch_seconds": {f"print_every={p}": s for p, s in seconds.items()},
                "median_seconds": {f"print_every={p}": round(m, 3) for p, m in medians.items()},
                "ratio_1_to_0": round(medians[1] / medians[0], 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    flags.define_train_benchmark_flags()
    app.run(main, flags_parser=flags.parse_or_exit)
