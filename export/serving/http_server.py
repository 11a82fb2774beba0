"""One worker's HTTP server: uvicorn (uvloop, httptools) serving the app on the socket the workers
share, and the worker's gRPC server in the same loop; its limits: at most --max_connections
connections or requests at once (more get uvicorn's 503), a header deadline, KServe's keep-alive,
a graceful stop."""

import asyncio
import signal
import socket
from collections.abc import Callable

import grpc
import uvicorn
import uvloop
from fastapi import FastAPI

from keras_dae.export.serving import kserve_internals

KEEP_ALIVE_S = 65  # KServe's: longer than the 60 s idle timeout of common load balancers.


def run(
    app: FastAPI,
    listening: socket.socket,
    read_timeout_s: float,
    max_connections: int,
    grace_s: int,
    make_grpc_server: Callable[[], grpc.aio.Server | None] = lambda: None,
) -> int | None:
    """Serves `app` on `listening`, and the gRPC server `make_grpc_server` builds (in the event
    loop, which grpc.aio binds it to) in the same loop, until SIGTERM or SIGINT (then both
    finish the requests in flight); returns that signal's number."""
    config = uvicorn.Config(
        app,
        http=kserve_internals.read_deadline(read_timeout_s),
        limit_concurrency=max_connections,
        timeout_keep_alive=KEEP_ALIVE_S,
        timeout_graceful_shutdown=grace_s,
        log_config=None,  # KServe has configured logging.
    )
    server = uvicorn.Server(config)

    async def serve():
        grpc_server = make_grpc_server()
        if grpc_server is None:
            return await server.serve(sockets=[listening])
        await grpc_server.start()

        async def stop_grpc_with_http():  # One grace period for both, not one after the other.
            while not server.should_exit:
                await asyncio.sleep(0.1)
            await grpc_server.stop(grace_s)

        stopping = asyncio.create_task(stop_grpc_with_http())
        try:
            await server.serve(sockets=[listening])
        finally:
            server.should_exit = True
            await stopping

    # uvicorn sends itself the signal it stopped for once its graceful stop is done: noted here,
    # not the default action (death), so that the gRPC server's graceful stop and the caller's
    # last words run too. One before uvicorn listens stops it as it starts.
    stopped_by = []

    def noted(signum, _):
        stopped_by.append(signum)
        server.should_exit = True

    before = {sig: signal.signal(sig, noted) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve())
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    return stopped_by[0] if stopped_by else None
