"""The metrics module: counts as prometheus_client's own parser reads them, in one process and
summed over forked workers (their snapshots)."""

import subprocess
import sys

from absl.testing import absltest
from prometheus_client.parser import text_string_to_metric_families

from keras_dae.export.serving import metrics
from tests.cli import ROOT

WORKERS = """
import os, sys
from keras_dae.export.serving import metrics
folder = sys.argv[1]
pids = []
for worker in range(2):  # Two workers that stop (their last snapshot) and one killed.
    pid = os.fork()
    if pid == 0:
        snapshots = metrics.Snapshots(folder)
        snapshots.start()
        for _ in range(3 + worker):
            metrics.REQUESTS.labels("dae", "1", "encode", "grpc", "OK").inc()
        metrics.REQUEST_LATENCY.labels("dae", "predict", "GRPC").observe(250)
        snapshots.stop()
        os._exit(0)
    pids.append(pid)
for pid in pids:
    os.waitpid(pid, 0)
open(os.path.join(folder, ".partial-9.json.x.json"), "w").write("{")  # A killed write's.
metrics.REQUESTS.labels("dae", "1", "encode", "grpc", "OK").inc()  # This worker's, live.
metrics.REQUESTS.labels("ae", "2", "decode", "rest", "OK").inc()
print(metrics.exposition(metrics.Snapshots(folder))[0].decode())
"""


def samples(text: str) -> dict:
    """{(sample name, sorted labels): value} of an exposition."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


class MetricsTest(absltest.TestCase):
    def test_counts_parse_by_label(self):
        before = samples(metrics.exposition()[0].decode())
        labels = ("ae", "2", "decode", "rest", metrics.status_of(400))
        metrics.REQUESTS.labels(*labels).inc(2)
        body, content_type = metrics.exposition()
        self.assertStartsWith(content_type, "text/plain")
        key = (
            ":tensorflow:serving:request_count_total",
            tuple(
                sorted(zip(("model_name", "version", "signature", "protocol", "status"), labels))
            ),
        )
        self.assertEqual(samples(body.decode())[key] - before.get(key, 0), 2)
        self.assertEqual(labels[-1], "INVALID_ARGUMENT")

    def test_status_names(self):
        self.assertEqual(
            [metrics.status_of(s) for s in (200, 404, 413, 503, 500, 418)],
            ["OK", "NOT_FOUND", "RESOURCE_EXHAUSTED", "UNAVAILABLE", "INTERNAL", "UNKNOWN"],
        )

    def test_forked_workers_are_summed(self):
        folder = self.create_tempdir().full_path
        run = subprocess.run(
            [sys.executable, "-c", WORKERS, folder], cwd=ROOT, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
        self.assertEqual(run.returncode, 0, run.stderr[-2000:])
        found = samples(run.stdout)
        labels = (
            ("model_name", "dae"), ("protocol", "grpc"), ("signature", "encode"),
            ("status", "OK"), ("version", "1"),
        )  # fmt: skip
        self.assertEqual(found[(":tensorflow:serving:request_count_total", labels)], 8)
        ae = (
            ("model_name", "ae"), ("protocol", "rest"), ("signature", "decode"),
            ("status", "OK"), ("version", "2"),
        )  # fmt: skip
        self.assertEqual(found[(":tensorflow:serving:request_count_total", ae)], 1)
        latency = (("API", "predict"), ("entrypoint", "GRPC"), ("model_name", "dae"))
        self.assertEqual(found[(":tensorflow:serving:request_latency_count", latency)], 2)
        for le, count in (("200.0", 0), ("500.0", 2), ("+Inf", 2)):
            bucket = tuple(sorted((*latency, ("le", le))))
            self.assertEqual(found[(":tensorflow:serving:request_latency_bucket", bucket)], count)
        self.assertEqual(found[(":tensorflow:serving:request_latency_sum", latency)], 500)
        self.assertFalse([key for key in found if key[0].endswith("_created")])


if __name__ == "__main__":
    absltest.main()
