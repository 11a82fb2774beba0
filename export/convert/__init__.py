"""The export's conversion stage, on TensorFlow (the [train] install): the SavedModel, the TFLite
variants, the parity checks against Keras and TFLM, run by `python -m export`."""
