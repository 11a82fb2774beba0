"""What KServe's FastAPI app gets besides its V1 routes: TF Serving's model status (with the
version, 503 while none is served), a request body limit, `{"error": ...}` bodies for every HTTP
error, and client errors logged as one line instead of a traceback."""

import logging

import orjson
from fastapi import FastAPI
from kserve.errors import InvalidInput, ModelNotFound, ModelNotReady
from starlette.exceptions import HTTPException
from starlette.responses import Response

from keras_dae.export.serving import kserve_internals
from keras_dae.export.serving.model import NOT_READY, VERSION_HEADER, AutoencoderModel

CLIENT_ERRORS = (InvalidInput, ModelNotFound)
PREDICT_PATH = "/v1/models/{model_name}:predict"


class BodyTooLarge(Exception):
    """A chunked body grew over the limit while it was read."""


def json_response(content: dict, status: int = 200, headers=None) -> Response:
    return Response(orjson.dumps(content), status, headers, media_type="application/json")


def too_large(size: int, max_bytes: int) -> Response:
    return json_response(
        {
            "error": f"request body of {size} bytes is over the limit of "
            f"{max_bytes} bytes (--max_body_bytes)"
        },
        413,
    )


class BodyLimit:
    """ASGI middleware: 413 for a body over `max_bytes`, by its Content-Length or, when chunked,
    as it arrives."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            if int(length) > self.max_bytes:  # The HTTP parser has refused a non-number.
                return await too_large(int(length), self.max_bytes)(scope, receive, send)
            return await self.app(scope, receive, send)
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise BodyTooLarge(received)
            return message

        await self.app(scope, counted, send)


class OneLineClientErrors(logging.Filter):
    """KServe logs every handled error with its traceback; a client's error is one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, CLIENT_ERRORS):
            record.msg, record.args, record.exc_info = "client error: %s", (str(error),), None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def install(app: FastAPI, model: AutoencoderModel, max_body_bytes: int) -> None:
    """Adds the status route, the body limit and the error handlers to KServe's `app` (before
    the server starts, so that the status route answers before KServe's own)."""

    async def model_status(model_name: str):
        if ":" in model_name:  # A verb's URL (/v1/models/dae:predict) asked with GET.
            raise HTTPException(405, f"GET is not allowed on /v1/models/{model_name} (use POST)")
        if model_name != model.name:
            raise ModelNotFound(model_name)
        served = model.served
        if served is None:
            raise ModelNotReady(model.name, NOT_READY)
        version = str(served.version)
        return json_response(
            {
                "name": model.name,
                "ready": True,
                "model_version_status": [
                    {
                        "version": version,
                        "state": "AVAILABLE",
                        "status": {"error_code": "OK", "error_message": ""},
                    }
                ],
            },
            headers={VERSION_HEADER: version},
        )

    async def http_error(_, error: HTTPException):
        return json_response({"error": f"{error.detail}"}, error.status_code, error.headers)

    async def not_ready(_, error: ModelNotReady):  # KServe's handler logs a traceback each.
        return json_response({"error": str(error)}, 503)

    async def body_too_large(_, error: BodyTooLarge):
        return too_large(error.args[0], max_body_bytes)

    app.add_api_route("/v1/models/{model_name}", model_status, methods=["GET"])
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(BodyTooLarge, body_too_large)
    app.add_exception_handler(ModelNotReady, not_ready)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    logging.getLogger("kserve").addFilter(OneLineClientErrors())
    kserve_internals.streamline(app, PREDICT_PATH)
