"""Running an exported .tflite under LiteRT (`ai-edge-litert`), without TensorFlow: float or
int8 input and output, any batch size, errors as one line."""

import os
import statistics
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from keras_dae.core.errors import ExportError
from keras_dae.core.mnist import PIXELS


class LiteRTModel:
    """One single-signature .tflite model: `run` maps a float batch to float outputs. With
    `autoencoder`, a model that does not map [N, 784] images to [N, 784] images is refused."""

    def __init__(self, path: str, num_threads: int = 1, autoencoder: bool = False):
        if not os.path.isfile(path):
            raise ExportError(f"{path}: no such model file")
        try:
            self.interpreter = Interpreter(model_path=path, num_threads=num_threads)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise ExportError(
                f"{path}: not a valid .tflite model ({str(e).splitlines()[0]})"
            ) from None
        self.path = path
        inputs, outputs = (
            self.interpreter.get_input_details(),
            self.interpreter.get_output_details(),
        )
        if len(inputs) != 1 or len(outputs) != 1:
            raise ExportError(
                f"{path}: {len(inputs)} inputs and {len(outputs)} outputs, expected one of each"
            )
        self.input, self.output = inputs[0], outputs[0]
        self.features = int(self.input["shape"][-1])
        shapes = [list(map(int, t["shape"])) for t in (self.input, self.output)]
        if autoencoder and any(len(s) != 2 or s[1] != PIXELS for s in shapes):
            raise ExportError(
                f"{path}: input shape {shapes[0]}, output shape {shapes[1]}; "
                f"expected [N, {PIXELS}] images in and out (an autoencoder, not "
                "encoder.tflite or decoder.tflite)"
            )

    def _resize(self, batch: int) -> None:
        if self.input["shape"][0] != batch:
            self.interpreter.resize_tensor_input(self.input["index"], [batch, self.features])
            self.interpreter.allocate_tensors()
            self.input = self.interpreter.get_input_details()[0]
            self.output = self.interpreter.get_output_details()[0]

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        """Float input as the model's input tensor wants it (int8 for `int8_io`)."""
        if self.input["dtype"] == np.float32:
            return x.astype(np.float32)
        scale, zero = self.input["quantization"]
        info = np.iinfo(self.input["dtype"])
        return np.clip(np.round(x / scale + zero), info.min, info.max).astype(self.input["dtype"])

    def dequantize_output(self, y: np.ndarray) -> np.ndarray:
        if self.output["dtype"] == np.float32:
            return y
        scale, zero = self.output["quantization"]
        return ((y.astype(np.float32) - zero) * scale).astype(np.float32)

    def run_raw(self, x: np.ndarray) -> np.ndarray:
        """Invokes on an already quantized batch; returns the raw output tensor."""
        self._resize(len(x))
        self.interpreter.set_tensor(self.input["index"], x)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output["index"])

    def run(self, x: np.ndarray, max_value: float | None = None) -> np.ndarray:
        """Float [N, features] -> float outputs. Inputs are checked: shape, a float dtype, finite,
        and (for images) in [0, max_value]; the DAE's noised images reach 2."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.features:
            raise ExportError(
                f"{self.path}: input has shape {x.shape}, expected [N, {self.features}]"
            )
        if not np.issubdtype(x.dtype, np.floating):
            raise ExportError(f"{self.path}: input dtype is {x.dtype}, expected float32")
        if not np.all(np.isfinite(x)):
            raise ExportError(f"{self.path}: input holds NaN or infinite values")
        if max_value is not None and (x.min() < 0 or x.max() > max_value):
            raise ExportError(
                f"{self.path}: input values span [{x.min():g}, {x.max():g}], "
                f"expected [0, {max_value:g}]"
            )
        return self.dequantize_output(self.run_raw(self.quantize_input(x)))

    def latency_us(self, x: np.ndarray, invokes: int = 2000) -> float:
        """Median microseconds of one batch-1 invoke (input already set, nothing else timed)."""
        self._resize(1)
        self.interpreter.set_tensor(self.input["index"], self.quantize_input(x[:1]))
        for _ in range(100):
            self.interpreter.invoke()
        times = []
        for _ in range(invokes):
            start = time.perf_counter()
            self.interpreter.invoke()
            times.append(time.perf_counter() - start)
        return statistics.median(times) * 1e6
