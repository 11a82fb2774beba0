"""The ASGI app the gRPC worker's Envoy imports (--grpc_server=envoy, started by envoy_worker.py):
TF Serving's gRPC services and KServe's V2 one over the models this process loads and watches
itself, as an HTTP worker does, its counts in the workers' metrics folder. Its settings, from the
supervisor in envoy_worker.ENV: the server's argv, the metrics folder, whether it is a respawn."""

import ctypes
import json
import logging
import os
import signal
import sys

from keras_dae import flags
from keras_dae.core.errors import ExportError
from keras_dae.export import serve
from keras_dae.export.serving import grpc_asgi, model_config, routes, worker_metrics
from keras_dae.export.serving.envoy_worker import ENV
from keras_dae.export.serving.repository import Watcher

SETTINGS = json.loads(os.environ.get(ENV, "{}")) or {"argv": ["grpc_app"], "respawned": False}
PR_SET_PDEATHSIG = 1
_snapshots: list[worker_metrics.Snapshots] = []  # Its last counts written at shutdown.


def startup() -> None:
    """Loads the models and adds the services; SystemExit (the app does not start, Envoy ends)
    when a model cannot be served, said in one line by a respawned worker (at the server's
    start the first HTTP worker says it)."""
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)  # Envoy ends with its worker.
    flags.define_serve_flags()
    serve.FLAGS(SETTINGS["argv"])
    try:
        path = serve.FLAGS.model_config_file
        config = model_config.ConfigFile(path) if path else None
        server, infer, repository = serve.load_models(config, SETTINGS["respawned"])
    except ExportError as e:
        if SETTINGS["respawned"]:
            print(f"{flags.program_name(SETTINGS['argv'])}: error: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    app.max_message_bytes = serve.FLAGS.max_body_bytes
    serve.add_grpc_services(app, repository, server, infer)
    logging.getLogger("kserve").addFilter(routes.OneLineClientErrors())  # As the HTTP workers.
    for name, (model, _) in repository.models.items():
        logging.getLogger("kserve").info(
            "gRPC worker serving %s versions %s on gRPC port %d (Envoy; %s)",
            name,
            sorted(model.servable.versions) if model.servable else "none (not ready)",
            serve.FLAGS.grpc_port,
            serve.FLAGS.runtime,
        )
    snapshots = worker_metrics.Snapshots(SETTINGS["metrics_dir"])
    Watcher(
        repository,
        config,
        serve.FLAGS.poll_seconds,
        serve.FLAGS.model_config_file_poll_wait_seconds,
    ).start()
    snapshots.start()
    _snapshots.append(snapshots)


def shutdown() -> None:
    """The last counts written (Envoy runs this at its stop, after the worker's drain)."""
    for snapshots in _snapshots:
        snapshots.stop()


app = grpc_asgi.Server(4 << 20, startup, shutdown)  # grpc's default limit, until startup.
