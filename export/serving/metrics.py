"""Prometheus metrics, named after TensorFlow Serving's where it has one (its `/` become `:`;
prometheus_client adds `_total` to counters), kept in each process's memory (worker_metrics.py
sums the workers')."""

import functools

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    REGISTRY,
    Counter,
    Histogram,
)

# Per process, not summable: not exposed (nor were they in prometheus_client's multiprocess mode).
for _collector in (GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR):
    REGISTRY.unregister(_collector)

MICROSECONDS = (100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 5e6)
ROWS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

REQUESTS = Counter(
    ":tensorflow:serving:request_count",
    "Requests by model, version, signature, protocol and status (a gRPC code name).",
    ["model_name", "version", "signature", "protocol", "status"],
)
REQUEST_LATENCY = Histogram(
    ":tensorflow:serving:request_latency",
    "Time from the request parsed to its answer, in microseconds.",
    ["model_name", "API", "entrypoint"],
    buckets=MICROSECONDS,
)
RUNTIME_LATENCY = Histogram(
    ":tensorflow:serving:runtime_latency",
    "Time of the model call, batching wait included, in microseconds.",
    ["API", "runtime"],
    buckets=MICROSECONDS,
)
BATCH_SIZE = Histogram(
    ":tensorflow:serving:batching_session:processed_batch_size",
    "Rows in each model call of the batcher (--enable_batching).",
    buckets=ROWS,
)
LOADS = Counter(
    ":tensorflow:cc:saved_model:load_attempt_count",
    "Version loads (either runtime) by version folder and status (success or fail).",
    ["model_path", "status"],
)
WARMUP_LATENCY = Histogram(
    ":tensorflow:serving:model_warmup_latency",
    "Replay of a version's warm-up requests, in microseconds.",
    ["model_path"],
    buckets=MICROSECONDS + (1e7, 6e7),
)
SWAPS = Counter("keras_dae_version_swaps", "Versions swapped in while serving.", ["model_name"])
REFUSALS = Counter(
    "keras_dae_version_refusals",
    "Versions not served: not matching their manifest, or failing to load.",
    ["model_name"],
)

# HTTP status -> the gRPC code name TF Serving's request_count would give it.
HTTP_STATUS_CODES = {
    200: "OK",
    400: "INVALID_ARGUMENT",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    413: "RESOURCE_EXHAUSTED",
    415: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    503: "UNAVAILABLE",
}


def status_of(http_status: int) -> str:
    return HTTP_STATUS_CODES.get(http_status, "INTERNAL" if http_status >= 500 else "UNKNOWN")


@functools.lru_cache(maxsize=4096)
def labelled(metric, *values: str):
    """`metric.labels(*values)`, kept: prometheus_client checks the values and takes a lock at
    each call (7 us, three a request). Values are only what the server serves (and "")."""
    return metric.labels(*values)
