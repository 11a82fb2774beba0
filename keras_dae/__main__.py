"""Trains the MNIST (denoising) autoencoder: python -m keras_dae [--flags].

Defaults are the original's: DAE (dropout noise 0.5), binarized input, cross-entropy, z=10,
10 epochs, Adam lr 3e-4 divided by 10 from epoch 6 on, batch 64."""

import sys

from absl import app
from absl.flags import adopt_module_key_flags

import flags
from keras_dae.config import ConfigError
from keras_dae.data import DataError


def main(argv):
    try:
        config = flags.train_config_from_flags(argv)
    except ConfigError as e:
        sys.exit(f"{flags.program_name(argv)}: error: {e}")
    from keras_dae.training import train_and_evaluate

    from keras_dae.resume import Interrupted, RunError

    try:
        train_and_evaluate(config, config.workdir)
    except Interrupted as e:
        print(f"{flags.program_name(argv)}: {e}", file=sys.stderr)
        sys.exit(130)
    except (DataError, RunError) as e:
        sys.exit(f"{flags.program_name(argv)}: error: {e}")


if __name__ == "__main__":
    flags.define_train_flags()
    adopt_module_key_flags(flags)  # --help lists them.
    app.run(main, flags_parser=flags.parse_or_exit)
