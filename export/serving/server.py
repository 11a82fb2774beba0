"""The server's processes: the supervisor (export/serve.py's command, once its flags are
checked) forks the HTTP workers, each KServe's server on the shared port (and grpc.aio's on
--grpc_port), and with --grpc_server=envoy the gRPC workers; it restarts any that dies."""

import atexit
import json
import logging
import os
import shutil
import socket
import sys
import tempfile
from typing import TYPE_CHECKING

from keras_dae import flags
from keras_dae.core import durable
from keras_dae.core.errors import ExportError, one_line_errors
from keras_dae.export.serving import (
    envoy_worker,
    http_server,
    kserve_internals,
    loading,
    model_config,
    refusals,
    routes,
    runtimes,
    tfs_grpc,
    worker_metrics,
    workers,
)
from keras_dae.export.serving.admission import ByteBudget
from keras_dae.export.serving.batching import Infer
from keras_dae.export.serving.repository import Repository, Watcher

if TYPE_CHECKING:  # Types only: kserve's first import comes after the serving package has set
    # prometheus_client up.
    import grpc
    from kserve import ModelServer

FLAGS = flags.FLAGS


def grpc_server(
    repository: Repository, server: "ModelServer", infer: Infer
) -> "grpc.aio.Server | None":
    """The worker's grpc.aio server on --grpc_port (--grpc_server=grpcio; else None)."""
    if not FLAGS.grpc_port or FLAGS.grpc_server != "grpcio":
        return None
    aio_server = tfs_grpc.server(FLAGS.max_body_bytes)
    registry = tfs_grpc.ParsedInHandler(aio_server, refusals.count_grpc_refusal)
    loading.add_grpc_services(registry, repository, server, infer)
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
        server, infer, repository = loading.load_models(config, respawned)
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
    ports = f"port {listening.getsockname()[1]}" + (f", gRPC {FLAGS.grpc_port}" if grpcio else "")
    loading.log_serving(repository, f"worker {index}", ports)
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


def run(prog: str) -> int:
    """The server, on flags checked by the command: its exit status."""
    with one_line_errors(prog):
        path = FLAGS.model_config_file
        config = model_config.ConfigFile(path) if path else None
        runtimes.check_installed(FLAGS.runtime)
        listening = workers.listen(FLAGS.port)
        if FLAGS.grpc_port:
            workers.check_free(FLAGS.grpc_port)
    metrics_dir = tempfile.mkdtemp(prefix="keras-dae-metrics-")  # The workers' snapshots.
    atexit.register(shutil.rmtree, metrics_dir, True)
    envoy = FLAGS.grpc_workers if FLAGS.grpc_port and FLAGS.grpc_server == "envoy" else 0
    config_state = None  # The config as read here, for Envoy's gRPC workers: what HTTP ones use.
    if config is not None and envoy:
        config_state = os.path.join(tempfile.mkdtemp(prefix="keras-dae-config-"), "state.json")
        atexit.register(shutil.rmtree, os.path.dirname(config_state), True)
        durable.write_text(config_state, json.dumps(config.state()))  # Not an environment
        # variable: Linux takes 128 KiB in one, and a config can be larger.

    def worker(index: int, respawned: bool) -> int:
        if index < FLAGS.workers:
            return serve(prog, listening, config, metrics_dir, index, respawned)
        listening.close()  # Not Envoy's: the HTTP workers' connections only.
        settings = {
            "argv": sys.argv,
            "index": index,
            "metrics_dir": metrics_dir,
            "respawned": respawned,
            "model_config_state": config_state,
        }
        return envoy_worker.serve(
            FLAGS.grpc_port, settings, FLAGS.grace_seconds, FLAGS.read_timeout_seconds
        )

    return workers.run(
        FLAGS.workers + envoy,
        worker,
        FLAGS.max_worker_deaths_per_minute,
        lambda pid: worker_metrics.fold(metrics_dir, pid),
    )
