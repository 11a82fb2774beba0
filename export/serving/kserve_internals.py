"""Every use of the private parts of the serving stack, KServe's, the uvicorn under it, pyvoy's
and grpcio's, fenced here, each with its reason; nothing else in the server touches them.
Checked against CHECKED_VERSIONS (tests/kserve_internals_test.py fails with what to recheck when
an installed version differs): recheck each use before changing a pin."""

import warnings
from collections.abc import Callable

import grpc
from fastapi import FastAPI
from fastapi.exceptions import FastAPIDeprecationWarning
from kserve import ModelServer
from kserve.model_server import FASTAPI_APP_IMPORT_STRING
from kserve.model_server import app as kserve_app
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc
from kserve.protocol.grpc.interceptors import ExceptionToStatusInterceptor
from kserve.protocol.grpc.servicer import InferenceServicer
from kserve.protocol.rest.server import RESTServer
from pyvoy import PyvoyServer
from starlette.routing import BaseRoute
from timing_asgi import TimingMiddleware
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from keras_dae.export.serving import protocol, v2

# kserve, and the libraries whose internals this module rearranges under it.
CHECKED_VERSIONS = {
    "kserve": "0.21.0",
    "fastapi": "0.165.0",
    "starlette": "1.10.0",
    "uvicorn": "0.54.0",
    "pyvoy": "1.3.0",
    "grpcio": "1.85.3",
}

# grpc.aio's error for an answer it could not send (its client gone), which it logs with a
# traceback on its module's logger; neither is public.
UNSENT_ANSWER = grpc._cython.cygrpc.ExecuteBatchError
GRPC_AIO_LOGGER = grpc._cython.cygrpc._LOGGER.name


def rest_app(server: ModelServer) -> FastAPI:
    """KServe's module-global FastAPI app with `server`'s routes, error handlers and middleware,
    as `RESTServer.run` builds it before serving (KServe has no public way to get the app, nor
    to serve it on a socket shared by forked workers), less KServe's timing middleware, which
    matched every route again to name a log line that is off and called getrusage twice per
    request (14% of a request's time in a profile)."""
    # KServe 0.21 answers with FastAPI's deprecated ORJSONResponse: two warning lines in the log
    # at each worker's first request, nothing the operator can act on.
    warnings.filterwarnings("ignore", category=FastAPIDeprecationWarning)
    RESTServer(
        FASTAPI_APP_IMPORT_STRING,
        server.dataplane,
        server.model_repository_extension,
        http_port=0,  # Unused: RESTServer's own uvicorn server is never run.
    ).create_application()
    kserve_app.user_middleware = [
        m for m in kserve_app.user_middleware if m.cls is not TimingMiddleware
    ]
    return kserve_app


# (method name, request, error) of each V2 gRPC call that raised: to count what never reached
# a model.
Refused = Callable[[str, object, Exception], None]
# (method name, request): the answer to give instead of KServe's, or None (KServe answers); an
# exception it raises is answered as KServe's own.
Before = Callable[[str, object], object]


class _V2Errors:
    """KServe's V2 servicer with KServe's gRPC error mapping (InvalidInput: INVALID_ARGUMENT,
    ModelNotFound: NOT_FOUND, ...) applied around each of its methods, as KServe's interceptor
    applies it, and `before` each. Not as a server interceptor: any grpc_interceptor one costs
    every RPC of the server, TF Serving's included (a pass-through one 20% of a no-op server's
    throughput)."""

    def __init__(self, servicer: InferenceServicer, before: Before, refused: Refused):
        self.servicer, self.before, self.refused = servicer, before, refused
        self.errors = ExceptionToStatusInterceptor()

    def __getattr__(self, name: str):
        method = getattr(self.servicer, name)
        method_name = f"/inference.GRPCInferenceService/{name}"

        async def call(request, context):
            v2.GRPC_CONTEXT.set(context)  # This call's task's own.
            try:
                answer = self.before(name, request)
                return answer if answer is not None else await method(request, context)
            except Exception as e:
                self.refused(name, request, e)
                raise

        async def mapped(request, context):
            return await self.errors.intercept(call, request, context, method_name)

        return mapped


def add_v2_grpc(grpc_server, server: ModelServer, before: Before, refused: Refused) -> None:
    """KServe's own `inference.GRPCInferenceService` on `grpc_server` (ours, beside TF Serving's
    services on --grpc_port): KServe builds its servicer only inside its GRPCServer, which binds
    its own port and cannot share one between forked workers."""
    servicer = InferenceServicer(server.dataplane, server.model_repository_extension)
    grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
        _V2Errors(servicer, before, refused), grpc_server
    )


def first_routes(app: FastAPI, first: Callable[[BaseRoute], bool]) -> None:
    """Tries the routes `first` picks before the others, which are tried in the order they were
    added (KServe's, in routers FastAPI includes whole, come first, one of them on the status
    route's path; FastAPI has no insert)."""
    app.router.routes.sort(key=lambda route: not first(route))


def read_deadline(read_timeout_s: float) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with the read timeout uvicorn lacks (500 clients that sent half
    a header held their connections for the whole test): a request, header and body, must
    arrive within `read_timeout_s` of the connection, or of its first byte on a kept-alive one;
    then 408 with one line when no answer has begun, and the connection is closed. Armed and
    disarmed in the parser's callbacks, once a request (an ASGI-level asyncio.timeout cost 50 us
    a request)."""

    def expired(what: str) -> bytes:
        body = protocol.error_body(
            f"request {what} not received within {read_timeout_s:g} s (--read_timeout_seconds)"
        )
        return (
            b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
            b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
        )

    answers = {"header": expired("header"), "body": expired("body")}

    class ReadDeadline(HttpToolsProtocol):
        deadline = None
        reading = "header"

        def connection_made(self, transport):
            super().connection_made(transport)
            self._arm()

        def on_message_begin(self):
            super().on_message_begin()
            self.reading = "header"
            self._arm()

        def on_headers_complete(self):
            self.reading = "body"
            super().on_headers_complete()

        def on_message_complete(self):
            self._disarm()
            super().on_message_complete()

        def connection_lost(self, exc):
            self._disarm()
            super().connection_lost(exc)

        def _arm(self):
            if self.deadline is None:
                self.deadline = self.loop.call_later(read_timeout_s, self._expired)

        def _disarm(self):
            if self.deadline is not None:
                self.deadline.cancel()
                self.deadline = None

        def _expired(self):
            self.deadline = None
            if self.transport.is_closing():
                return
            cycle = self.cycle  # The request whose body is late, or the one before a late header.
            if (
                cycle is None
                or cycle.response_complete
                or (self.reading == "body" and not cycle.response_started)
            ):
                self.transport.write(answers[self.reading])
            self.transport.close()

    return ReadDeadline


def envoy_admin_address(server: PyvoyServer) -> str:
    """The host:port of the started Envoy's admin API (its listener drain and stats, for the gRPC
    worker's graceful stop): pyvoy reads it at start and keeps it, but has no public accessor."""
    return server._admin_address  # noqa: SLF001
