"""Trains the MNIST (denoising) autoencoder: python -m keras_dae [--flags].

Defaults are the original's: DAE (dropout noise 0.5), binarized input, cross-entropy, z=10,
10 epochs, Adam lr 3e-4 divided by 10 from epoch 6 on, batch 64."""

import sys

from absl import app
from absl.flags import adopt_module_key_flags

import flags
from keras_dae import backup, rundir
from keras_dae.config import ConfigError, TrainConfig
from keras_dae.data import DataError
from keras_dae.locking import FolderLocked
from keras_dae.signals import Interrupted, interrupt_on_signals


def resume_hint(config: TrainConfig) -> str:
    """What a stopped run has saved, and how to go on."""
    try:
        done = backup.epochs_done(rundir.backup_path(config.workdir))
    except rundir.RunError:
        done = 0
    return (
        f"{done} of {config.epochs} epochs are saved in {config.workdir}; run the same "
        "command again to resume"
    )


def describe(error: OSError) -> str:
    """An OSError as one line: the file, then the problem (e.g. No space left on device)."""
    return f"{error.filename}: {error.strerror}" if error.filename else str(error)


def main(argv):
    prog = flags.program_name(argv)
    try:
        config = flags.train_config_from_flags(argv)
        with interrupt_on_signals():  # In place before TensorFlow loads.
            from keras_dae.training import train_and_evaluate  # noqa: PLC0415 (signal handlers and flag errors before TensorFlow loads)

            train_and_evaluate(config)
    except Interrupted as e:
        print(f"{prog}: {e}: {resume_hint(config)}", file=sys.stderr)
        sys.exit(e.exit_status)
    except (ConfigError, DataError, rundir.RunError, FolderLocked) as e:
        sys.exit(f"{prog}: error: {e}")
    except OSError as e:
        sys.exit(f"{prog}: error: {describe(e)}")


if __name__ == "__main__":
    flags.define_train_flags()
    adopt_module_key_flags(flags)  # --help lists them.
    app.run(main, flags_parser=flags.parse_or_exit)
