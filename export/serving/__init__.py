"""The export served over TensorFlow Serving's REST and gRPC APIs and the Open Inference Protocol
on KServe's model server."""

import os

# Read by prometheus_client at its first import (KServe's, in the modules here): its multiprocess
# mode would put a file write per value change back on every request (worker_metrics.py sums the
# workers).
for _name in ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir"):
    os.environ.pop(_name, None)
