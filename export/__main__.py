"""Exports a trained keras-dae model for serving and the edge, checked against Keras.

python -m export --model runs/DAE-CE-z10/model.keras --export_dir exports/dae
python -m export verify exports/dae      # every version exactly against its manifest.json

`verify` needs no TensorFlow (the base install); the export itself runs export.convert ([train])."""

import sys

from keras_dae import flags
from keras_dae.core.errors import ExportError, one_line_errors
from keras_dae.export import parity, verify
from keras_dae.export.config import ExportConfig

FLAGS = flags.FLAGS


def verify_folder(export_dir: str) -> None:
    """Prints one line per problem (exit 1), or the one line saying all is well."""
    problems = verify.problems(export_dir)
    for problem in problems:
        print(f"{export_dir}: {problem}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"{export_dir}: {verify.summary(export_dir)}")


def config_from_flags() -> ExportConfig:
    return ExportConfig(
        model=FLAGS.model,
        export_dir=FLAGS.export_dir,
        data_dir=FLAGS.data_dir,
        float_tolerance=FLAGS.float_tolerance,
        int8_tolerance=FLAGS.int8_tolerance,
        calibration_examples=FLAGS.calibration_examples,
        num_threads=FLAGS.num_threads,
        latency_invokes=FLAGS.latency_invokes,
        seed=FLAGS.seed,
    )


def main(argv):
    prog = flags.program_name(argv)
    with one_line_errors(prog):
        if argv[1:2] == ["verify"]:
            if len(argv) != 3:
                raise ExportError(f"usage: {prog} verify EXPORT_DIR")
            return verify_folder(argv[2])
        if len(argv) > 1:
            raise ExportError(f"unexpected argument(s) {' '.join(argv[1:])!r}")
        config = config_from_flags()
        # The conversion stage (TensorFlow, [train]) loads once the flags are checked; `verify`
        # runs without it.
        from keras_dae.export.convert.pipeline import export_model  # noqa: PLC0415 (verify needs no TensorFlow)

        report = export_model(config)
    print(parity.markdown(report))
    print(f"published version {report['version']} in {config.export_dir}")


def run():
    """The `keras-dae-export` command."""
    flags.run_command(main, flags.define_export_flags, __doc__)


if __name__ == "__main__":
    run()
