"""Exports a trained keras-dae model for serving and the edge, checked against Keras.

python -m export --model runs/DAE-CE-z10/model.keras --export_dir exports/dae
python -m export verify exports/dae      # every version exactly against its manifest.json
"""

import sys

from absl import app
from absl.flags import adopt_module_key_flags

import flags
from export import verify
from export.config import ExportConfig
from export.errors import ExportError
from keras_dae.data import DataError
from keras_dae.locking import FolderLocked
from keras_dae.rundir import RunError

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
    try:
        if argv[1:2] == ["verify"]:
            if len(argv) != 3:
                raise ExportError("usage: python -m export verify EXPORT_DIR")
            return verify_folder(argv[2])
        if len(argv) > 1:
            raise ExportError(f"unexpected argument(s) {' '.join(argv[1:])!r}")
        config = config_from_flags()
        # Imports TensorFlow: only once the flags are checked.
        from export.pipeline import export_model  # noqa: PLC0415 (bad flags fail before TensorFlow loads)

        report = export_model(config)
    except (ExportError, DataError, RunError, FolderLocked) as e:
        sys.exit(f"{prog}: error: {e}")
    from export.parity import markdown  # noqa: PLC0415 (bad flags fail before TensorFlow loads)

    print(markdown(report))
    print(f"published version {report['version']} in {config.export_dir}")


if __name__ == "__main__":
    flags.define_export_flags()
    adopt_module_key_flags(flags)
    app.run(main, flags_parser=flags.parse_or_exit)
