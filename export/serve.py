"""Serve exports over TensorFlow Serving's REST and gRPC APIs and the Open Inference Protocol on
KServe's model server:

    python -m export.serve --export_dir exports/dae | --model_config_file models.config
        [--runtime savedmodel|litert] [--port 8501] [--grpc_port 8500] [--workers N]
        [--grpc_server grpcio|envoy]

POST /v1/models/dae:predict takes {"instances": ...} or {"inputs": ...} (signature_name
serving_default, encode or decode); GET /v1/models/dae reports readiness and the versions;
/metrics and /monitoring/prometheus/metrics are Prometheus's text format."""

import atexit
import functools
import logging
import os
import shutil
import socket
import sys
import tempfile

from keras_dae import flags
from keras_dae.core.errors import ExportError, one_line_errors

# Read by prometheus_client at its first import (KServe's, below): its multiprocess mode would put
# a file write per value change back on every request (worker_metrics.py sums the workers).
for _name in ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir"):
    os.environ.pop(_name, None)

with one_line_errors(flags.program_name(sys.argv)):  # The base install has no kserve: one line.
    from kserve import ModelServer

    from keras_dae.export.serving import (
        envoy_worker,
        http_server,
        kserve_internals,
        model_config,
        routes,
        runtimes,
        tfs_grpc,
        v2,
        worker_metrics,
        workers,
    )
    from keras_dae.export.serving.admission import ByteBudget
    from keras_dae.export.serving.batching import Batcher, Infer, model_call
    from keras_dae.export.serving.model import AutoencoderModel
    from keras_dae.export.serving.repository import Repository, Watcher
    from keras_dae.export.serving.versions import settle

FLAGS = flags.FLAGS


def make_batcher() -> Batcher | None:
    """The batcher the flags ask for (on by default for the SavedModel only)."""
    enabled = FLAGS.enable_batching
    if enabled is None:
        enabled = FLAGS.runtime == "savedmodel"
    return Batcher(FLAGS.max_batch_size, FLAGS.batch_timeout_micros / 1e6) if enabled else None


def entries(config: model_config.ConfigFile | None) -> list[model_config.ModelEntry]:
    """The models to serve: the config file's, or --export_dir's newest version as --model_name."""
    if config is not None:
        return config.entries
    return [model_config.ModelEntry(FLAGS.model_name, FLAGS.export_dir, "latest")]


def load_models(
    config: model_config.ConfigFile | None, respawned: bool
) -> tuple[ModelServer, Infer, Repository]:
    """KServe's server (its data plane: the V2 APIs), the model call, and each model's versions
    loaded; ExportError when a model has none (a respawned worker's starts not ready instead)."""
    server = ModelServer(http_port=FLAGS.port, enable_grpc=False, grace_period=FLAGS.grace_seconds)
    infer = model_call(make_batcher(), FLAGS.runtime)
    threads = FLAGS.tensorflow_intra_op_parallelism, FLAGS.tensorflow_inter_op_parallelism
    load = runtimes.loader(FLAGS.runtime, FLAGS.variant, threads)
    settle()
    repository = Repository(
        server,
        load,
        lambda name: AutoencoderModel(name, FLAGS.max_batch, infer),
        FLAGS.allow_version_labels_for_unavailable_models,
    )
    repository.apply(entries(config), required=not respawned)
    return server, infer, repository


def add_grpc_services(target, repository: Repository, server: ModelServer, infer: Infer) -> None:
    """TF Serving's gRPC services and KServe's V2 one on `target` (a grpc.aio server, or
    grpc_asgi's app under Envoy)."""
    tfs_grpc.add_services(target, repository.lookup, infer, FLAGS.max_batch)
    kserve_internals.add_v2_grpc(
        target,
        server,
        functools.partial(v2.grpc_version_answer, repository.lookup),
        functools.partial(routes.count_v2_grpc_refusal, repository.lookup),
    )


def grpc_server(repository: Repository, server: ModelServer, infer: Infer):
    """The worker's grpc.aio server on --grpc_port (--grpc_server=grpcio; else None)."""
    if not FLAGS.grpc_port or FLAGS.grpc_server != "grpcio":
        return None
    aio_server = tfs_grpc.server(FLAGS.max_body_bytes)
    add_grpc_services(aio_server, repository, server, infer)
    aio_server.add_insecure_port(f"0.0.0.0:{FLAGS.grpc_port}")
    return aio_server


