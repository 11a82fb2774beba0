"""What the server answers before a model runs: each predict refused (by the bodies' middleware,
KServe's 404 and 503, grpc_asgi's checks) counted in request_count as the model counts its
answers, and a client's error logged as one line where KServe logs a traceback."""

import logging
import re

import grpc
from kserve.errors import InvalidInput, ModelNotFound, ModelNotReady

from keras_dae.export.serving import metrics
from keras_dae.export.serving.servables import Servable
from keras_dae.export.serving.tfs_grpc import Lookup

CLIENT_ERRORS = (InvalidInput, ModelNotFound)
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
    """A gRPC predict refused before its servicer ran (under Envoy, grpc_asgi.py's refusals: its
    deadline passed while the message came, its size, framing, encoding or parse; on grpcio,
    ParsedInHandler's of a message that does not parse), counted with no model named."""
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
