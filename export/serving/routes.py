"""What KServe's FastAPI app gets besides its V1 and V2 routes: TF Serving's model status (every
served version, 503 while none is), the rest of TF Serving's REST API, the metrics at KServe's and
TF Serving's paths, the request bodies' middleware (its refusals of predicts counted), V2 URLs
naming a version, `{"error": ...}` bodies for every HTTP error, and client errors logged as one
line instead of a traceback."""

import asyncio
import functools
import logging
import re

import grpc
from fastapi import FastAPI
from kserve.errors import InvalidInput, ModelNotFound, ModelNotReady
from starlette.exceptions import HTTPException
from starlette.responses import Response

from keras_dae.export.serving import (
    kserve_internals,
    metrics,
    protocol,
    tfs_rest,
    v2,
    worker_metrics,
)
from keras_dae.export.serving.admission import ByteBudget
from keras_dae.export.serving.batching import Infer
from keras_dae.export.serving.bodies import RequestBodies
from keras_dae.export.serving.model import NOT_READY, VERSION_HEADER
from keras_dae.export.serving.servables import Servable
from keras_dae.export.serving.tfs_grpc import Lookup

CLIENT_ERRORS = (InvalidInput, ModelNotFound)
STATUS_PATH = "/v1/models/{model_name}"
METRICS_PATHS = ("/metrics", "/monitoring/prometheus/metrics")  # KServe's, TF Serving's.
# Each predict URL's protocol in the metrics, and its model name and version (if it names one).
PREDICT_URLS = (
    ("rest", re.compile(r"/v1/models/([^/:]+)(?:/versions/([^/:]+)|/labels/[^/:]+)?:predict")),
    ("v2_rest", re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?/infer")),
)

GRPC_PREDICT_METHODS = {  # Each gRPC predict method's protocol in the metrics.
    "/tensorflow.serving.PredictionService/Predict": "grpc",
    "/inference.GRPCInferenceService/ModelInfer": "v2_grpc",
}


def count_unanswered(
    servable: Servable | None, version: str, protocol_name: str, status: str
) -> None:
    """A predict answered before it reached a model, counted as the app counts its answers:
    the model and version named when they are served (`servable`), else "" (a client's made-up
    names would each add a series for as long as the server runs)."""
    metrics.labelled(
        metrics.REQUESTS,
        servable.name if servable else "",
        version if servable and version.isdigit() and int(version) in servable.versions else "",
        "serving_default",
        protocol_name,
        status,
    ).inc()


def count_refusal(scope, status: int, lookup: Lookup, unknown_model_only: bool = False) -> None:
    """A predict refused by the bodies' middleware (or, `unknown_model_only`, KServe's 404 for
    a model not served: a served model's 404s are counted by the model), by its URL."""
    if scope["method"] != "POST":
        return
    for protocol_name, url in PREDICT_URLS:
        match = url.fullmatch(scope["path"])
        if match:
            servable = served(lookup, match[1])
            if not (unknown_model_only and servable):
                count_unanswered(servable, match[2] or "", protocol_name, metrics.status_of(status))


def count_v2_grpc_refusal(lookup: Lookup, method: str, request, error: Exception) -> None:
    """A V2 gRPC ModelInfer KServe refused for a model not served (NOT_FOUND), counted."""
    if (
        method == "ModelInfer"
        and isinstance(error, ModelNotFound)
        and not served(lookup, request.model_name)
    ):
        count_unanswered(None, "", "v2_grpc", "NOT_FOUND")


def count_grpc_refusal(method: str, code: grpc.StatusCode) -> None:
    """A gRPC predict refused before its servicer ran (its deadline passed while the message
    came, its size, framing, encoding or parse: under Envoy, grpc_asgi.py's refusals), counted
    with no model named."""
    protocol_name = GRPC_PREDICT_METHODS.get(method)
    if protocol_name:
        count_unanswered(None, "", protocol_name, code.name)


def served(lookup: Lookup, model_name: str) -> Servable | None:
    """The servable of `model_name`; None when it is not served (or not ready)."""
    try:
        return lookup(model_name)
    except (ModelNotFound, ModelNotReady):
        return None


class OneLineClientErrors(logging.Filter):
    """KServe logs every handled error with its traceback; a client's error is one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, CLIENT_ERRORS):
            record.msg, record.args, record.exc_info = "client error: %s", (str(error),), None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def install(
    app: FastAPI,
    snapshots: worker_metrics.Snapshots,
    lookup: Lookup,
    infer: Infer,
    max_body_bytes: int,
    budget: ByteBudget,
    max_batch: int,
) -> None:
    """Adds the status and metrics routes and TF Serving's REST routes (tried before KServe's on
    their paths; the metrics summed with the other workers' `snapshots`), the bodies' middleware
    and the error handlers to KServe's built `app`."""

    async def model_status(model_name: str):
        if ":" in model_name:  # A verb's URL (/v1/models/dae:predict) asked with GET.
            raise HTTPException(405, f"GET is not allowed on /v1/models/{model_name} (use POST)")
        servable = lookup(model_name)
        return protocol.json_response(
            {
                "name": servable.name,
                "ready": True,
                "model_version_status": [
                    {
                        "version": str(version),
                        "state": "AVAILABLE",
                        "status": {"error_code": "OK", "error_message": ""},
                    }
                    for version in sorted(servable.versions, reverse=True)
                ],
            },
            headers={VERSION_HEADER: str(servable.latest.version)},
        )

    async def scrape():
        # Off the event loop: it writes this worker's file and reads the others'.
        try:
            body, content_type = await asyncio.to_thread(worker_metrics.exposition, snapshots)
        except worker_metrics.Unreadable as e:
            logging.getLogger("kserve").warning("metrics not summed: %s", e)
            return protocol.error_response(500, f"metrics not summed: {e}")
        return Response(body, headers={"content-type": content_type})

    async def http_error(_, error: HTTPException):
        return protocol.error_response(error.status_code, f"{error.detail}", error.headers)

    async def not_ready(request, error: ModelNotReady):  # KServe's logs a traceback each.
        """503 saying what makes the model ready; KServe's V2 refusal (its data plane checks
        readiness before the model sees the request) counted."""
        message = str(error)
        if request.url.path.startswith("/v2/") and NOT_READY not in message:  # Not the model's.
            count_refusal(request.scope, 503, lookup)
        return protocol.error_response(
            503, message if NOT_READY in message else f"{message} {NOT_READY}"
        )

    kserve_not_found = app.exception_handlers[ModelNotFound]

    async def not_found(request, error: ModelNotFound):
        """KServe's 404, counted when its own V2 route found no model (TF Serving's predict
        URLs count their answers themselves)."""
        if request.url.path.startswith("/v2/"):
            count_refusal(request.scope, 404, lookup, unknown_model_only=True)
        return await kserve_not_found(request, error)

    def unparsed_check(scope, body: bytes) -> str | None:
        if scope["method"] == "POST" and scope["path"].endswith(":predict"):
            return protocol.over_max_batch(body, max_batch)
        return None

    app.add_api_route(STATUS_PATH, model_status, methods=["GET"])
    for path in METRICS_PATHS:
        app.add_api_route(path, scrape, methods=["GET"])
    before = len(app.router.routes)
    app.include_router(tfs_rest.router(lookup, infer, max_batch))
    tfs_routes = app.router.routes[before:]  # What include_router added.
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(ModelNotReady, not_ready)
    app.add_exception_handler(ModelNotFound, not_found)
    app.add_middleware(  # Inside the bodies' middleware: it sees the URL.
        v2.VersionedUrls, check=functools.partial(v2.version_problem, lookup)
    )
    app.add_middleware(
        RequestBodies,
        max_bytes=max_body_bytes,
        budget=budget,
        check=unparsed_check,
        count=lambda scope, status: count_refusal(scope, status, lookup),
    )
    logging.getLogger("kserve").addFilter(OneLineClientErrors())
    kserve_internals.first_routes(
        app,
        lambda route: (
            any(route is added for added in tfs_routes)
            or getattr(route, "endpoint", None) in (model_status, scrape)
        ),
    )
