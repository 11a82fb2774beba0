"""One worker's HTTP server: uvicorn (uvloop, httptools) serving the app on the socket the workers
share, with its limits: at most --max_connections connections or requests at once (more get
uvicorn's 503), a header deadline, KServe's keep-alive, a graceful stop."""

import socket

import uvicorn
from fastapi import FastAPI

from keras_dae.export.serving import kserve_internals

KEEP_ALIVE_S = 65  # KServe's: longer than the 60 s idle timeout of common load balancers.


def run(
    app: FastAPI,
    listening: socket.socket,
    read_timeout_s: float,
    max_connections: int,
    grace_s: int,
) -> None:
    """Serves `app` on `listening` until SIGTERM (then finishes the requests in flight)."""
    config = uvicorn.Config(
        app,
        http=kserve_internals.header_deadline(read_timeout_s),
        limit_concurrency=max_connections,
        timeout_keep_alive=KEEP_ALIVE_S,
        timeout_graceful_shutdown=grace_s,
        log_config=None,  # KServe has configured logging.
    )
    uvicorn.Server(config).run(sockets=[listening])
