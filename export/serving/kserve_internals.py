"""Every use of KServe's private parts, fenced here, each with its reason; nothing else in the
server touches them. Checked against CHECKED_VERSIONS (tests/kserve_internals_test.py fails with
what to recheck when the installed kserve differs): recheck each use before changing the pin."""

import contextlib

from fastapi import FastAPI
from kserve import ModelServer
from kserve.model_server import FASTAPI_APP_IMPORT_STRING
from kserve.model_server import app as kserve_app
from kserve.protocol.rest.server import RESTServer
from timing_asgi import TimingMiddleware

# kserve, and the libraries whose internals streamline() rearranges under it.
CHECKED_VERSIONS = {"kserve": "0.21.0", "fastapi": "0.165.0", "starlette": "1.10.0"}


def fastapi_app() -> FastAPI:
    """KServe's module-global FastAPI app, which its REST server runs: the one place our routes,
    middleware and error handlers can be added (KServe has no public hook for them)."""
    return kserve_app


def rest_server(server: ModelServer, port: int, grace_seconds: int) -> RESTServer:
    """KServe's REST server of `server`, built by hand as `ModelServer.start` builds it: `start`
    binds its own socket and runs its own event loop, where forked workers must share one socket
    (`RESTServer.run(sockets=...)`, what KServe's own spawned workers run)."""
    return RESTServer(
        FASTAPI_APP_IMPORT_STRING,
        server.dataplane,
        server.model_repository_extension,
        port,
        grace_period=grace_seconds,
    )


def streamline(app: FastAPI, first_path: str) -> None:
    """At startup (KServe has added its routes and middleware by then): drops KServe's timing
    middleware, which matches every route again to name a log line that is off and calls
    getrusage twice per request (14% of a request's time in a profile), and tries the route
    `first_path` first (KServe registers 15 routes). Neither has a public switch."""
    lifespan = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def streamlined(scope_app):
        app.user_middleware = [m for m in app.user_middleware if m.cls is not TimingMiddleware]
        app.middleware_stack = None  # Built again, without it, at the first request.
        app.router.routes.sort(key=lambda route: getattr(route, "path", "") != first_path)
        async with lifespan(scope_app) as state:
            yield state

    app.router.lifespan_context = streamlined
