"""Prometheus metrics, named after TensorFlow Serving's where it has one (its `/` become `:`;
prometheus_client adds `_total` to counters), summed over the workers: each keeps its values in
memory and writes them to its file in a shared folder every SNAPSHOT_SECONDS (prometheus_client's
multiprocess mode wrote every value to a file as it changed: 11 writes a request, 46-52 µs against
21 µs in memory); a scrape adds every other worker's file, past workers' included, to its own."""

import json
import os
import threading

from absl import logging
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import Metric

from keras_dae.core import durable, errors

SNAPSHOT_SECONDS = 1.0  # How old another worker's counts in a scrape can be.
SNAPSHOT_SUFFIX = ".json"
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


def _summable() -> list[Metric]:
    """This process's counter and histogram families."""
    return [f for f in REGISTRY.collect() if f.type in ("counter", "histogram")]


def _samples(families: list[Metric]) -> dict[str, list]:
    """{family: [[sample name, labels, value], ...]} (the `_created` times are not summable)."""
    return {
        family.name: [
            [sample.name, sample.labels, sample.value]
            for sample in family.samples
            if not sample.name.endswith("_created")
        ]
        for family in families
    }


class _Summed:
    """A collector of `families` with each sample summed over `workers` (their samples, always
    added in the same order: every worker's scrape of the same counts gives the same sums)."""

    def __init__(self, families: list[Metric], workers: list[dict[str, list]]):
        self.families, self.workers = families, workers

    def collect(self):
        for family in self.families:
            values = {}
            for worker in self.workers:
                for sample_name, labels, value in worker.get(family.name, []):
                    key = sample_name, tuple(sorted(labels.items()))
                    values[key] = values.get(key, 0.0) + value
            summed = Metric(family.name, family.documentation, family.type)
            for (sample_name, labels), value in values.items():
                summed.add_sample(sample_name, dict(labels), value)
            yield summed


class Snapshots:
    """This worker's samples written to `folder/<pid>.json` every SNAPSHOT_SECONDS (and by
    `stop`), read back by the other workers' scrapes; one writer per file."""

    def __init__(self, folder: str):
        self.folder = folder
        self.name = f"{os.getpid()}{SNAPSHOT_SUFFIX}"
        self.stopped = threading.Event()

    def write(self) -> None:
        durable.write_text(os.path.join(self.folder, self.name), json.dumps(_samples(_summable())))

    def start(self) -> None:
        def keep_writing():
            while not self.stopped.wait(SNAPSHOT_SECONDS):
                try:
                    self.write()
                except OSError as e:  # A full disk: the other workers' scrapes lag; retried.
                    logging.warning("metrics snapshot not written: %s", errors.describe(e))

        threading.Thread(target=keep_writing, name="metrics-snapshots", daemon=True).start()

    def stop(self) -> None:
        """The last snapshot: a worker stopped keeps its counts in the sums."""
        self.stopped.set()
        self.write()

    def workers(self, own: dict[str, list]) -> list[dict[str, list]]:
        """Every worker's samples in the order of their files' names, past workers' included:
        `own` for this one, the last snapshot for the others."""
        names = {
            name
            for name in os.listdir(self.folder)
            if name.endswith(SNAPSHOT_SUFFIX) and not name.startswith(durable.TEMP_PREFIX)
        }
        found = []
        for name in sorted(names | {self.name}):
            if name == self.name:
                found.append(own)
                continue
            with open(os.path.join(self.folder, name)) as f:
                found.append(json.load(f))
        return found


def exposition(snapshots: Snapshots | None = None) -> tuple[bytes, str]:
    """(body, content type) of Prometheus's text format: this process's samples, summed with
    every other worker's last snapshot when it shares `snapshots`."""
    if snapshots is None:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    families = _summable()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Summed(families, snapshots.workers(_samples(families))))
    return generate_latest(registry), CONTENT_TYPE_LATEST
