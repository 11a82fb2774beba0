"""What KServe's FastAPI app gets besides its V1 and V2 routes: TF Serving's model status (every
served version, 503 while none is), the rest of TF Serving's REST API, the metrics at KServe's and
TF Serving's paths, the request bodies' middleware (its refusals of predicts counted), V2 URLs
naming a version, KServe's model repository load and unload refused, `{"error": ...}` bodies for
every HTTP error, and client errors logged as one line (refusals.py's filter)."""

import asyncio
import functools
import logging

from fastapi import FastAPI
from kserve.errors import ModelNotFound, ModelNotReady
from starlette.exceptions import HTTPException
from starlette.responses import Response

from keras_dae.export.serving import (
    kserve_internals,
    protocol,
    refusals,
    tfs_rest,
    v2,
    worker_metrics,
)
from keras_dae.export.serving.admission import ByteBudget
from keras_dae.export.serving.batching import Infer
from keras_dae.export.serving.bodies import RequestBodies
from keras_dae.export.serving.model import NOT_READY, VERSION_HEADER
from keras_dae.export.serving.tfs_grpc import Lookup

STATUS_PATH = "/v1/models/{model_name}"
METRICS_PATHS = ("/metrics", "/monitoring/prometheus/metrics")  # KServe's, TF Serving's.


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
            refusals.count_refusal(request.scope, 503, lookup)
        return protocol.error_response(
            503, message if NOT_READY in message else f"{message} {NOT_READY}"
        )

    kserve_not_found = app.exception_handlers[ModelNotFound]

    async def not_found(request, error: ModelNotFound):
        """KServe's 404, counted when its own V2 route found no model (TF Serving's predict
        URLs count their answers themselves)."""
        if request.url.path.startswith("/v2/"):
            refusals.count_refusal(request.scope, 404, lookup, unknown_model_only=True)
        return await kserve_not_found(request, error)

    async def repository_off(model_name: str):
        return protocol.error_response(501, v2.REPOSITORY_OFF)

    def unparsed_check(scope, body: bytes) -> str | None:
        if scope["method"] == "POST" and scope["path"].endswith(":predict"):
            return protocol.over_max_batch(body, max_batch)
        return None

    app.add_api_route(STATUS_PATH, model_status, methods=["GET"])
    for path in METRICS_PATHS:
        app.add_api_route(path, scrape, methods=["GET"])
    for path in v2.REPOSITORY_PATHS:
        app.add_api_route(path, repository_off, methods=["POST"])
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
        count=lambda scope, status: refusals.count_refusal(scope, status, lookup),
    )
    logging.getLogger("kserve").addFilter(refusals.OneLineClientErrors())
    kserve_internals.first_routes(
        app,
        lambda route: (
            any(route is added for added in tfs_routes)
            or getattr(route, "endpoint", None) in (model_status, scrape, repository_off)
        ),
    )
