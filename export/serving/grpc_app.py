"""The ASGI app the gRPC worker's Envoy imports (--grpc_server=envoy, started by envoy_worker.py):
TF Serving's gRPC services and KServe's V2 one over the models this process loads and watches
itself, as an HTTP worker does, its counts in the workers' metrics folder. Its settings, from the
supervisor in envoy_worker.ENV: the server's argv, the worker's number, the metrics folder,
whether it is a respawn, where the supervisor left the config file as it read it."""

import ctypes
import json
import logging
import os
import signal
import sys

from keras_dae import flags
from keras_dae.core.errors import ExportError
from keras_dae.export.serving import (
    grpc_asgi,
    loading,
    model_config,
    refusals,
    worker_metrics,
    workers,
)
from keras_dae.export.serving.envoy_worker import ENV
from keras_dae.export.serving.repository import Watcher

SETTINGS = json.loads(os.environ.get(ENV, "{}")) or {
    "argv": ["grpc_app"],
    "index": 0,
    "respawned": False,
}
FLAGS = flags.FLAGS
_snapshots: list[worker_metrics.Snapshots] = []  # Its last counts written at shutdown.


def _config_state() -> dict | None:
    """The config as the supervisor read it; None (the file read again) once its copy is gone
    (a /tmp cleaner's, months on)."""
    try:
        with open(SETTINGS.get("model_config_state") or "") as f:
            return json.load(f)
    except OSError:
        return None


def startup() -> None:
    """Loads the models and adds the services; SystemExit (the app does not start, Envoy ends)
    when a model cannot be served, said in one line by a respawned worker (at the server's
    start the first HTTP worker says it)."""
    # Envoy ends with its worker, at once: after SIGTERM it took ~1 s, its listener meanwhile
    # taking its SO_REUSEPORT share of new connections only to reset them.
    ctypes.CDLL(None).prctl(workers.PR_SET_PDEATHSIG, signal.SIGKILL)
    flags.define_serve_flags()
    FLAGS(SETTINGS["argv"])
    try:
        path = FLAGS.model_config_file
        config = model_config.ConfigFile(path, _config_state()) if path else None
        server, infer, repository = loading.load_models(config, SETTINGS["respawned"])
    except ExportError as e:
        if SETTINGS["respawned"]:
            print(f"{flags.program_name(SETTINGS['argv'])}: error: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    app.max_message_bytes = FLAGS.max_body_bytes
    loading.add_grpc_services(app, repository, server, infer)
    logging.getLogger("kserve").addFilter(refusals.OneLineClientErrors())  # As the HTTP workers.
    worker = f"gRPC worker {SETTINGS['index']} (Envoy)"  # As the supervisor numbers it.
    loading.log_serving(repository, worker, f"gRPC port {FLAGS.grpc_port}")
    snapshots = worker_metrics.Snapshots(SETTINGS["metrics_dir"])
    Watcher(
        repository,
        config,
        FLAGS.poll_seconds,
        FLAGS.model_config_file_poll_wait_seconds,
    ).start()
    snapshots.start()
    _snapshots.append(snapshots)


def shutdown() -> None:
    """The last counts written (Envoy runs this at its stop, after the worker's drain)."""
    for snapshots in _snapshots:
        snapshots.stop()


# grpc's default message limit until startup sets --max_body_bytes.
app = grpc_asgi.Server(4 << 20, startup, shutdown, refusals.count_grpc_refusal)
