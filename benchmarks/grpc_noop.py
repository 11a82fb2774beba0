"""The ceiling of a Python gRPC server on this machine: TF Serving's PredictionService on grpc.aio
and uvloop, as `export.serve` runs it, answering every Predict with one fixed 784-value response
and doing nothing else (benchmarks.grpc starts --workers of these on one port, SO_REUSEPORT).

    python -m benchmarks.grpc_noop --port 8500"""

import asyncio
import sys

import grpc
import numpy as np
import uvloop

from keras_dae.export.serving import tensors
from keras_dae.export.serving.tfs_protos import predict_pb2, prediction_service_pb2_grpc


class NoopPrediction(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self):
        self.answer = predict_pb2.PredictResponse()
        self.answer.model_spec.name = "dae"
        tensors.fill_proto(self.answer.outputs["reconstructions"], np.zeros((1, 784)))

    async def Predict(self, request, context):
        return self.answer


async def serve(port: int) -> None:
    server = grpc.aio.server()
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(NoopPrediction(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "--port":
        sys.exit(__doc__.splitlines()[-1].strip())
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(int(sys.argv[2])))
