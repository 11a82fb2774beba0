"""Exports a trained keras-dae model for serving and the edge, checked against Keras.

    python -m export --model runs/DAE-CE-z10/model.keras --export_dir exports/dae
    python -m export verify exports/dae      # check every file against manifest.json
"""

import sys

from absl import app
from absl.flags import adopt_module_key_flags

import flags
from export.errors import ExportError
from keras_dae.data import DataError

FLAGS = flags.FLAGS


def verify(export_dir: str) -> None:
    from export import manifest

    problems = manifest.verify(export_dir)
    for problem in problems:
        print(f"{export_dir}: {problem}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"{export_dir}: every file matches manifest.json")


def main(argv):
    prog = flags.program_name(argv)
    try:
        if argv[1:2] == ["verify"]:
            if len(argv) != 3:
                sys.exit(f"{prog}: error: usage: python -m export verify EXPORT_DIR")
            return verify(argv[2])
        if len(argv) > 1:
            sys.exit(f"{prog}: error: unexpected argument(s) {' '.join(argv[1:])!r}")
        if not FLAGS.model or not FLAGS.export_dir:
            sys.exit(f"{prog}: error: --model and --export_dir are required (see --help)")
        from export.pipeline import export_model

        report = export_model(FLAGS.model, FLAGS.export_dir, FLAGS.data_dir,
                              FLAGS.float_tolerance, FLAGS.int8_tolerance,
                              FLAGS.calibration_examples, FLAGS.num_threads,
                              FLAGS.latency_invokes)
    except (ExportError, DataError) as e:
        sys.exit(f"{prog}: error: {e}")
    from export.parity import markdown

    print(markdown(report))
    print(f"published version {report['version']} in {FLAGS.export_dir}")


if __name__ == "__main__":
    flags.define_export_flags()
    adopt_module_key_flags(flags)
    app.run(main, flags_parser=flags.parse_or_exit)
