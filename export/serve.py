"""Serve the export over TensorFlow Serving's REST API on KServe's model server:

    python -m export.serve --export_dir exports/dae [--runtime savedmodel|litert] [--port 8501]
        [--workers N]

POST /v1/models/dae:predict takes {"instances": ...} or {"inputs": ...} (signature_name
serving_default, encode or decode); GET /v1/models/dae reports readiness and the version."""

import logging
import socket
import sys

from absl import app
from absl.flags import adopt_module_key_flags

from keras_dae import flags
from keras_dae.core.errors import ExportError, one_line_errors

with one_line_errors("keras_dae.export.serve"):  # The base install has no kserve: one line.
    from kserve import ModelServer

    from keras_dae.export.serving import http_server, kserve_internals, routes, runtimes, workers
    from keras_dae.export.serving.admission import ByteBudget
    from keras_dae.export.serving.batching import Batcher
    from keras_dae.export.serving.bodies import Limits
    from keras_dae.export.serving.model import AutoencoderModel
    from keras_dae.export.serving.versions import VersionSource, VersionWatcher, settle

FLAGS = flags.FLAGS


def make_batcher() -> Batcher | None:
    """The batcher the flags ask for (on by default for the SavedModel only)."""
    enabled = FLAGS.enable_batching
    if enabled is None:
        enabled = FLAGS.runtime == "savedmodel"
    return Batcher(FLAGS.max_batch_size, FLAGS.batch_timeout_micros / 1e6) if enabled else None


def serve(prog: str, listening: socket.socket, index: int, respawned: bool) -> int:
    """One worker: loads the highest good version, watches the export and answers on
    `listening` until SIGTERM (then finishes the requests in flight and returns 0). A worker
    restarted after a death starts not ready when no version is left to serve."""
    try:
        threads = FLAGS.tensorflow_intra_op_parallelism, FLAGS.tensorflow_inter_op_parallelism
        load = runtimes.loader(FLAGS.runtime, FLAGS.variant, threads)
        settle()
        source = VersionSource(FLAGS.export_dir, load)
        served = source.best() if respawned else source.first()
    except ExportError as e:
        if index == 0:  # The other workers met the same problem.
            print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    model = AutoencoderModel(FLAGS.model_name, served, FLAGS.max_batch, make_batcher())
    server = ModelServer(http_port=FLAGS.port, enable_grpc=False, grace_period=FLAGS.grace_seconds)
    server.register_model(model)
    rest = kserve_internals.rest_app(server)
    routes.install(
        rest,
        model,
        Limits(FLAGS.max_body_bytes, FLAGS.read_timeout_seconds),
        ByteBudget(FLAGS.max_inflight_bytes or FLAGS.max_body_bytes, FLAGS.admission_wait_seconds),
        FLAGS.max_batch,
    )
    for logger in ("uvicorn.access", "kserve.trace"):  # A line (or two) per request.
        logging.getLogger(logger).disabled = not FLAGS.log_requests
    logging.getLogger("kserve").info(
        "worker %d serving %s version %s on port %d (%s)",
        index,
        FLAGS.export_dir,
        served.version if served is not None else "none (not ready)",
        listening.getsockname()[1],
        FLAGS.runtime,
    )
    VersionWatcher(source, served, model.swap, FLAGS.poll_seconds).start()
    http_server.run(
        rest, listening, FLAGS.read_timeout_seconds, FLAGS.max_connections, FLAGS.grace_seconds
    )
    return 0


def main(argv):
    prog = flags.program_name(argv)
    with one_line_errors(prog):
        if not FLAGS.export_dir or len(argv) > 1:
            raise ExportError("--export_dir is required and takes no arguments (see --help)")
        listening = workers.listen(FLAGS.port)
    sys.exit(
        workers.run(
            FLAGS.workers,
            lambda index, respawned: serve(prog, listening, index, respawned),
            FLAGS.max_worker_deaths_per_minute,
        )
    )


def run():
    """The `keras-dae-serve` command."""
    flags.define_serve_flags()
    adopt_module_key_flags(flags)
    app.run(main, flags_parser=flags.parse_or_exit)


if __name__ == "__main__":
    run()
