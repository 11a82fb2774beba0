"""One configured model as KServe serves it: the Open Inference Protocol (KServe's V2 REST and
gRPC) on the version a request names, else the highest; the version in a response header, its
requests counted; with no version left to serve it is not ready. (TF Serving's REST predicts are
tfs_rest.py's.)"""

import asyncio
import time

from grpc_interceptor.exceptions import DeadlineExceeded, GrpcException
from kserve import Model
from kserve.errors import InvalidInput, ModelNotFound, ModelNotReady
from kserve.protocol.infer_type import InferRequest

from keras_dae.export.serving import grpc_asgi, grpc_protocol, metrics, v2
from keras_dae.export.serving.batching import Infer
from keras_dae.export.serving.servables import Servable

VERSION_HEADER = "X-Model-Version"
NOT_READY = "No published version matches its manifest and loads; ready once one is published."


def status_name(error: BaseException | None) -> str:
    """The gRPC code name an answer's metrics count (TF Serving's request_count)."""
    if error is None:
        return "OK"
    if isinstance(error, InvalidInput):
        return "INVALID_ARGUMENT"
    if isinstance(error, ModelNotFound):
        return "NOT_FOUND"
    if isinstance(error, ModelNotReady):
        return "UNAVAILABLE"
    if isinstance(error, asyncio.CancelledError):  # Its deadline passed, or its client left.
        return grpc_protocol.ended_status(v2.GRPC_CONTEXT.get()).name
    if isinstance(error, GrpcException):  # Answered late: DeadlineExceeded.
        return error.status_code.name
    return "INTERNAL"


class AutoencoderModel(Model):
    """`predict` on the current `servable` (swapped whole by one reference assignment)."""

    def __init__(self, name: str, max_batch: int, infer: Infer):
        super().__init__(name, return_response_headers=True)
        self.max_batch = max_batch
        self.infer = infer
        self.swap(None)

    def load(self) -> bool:
        """Ready only with a version to serve (KServe's data plane calls load() on a model not
        ready, and Model.load would mark it ready)."""
        return self.ready

    def swap(self, servable: Servable | None) -> None:
        """Serves `servable` from the next request on (requests in flight finish on the old);
        None: not ready."""
        self.servable = servable
        self.ready = servable is not None

    def _default_tensor(self, name_of, width_of) -> list[dict]:
        """V2 metadata: serving_default's tensor (the `signature_name` parameter picks another)."""
        servable = self.servable
        if servable is None:
            return []
        signature = servable.latest.signatures["serving_default"]
        return [
            {"name": name_of(signature), "datatype": "FP32", "shape": [-1, width_of(signature)]}
        ]

    def get_input_types(self) -> list[dict]:
        return self._default_tensor(lambda s: s.input_name, lambda s: s.features)

    def get_output_types(self) -> list[dict]:
        return self._default_tensor(lambda s: s.output_name, lambda s: s.outputs)

    async def predict(self, payload: InferRequest, headers=None, response_headers=None):
        protocol_name = "v2_grpc" if payload.from_grpc else "v2_rest"
        start, version, signature, error = time.perf_counter(), "", "serving_default", None
        try:
            servable = self.servable  # One read: the whole request runs on this version.
            if servable is None:
                raise ModelNotReady(self.name, NOT_READY)
            served = servable.pick(v2.requested_version(payload))
            version = str(served.version)
            if response_headers is not None:
                response_headers[VERSION_HEADER] = version
            parsed, x = v2.parse(payload, served.signatures, self.max_batch)
            signature = parsed.name
            outputs = await self.infer(served, signature, x)
            if grpc_protocol.expired(v2.GRPC_CONTEXT.get() if payload.from_grpc else None):
                # A model call that never yields (LiteRT's) outran the call's deadline: its answer
                # was sent (under Envoy) and counted (both) OK where grpc says the call ended.
                # KServe's interceptor answers this exception with its status, unlogged.
                raise DeadlineExceeded(grpc_asgi.DEADLINE_EXCEEDED)
            return v2.response(payload, parsed, outputs, self.name, served.version)
        except (Exception, asyncio.CancelledError) as e:
            error = e
            raise
        finally:
            metrics.labelled(
                metrics.REQUESTS, self.name, version, signature, protocol_name, status_name(error)
            ).inc()
            metrics.labelled(
                metrics.REQUEST_LATENCY, self.name, "predict", protocol_name.upper()
            ).observe((time.perf_counter() - start) * 1e6)
