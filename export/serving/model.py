"""The one KServe model: checks a TF Serving request, runs it on the version being served
(swapped whole by one reference assignment), names that version in a response header; with no
version left to serve it is not ready."""

from kserve import Model
from kserve.errors import ModelNotReady

from keras_dae.export.serving import protocol
from keras_dae.export.serving.batching import Batcher
from keras_dae.export.serving.served import Served

VERSION_HEADER = "X-Model-Version"
NOT_READY = "No published version matches its manifest and loads; ready once one is published."


class AutoencoderModel(Model):
    """`predict` for TensorFlow Serving's REST API on the current `served` version."""

    def __init__(self, name: str, served: Served | None, max_batch: int, batcher: Batcher | None):
        super().__init__(name, return_response_headers=True)
        self.max_batch = max_batch
        self.batcher = batcher
        self.swap(served)

    def swap(self, served: Served | None) -> None:
        """Serves `served` from the next request on (requests in flight finish on the old);
        None: not ready."""
        self.served = served
        self.ready = served is not None

    async def predict(self, payload, headers=None, response_headers=None):
        served = self.served  # One read: the whole request runs on this version.
        if served is None:
            raise ModelNotReady(self.name, NOT_READY)
        request = protocol.parse(payload, served.signatures, self.max_batch)
        if self.batcher is None:
            outputs = served.call(request.signature.name, request.batch)
        else:
            outputs = await self.batcher.run(served, request.signature.name, request.batch)
        response_headers[VERSION_HEADER] = str(served.version)
        return protocol.response(request, outputs)
