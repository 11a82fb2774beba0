"""The export served over TensorFlow Serving's REST API on KServe's model server."""
