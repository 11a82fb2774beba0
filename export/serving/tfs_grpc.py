"""TensorFlow Serving's gRPC API for grpc.aio (or grpc_asgi.py under Envoy): PredictionService
(Predict, GetModelMetadata) and ModelService (GetModelStatus), over the same servables, checks
and one-line messages as REST; INVALID_ARGUMENT, NOT_FOUND, and RESOURCE_EXHAUSTED for a message
over the limit (grpc's own); UNIMPLEMENTED, with a line why, for the calls not served. On grpc.aio
each message is parsed in its handler (ParsedInHandler): one that does not parse is INTERNAL."""

import asyncio
import inspect
import logging
import time
from collections.abc import Callable

import grpc
from kserve.errors import InvalidInput, ModelNotFound

from keras_dae.export.serving import grpc_asgi, grpc_protocol, kserve_internals, metrics
from keras_dae.export.serving.batching import Infer
from keras_dae.export.serving.servables import Servable
from keras_dae.export.serving.served import Served
from keras_dae.export.serving.tfs_protos import (
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)

Lookup = Callable[[str], Servable]  # A model's servable by name; NotFound for none.
CODES = (
    (InvalidInput, grpc.StatusCode.INVALID_ARGUMENT),
    (ModelNotFound, grpc.StatusCode.NOT_FOUND),
)
logger = logging.getLogger("kserve")


class Answering:
    """Runs one RPC: its metrics, and its errors as status codes with their one line. The
    metrics name only what was found (a model, version, signature served): the client's own
    names would add a series each, for as long as the server runs."""

    def __init__(self, api: str, spec, context):
        self.api, self.spec, self.context = api, spec, context
        self.model, self.version = "", ""
        default = grpc_protocol.DEFAULT_SIGNATURE
        self.signature = default if spec.signature_name in ("", default) else ""  # Until parsed.
        self.start = time.perf_counter()

    def pick(self, lookup: Lookup) -> tuple[Servable, Served]:
        """The servable and version the ModelSpec names (number, label, or the highest)."""
        servable = lookup(self.spec.name)
        self.model = servable.name
        version = self.spec.version.value if self.spec.HasField("version") else None
        served = servable.pick(version, self.spec.version_label or None)
        self.version = str(served.version)
        return servable, served

    async def __aenter__(self):
        return self

    async def __aexit__(self, kind, error, _):
        status, late = grpc.StatusCode.OK, False
        if isinstance(error, asyncio.CancelledError):  # The client's deadline, or it went away.
            status = grpc_protocol.ended_status(self.context)
        elif error is None and grpc_protocol.expired(self.context):
            # Answered late: a model call that never yields (LiteRT's) outran the deadline, and
            # its answer was sent OK (under Envoy) and counted OK (both) where grpc says it ended.
            status, late = grpc.StatusCode.DEADLINE_EXCEEDED, True
        elif error is not None:
            status = next((c for k, c in CODES if isinstance(error, k)), grpc.StatusCode.INTERNAL)
        if self.api == "predict":
            metrics.labelled(
                metrics.REQUESTS, self.model, self.version, self.signature, "grpc", status.name
            ).inc()
        metrics.labelled(metrics.REQUEST_LATENCY, self.model, self.api, "GRPC").observe(
            (time.perf_counter() - self.start) * 1e6
        )
        if late:
            await self.context.abort(status, grpc_asgi.DEADLINE_EXCEEDED)
        if error is None or isinstance(error, (grpc.aio.AbortError, asyncio.CancelledError)):
            return False  # Answered, or nobody waits for the answer (no log: not a failure).
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        if status is grpc.StatusCode.INTERNAL:
            logger.error("gRPC %s failed: %s: %s", self.api, type(error).__name__, message)
        else:
            logger.warning("client error: %s", message)
        await self.context.abort(status, message)


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, lookup: Lookup, infer: Infer, max_batch: int):
        self.lookup, self.infer, self.max_batch = lookup, infer, max_batch

    async def Predict(self, request, context):
        async with Answering("predict", request.model_spec, context) as rpc:
            servable, served = rpc.pick(self.lookup)
            if request.model_spec.signature_name in served.signatures:
                rpc.signature = request.model_spec.signature_name  # Counted, if it fails too.
            signature, x = grpc_protocol.parse(request, served.signatures, self.max_batch)
            rpc.signature = signature.name
            outputs = await self.infer(served, signature.name, x)
            return grpc_protocol.response(signature, outputs, servable.name, served.version)

    async def GetModelMetadata(self, request, context):
        async with Answering("metadata", request.model_spec, context) as rpc:
            grpc_protocol.check_metadata_fields(request.metadata_field)  # Before the lookup.
            servable, served = rpc.pick(self.lookup)
            return grpc_protocol.metadata_response(servable.name, served.version, served.signatures)

    async def _no_such_signatures(self, request, context, verb: str):
        spec = request.model_spec
        async with Answering(verb, spec, context) as rpc:
            servable, _ = rpc.pick(self.lookup)
            raise InvalidInput(grpc_protocol.no_signature_of(verb, servable.name))

    async def Classify(self, request, context):
        return await self._no_such_signatures(request, context, "classify")

    async def Regress(self, request, context):
        return await self._no_such_signatures(request, context, "regress")

    async def MultiInference(self, request, context):  # Generated code's logged a traceback.
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED,
            "MultiInference runs classify and regress signatures; this server's models have "
            f"predict signatures only ({grpc_protocol.PREDICT_METHOD}): use Predict",
        )


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, lookup: Lookup):
        self.lookup = lookup

    async def GetModelStatus(self, request, context):
        async with Answering("status", request.model_spec, context) as rpc:
            servable, served = rpc.pick(self.lookup)
            picked = request.model_spec.HasField("version") or request.model_spec.version_label
            return grpc_protocol.status_response(
                [served.version] if picked else list(servable.versions)
            )

    async def HandleReloadConfigRequest(self, request, context):  # As MultiInference.
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED,
            "HandleReloadConfigRequest is not served: the server applies --model_config_file "
            "itself when the file changes",
        )


