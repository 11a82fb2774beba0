"""Running the int8_io model in TensorFlow Lite for Microcontrollers' Python interpreter."""

import numpy as np
from tflite_micro.python.tflite_micro import runtime


def run_micro(path: str, x_int8: np.ndarray) -> np.ndarray:
    """Raw int8 outputs of TFLM for each row of `x_int8`, one batch-1 invoke per row."""
    interpreter = runtime.Interpreter.from_file(path)
    outputs = []
    for row in x_int8:
        interpreter.set_input(row[None], 0)
        interpreter.invoke()
        outputs.append(interpreter.get_output(0)[0].copy())
    return np.stack(outputs)