def serve(
    prog: str,
    listening: socket.socket,
    config: model_config.ConfigFile | None,
    metrics_dir: str,
    index: int,
    respawned: bool,
) -> int:
    """One worker: loads each model's versions, watches the exports (and the config file) and
    answers on `listening` (and --grpc_port with --grpc_server=grpcio) until SIGTERM (then
    finishes the requests in flight and returns 128 + its number, as a death by it reads). A
    worker restarted after a death starts not ready when no version is left."""
    try:
        server, infer, repository = load_models(config, respawned)
    except ExportError as e:
        if index == 0:  # The other workers met the same problem.
            print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    snapshots = worker_metrics.Snapshots(metrics_dir)
    rest = kserve_internals.rest_app(server)
    routes.install(
        rest,
        snapshots,
        repository.lookup,
        infer,
        FLAGS.max_body_bytes,
        ByteBudget(FLAGS.max_inflight_bytes or FLAGS.max_body_bytes, FLAGS.admission_wait_seconds),
        FLAGS.max_batch,
    )
    for logger in ("uvicorn.access", "kserve.trace"):  # A line (or two) per request.
        logging.getLogger(logger).disabled = not FLAGS.log_requests
    grpcio = FLAGS.grpc_port and FLAGS.grpc_server == "grpcio"
    for name, (model, _) in repository.models.items():
        logging.getLogger("kserve").info(
            "worker %d serving %s versions %s on port %d%s (%s)",
            index,
            name,
            sorted(model.servable.versions) if model.servable else "none (not ready)",
            listening.getsockname()[1],
            f", gRPC {FLAGS.grpc_port}" if grpcio else "",
            FLAGS.runtime,
        )
    Watcher(
        repository, config, FLAGS.poll_seconds, FLAGS.model_config_file_poll_wait_seconds
    ).start()
    snapshots.start()
    try:
        stopped_by = http_server.run(
            rest,
            listening,
            FLAGS.read_timeout_seconds,
            FLAGS.max_connections,
            FLAGS.grace_seconds,
            lambda: grpc_server(repository, server, infer),
        )
    finally:
        snapshots.stop()
    # As a signal's death reads (128 + n): the supervisor restarts a worker stopped by another.
    return 128 + stopped_by if stopped_by else 0


def main(argv):
    prog = flags.program_name(argv)
    with one_line_errors(prog):
        if bool(FLAGS.export_dir) == bool(FLAGS.model_config_file) or len(argv) > 1:
            raise ExportError(
                "one of --export_dir or --model_config_file is required, and no arguments "
                "(see --help)"
            )
        path = FLAGS.model_config_file
        config = model_config.ConfigFile(path) if path else None
        runtimes.check_installed(FLAGS.runtime)
        listening = workers.listen(FLAGS.port)
        if FLAGS.grpc_port:
            workers.check_free(FLAGS.grpc_port)
    metrics_dir = tempfile.mkdtemp(prefix="keras-dae-metrics-")  # The workers' snapshots.
    atexit.register(shutil.rmtree, metrics_dir, True)
    envoy = bool(FLAGS.grpc_port) and FLAGS.grpc_server == "envoy"

    def worker(index: int, respawned: bool) -> int:
        if index < FLAGS.workers:
            return serve(prog, listening, config, metrics_dir, index, respawned)
        listening.close()  # Not Envoy's: the HTTP workers' connections only.
        settings = {"argv": sys.argv, "metrics_dir": metrics_dir, "respawned": respawned}
        return envoy_worker.serve(
            FLAGS.grpc_port, settings, FLAGS.grace_seconds, FLAGS.read_timeout_seconds
        )

    sys.exit(
        workers.run(
            FLAGS.workers + envoy,
            worker,
            FLAGS.max_worker_deaths_per_minute,
            lambda pid: worker_metrics.fold(metrics_dir, pid),
        )
    )


def run():
    """The `keras-dae-serve` command."""
    flags.run_command(main, flags.define_serve_flags, __doc__)


if __name__ == "__main__":
    run()
