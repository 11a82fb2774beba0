"""TensorFlow Serving's REST API beside KServe's routes: predict by model, version or label
(tried before KServe's own predict route, whose dataplane and three histograms made a request's
CPU ~10% more), status per version or label, metadata (the SignatureDefMap as TF Serving renders
it in JSON), and `:classify`/`:regress` refused with a 400. Misses are 404s with TF Serving's
words."""

import time

import orjson
from fastapi import APIRouter, Request
from google.protobuf import json_format
from kserve.errors import InvalidInput, ModelNotFound, ModelNotReady
from starlette.exceptions import HTTPException
from starlette.responses import Response

from keras_dae.export.serving import grpc_protocol, metrics, protocol
from keras_dae.export.serving.batching import Infer
from keras_dae.export.serving.model import VERSION_HEADER
from keras_dae.export.serving.servables import version_number
from keras_dae.export.serving.tfs_grpc import Lookup

MODEL = "/v1/models/{model_name}"
PICKS = ("", "/versions/{version}", "/labels/{label}")  # What may follow the model's name.


def _json(message) -> dict:
    """A protobuf message as TF Serving's REST API renders it: field names kept, defaults shown."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def router(lookup: Lookup, infer: Infer, max_batch: int) -> APIRouter:
    """The routes, over `lookup`'s servables and `infer`'s model calls."""
    routes = APIRouter()

    def pick(model_name: str, version: str | None, label: str | None):
        servable = lookup(model_name)
        return servable, servable.pick(version_number(version), label)

    async def predict(
        request: Request, model_name: str, version: str | None = None, label: str | None = None
    ):
        start, status, served, signature = time.perf_counter(), 500, None, "serving_default"
        model = ""  # Only a served model's name: a client's made-up ones would each add a series.
        try:
            servable = lookup(model_name)
            model = servable.name
            served = servable.pick(version_number(version), label)
            parsed = protocol.parse(await request.body(), served.signatures, max_batch)
            signature = parsed.signature.name
            outputs = await infer(served, signature, parsed.batch)
            body = orjson.dumps(
                protocol.response(parsed, outputs), option=orjson.OPT_SERIALIZE_NUMPY
            )
            status = 200
            return Response(
                body, media_type="application/json", headers={VERSION_HEADER: str(served.version)}
            )
        except InvalidInput:
            status = 400
            raise
        except ModelNotFound:
            status = 404
            raise
        except ModelNotReady:
            status = 503
            raise
        finally:
            version_label = str(served.version) if served else ""
            metrics.labelled(
                metrics.REQUESTS, model, version_label, signature, "rest", metrics.status_of(status)
            ).inc()
            metrics.labelled(metrics.REQUEST_LATENCY, model, "predict", "REST").observe(
                (time.perf_counter() - start) * 1e6
            )

    def no_signatures(verb: str):
        async def refuse(model_name: str, version: str | None = None, label: str | None = None):
            servable, _ = pick(model_name, version, label)
            raise InvalidInput(grpc_protocol.no_signature_of(verb, servable.name))

        return refuse

    async def status(model_name: str, version: str | None = None, label: str | None = None):
        picked = version or label
        if ":" in picked:  # A verb's URL (.../versions/1:predict) asked with GET.
            raise HTTPException(405, f"GET is not allowed on a :{picked.split(':')[-1]} URL")
        _, served = pick(model_name, version, label)
        return _json(grpc_protocol.status_response([served.version]))

    async def metadata(model_name: str, version: str | None = None, label: str | None = None):
        servable, served = pick(model_name, version, label)
        answer = grpc_protocol.metadata_response(servable.name, served.version, served.signatures)
        return {
            "model_spec": _json(answer.model_spec),
            "metadata": {
                grpc_protocol.SIGNATURE_DEF: _json(
                    grpc_protocol.signature_def_map(served.signatures)
                )
            },
        }

    for pick_path in PICKS:
        routes.add_api_route(f"{MODEL}{pick_path}:predict", predict, methods=["POST"])
    for verb in ("classify", "regress"):
        for pick_path in PICKS:
            routes.add_api_route(
                f"{MODEL}{pick_path}:{verb}", no_signatures(verb), methods=["POST"]
            )
    for pick_path in PICKS[1:]:  # The model's own status is routes.py's (KServe's path).
        routes.add_api_route(f"{MODEL}{pick_path}", status, methods=["GET"])
    for pick_path in PICKS:
        routes.add_api_route(f"{MODEL}{pick_path}/metadata", metadata, methods=["GET"])
    return routes