def add_services(target, lookup: Lookup, infer: Infer, max_batch: int) -> None:
    """Both services on `target`: a grpc.aio server, or grpc_asgi's app (their generated code
    registers them on either)."""
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(lookup, infer, max_batch), target
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(lookup), target)


class ParsedInHandler(grpc.GenericRpcHandler):
    """What generated code registers on a grpc.aio `server`, each unary method's message parsed
    in its handler: one that does not parse is INTERNAL in grpc's words and told to `refused`,
    as under Envoy (grpc.aio logged a traceback, answered UNKNOWN and counted nothing)."""

    def __init__(self, server: grpc.aio.Server, refused: grpc_asgi.Refused):
        self.server, self.refused = server, refused
        self.generic: list[grpc.GenericRpcHandler] = []
        self.found: dict[str, grpc.RpcMethodHandler] = {}
        server.add_generic_rpc_handlers((self,))

    def add_generic_rpc_handlers(self, handlers) -> None:
        self.generic.extend(handlers)

    def add_registered_method_handlers(self, service: str, handlers: dict) -> None:
        self.server.add_registered_method_handlers(
            service, {name: self._parsing(f"/{service}/{name}", h) for name, h in handlers.items()}
        )

    def service(self, details):
        """The generic handlers' method of `details`, parsing in it (kept per method found)."""
        method = details.method
        if method not in self.found:
            handler = next(filter(None, (g.service(details) for g in self.generic)), None)
            if handler is None:
                return None  # A client's made-up method: not kept.
            self.found[method] = self._parsing(method, handler)
        return self.found[method]

    def _parsing(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """`handler` parsing its message itself: a unary coroutine's (grpc.aio runs any other
        kind, a synchronous one in its executor, as it was)."""
        run = handler.unary_unary
        if handler.request_streaming or handler.response_streaming:
            return handler
        if not inspect.iscoroutinefunction(run):
            return handler
        parse = handler.request_deserializer

        async def unary_unary(message: bytes, context):
            try:
                request = parse(message)
            except Exception:  # noqa: BLE001  (a message that is not the method's)
                self.refused(method, grpc.StatusCode.INTERNAL)
                await context.abort(grpc.StatusCode.INTERNAL, grpc_asgi.DESERIALIZING)
            return await run(request, context)

        return grpc.unary_unary_rpc_method_handler(
            unary_unary, response_serializer=handler.response_serializer
        )


class UnsentAnswers(logging.Filter):
    """grpc.aio logs a traceback (ExecuteBatchError) for an answer it could not send: its client
    cancelled after the servicer answered (a probe: 6-14 of them over 8,000 cancels). The call
    was counted as it ended; nothing is left to log."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, kserve_internals.UNSENT_ANSWER)


UNSENT_ANSWERS = UnsentAnswers()


def server(max_message_bytes: int) -> grpc.aio.Server:
    """A grpc.aio server for the services (not started; services and a port still to add). Each
    forked worker binds the same port: grpc sets SO_REUSEPORT, and the kernel spreads the
    connections."""
    logging.getLogger(kserve_internals.GRPC_AIO_LOGGER).addFilter(UNSENT_ANSWERS)  # Once.
    options = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", -1),
    ]
    return grpc.aio.server(options=options)
