"""Trains the MNIST (denoising) autoencoder: python -m keras_dae [--flags] (or `keras-dae`).

Defaults are the original's: DAE (dropout noise 0.5), binarized input, cross-entropy, z=10,
10 epochs, Adam lr 3e-4 divided by 10 from epoch 6 on, batch 64."""

import sys

from keras_dae import flags
from keras_dae.core import backup, rundir
from keras_dae.core.config import TrainConfig
from keras_dae.core.errors import RunError, one_line_errors
from keras_dae.core.signals import Interrupted, interrupt_on_signals


def resume_hint(config: TrainConfig) -> str:
    """What a stopped run has saved, and how to go on."""
    try:
        done = backup.epochs_done(rundir.backup_path(config.workdir))
    except RunError:
        done = 0
    return (
        f"{done} of {config.epochs} epochs are saved in {config.workdir}; run the same "
        "command again to resume"
    )


def main(argv):
    prog = flags.program_name(argv)
    with one_line_errors(prog):
        config = flags.train_config_from_flags(argv)
        try:
            with interrupt_on_signals():  # In place before TensorFlow loads.
                # The training stage (TensorFlow, 5 s) loads once the flags are checked.
                from keras_dae.training import train_and_evaluate  # noqa: PLC0415 (flag errors come first)

                train_and_evaluate(config)
        except Interrupted as e:
            print(f"{prog}: {e}: {resume_hint(config)}", file=sys.stderr)
            sys.exit(e.exit_status)


def run():
    """The `keras-dae` command."""
    flags.run_command(main, flags.define_train_flags, __doc__)


if __name__ == "__main__":
    run()
