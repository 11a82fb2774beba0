"""Serve exports over TensorFlow Serving's REST and gRPC APIs and the Open Inference Protocol on
KServe's model server:

    python -m export.serve --export_dir exports/dae | --model_config_file models.config
        [--runtime savedmodel|litert] [--port 8501] [--grpc_port 8500] [--workers N]
        [--grpc_server grpcio|envoy [--grpc_workers N]]

POST /v1/models/dae:predict takes {"instances": ...} or {"inputs": ...} (signature_name
serving_default, encode or decode); GET /v1/models/dae reports readiness and the versions;
/metrics and /monitoring/prometheus/metrics are Prometheus's text format."""

import sys

from keras_dae import flags
from keras_dae.core.errors import ExportError, one_line_errors

FLAGS = flags.FLAGS


def main(argv):
    prog = flags.program_name(argv)
    with one_line_errors(prog):
        if bool(FLAGS.export_dir) == bool(FLAGS.model_config_file) or len(argv) > 1:
            raise ExportError(
                "one of --export_dir or --model_config_file is required, and no arguments "
                "(see --help)"
            )
        if FLAGS.grpc_workers != 1 and not (FLAGS.grpc_port and FLAGS.grpc_server == "envoy"):
            raise ExportError("--grpc_workers takes --grpc_server=envoy and a --grpc_port")
        # The server after --help and the flags' checks: in the base install, which has none
        # of [serve]'s modules, their import fails here in one line.
        from keras_dae.export.serving import server  # noqa: PLC0415 (after --help)
    sys.exit(server.run(prog))


def run():
    """The `keras-dae-serve` command."""
    flags.run_command(main, flags.define_serve_flags, __doc__)


if __name__ == "__main__":
    run()
