"""What a finished run learned: python -m keras_dae.evaluate --run DIR [--compare DIR]
[--ood_dir DIR] [--data_dir DIR] (or `keras-dae-evaluate`). Writes evaluation.json, evaluation.md,
denoising.png, filters.png and anomaly.png into the run folder: denoising curves, linear probes,
first-layer filters and reconstruction-error anomaly detection (--compare: a second run beside
it). The measuring is keras_dae.evaluation's, on TensorFlow."""

from keras_dae import flags
from keras_dae.core import rundir
from keras_dae.core.errors import RunError, one_line_errors


def main(argv):
    f = flags.FLAGS
    with one_line_errors(flags.program_name(argv)):
        if len(argv) > 1:
            raise RunError(f"unexpected argument(s) {' '.join(argv[1:])!r}")
        for folder in filter(None, (f.run, f.compare)):  # Refused before TensorFlow loads (5 s).
            rundir.finished_run(folder)
        # The measuring stage (TensorFlow, the [train] install) loads once the folders are checked.
        from keras_dae import evaluation  # noqa: PLC0415 (bad folders are refused first)

        result = evaluation.evaluate(
            f.run, f.compare, f.ood_dir, f.data_dir, f.probe_epochs, f.allow_different_test_sets
        )
    print(
        f"wrote {evaluation.JSON}, {evaluation.MARKDOWN} and {', '.join(evaluation.FIGURES)} to "
        f"{f.run} in {result['seconds']:.0f} s"
    )


def run():
    """The `keras-dae-evaluate` command."""
    flags.run_command(main, flags.define_evaluate_flags, __doc__)


if __name__ == "__main__":
    run()
