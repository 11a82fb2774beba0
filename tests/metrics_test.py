"""The metrics (export/serving/metrics.py) as prometheus_client's own parser reads them, and
summed over forked workers (export/serving/worker_metrics.py): live, stopped, killed and folded
ones, each total growing whichever worker answers."""

import json
import os
import subprocess
import sys

from absl.testing import absltest
from prometheus_client.parser import text_string_to_metric_families

from keras_dae.export.serving import metrics, worker_metrics
from tests.cli import ROOT

COUNT = ":tensorflow:serving:request_count_total"
DAE = (
    ("model_name", "dae"), ("protocol", "grpc"), ("signature", "encode"), ("status", "OK"),
    ("version", "1"),
)  # fmt: skip
WORKERS = """
import os, signal, sys, time
from keras_dae.export.serving import metrics, worker_metrics
folder = sys.argv[1]
pids = []
for worker in range(3):  # Two workers that stop (their last snapshot), one killed after one.
    pid = os.fork()
    if pid == 0:
        snapshots = worker_metrics.Snapshots(folder)
        snapshots.start()
        for _ in range(3 + worker):
            metrics.REQUESTS.labels("dae", "1", "encode", "grpc", "OK").inc()
        metrics.REQUEST_LATENCY.labels("dae", "predict", "GRPC").observe(250)
        if worker == 2:
            snapshots.write()
            metrics.REQUESTS.labels("dae", "1", "encode", "grpc", "OK").inc()  # Lost.
            os.kill(os.getpid(), signal.SIGKILL)
        snapshots.stop()
        os._exit(0)
    pids.append(pid)
for pid in pids:
    os.waitpid(pid, 0)
worker_metrics.fold(folder, pids[0])  # As the supervisor does after a worker exits.
open(os.path.join(folder, ".partial-9-1.json.x.json"), "w").write("{")  # A killed write's.
metrics.REQUESTS.labels("dae", "1", "encode", "grpc", "OK").inc()  # This worker's, live.
metrics.REQUESTS.labels("ae", "2", "decode", "rest", "OK").inc()
print(worker_metrics.exposition(worker_metrics.Snapshots(folder))[0].decode())
"""


def samples(text: str) -> dict:
    """{(sample name, sorted labels): value} of an exposition."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def counts(value: float) -> dict:
    """A worker's file holding `value` requests of DAE."""
    return {COUNT[: -len("_total")]: [[COUNT, dict(DAE), value]]}


class MetricsTest(absltest.TestCase):
    def test_counts_parse_by_label(self):
        before = samples(metrics.exposition()[0].decode())
        labels = ("ae", "2", "decode", "rest", metrics.status_of(400))
        metrics.REQUESTS.labels(*labels).inc(2)
        body, content_type = metrics.exposition()
        self.assertStartsWith(content_type, "text/plain")
        key = (
            COUNT,
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
        self.assertEqual(found[(COUNT, DAE)], 3 + 4 + 5 + 1)  # Not the killed one's last.
        ae = (
            ("model_name", "ae"), ("protocol", "rest"), ("signature", "decode"),
            ("status", "OK"), ("version", "2"),
        )  # fmt: skip
        self.assertEqual(found[(COUNT, ae)], 1)
        latency = (("API", "predict"), ("entrypoint", "GRPC"), ("model_name", "dae"))
        self.assertEqual(found[(":tensorflow:serving:request_latency_count", latency)], 3)
        for le, count in (("200.0", 0), ("500.0", 3), ("+Inf", 3)):
            bucket = tuple(sorted((*latency, ("le", le))))
            self.assertEqual(found[(":tensorflow:serving:request_latency_bucket", bucket)], count)
        self.assertEqual(found[(":tensorflow:serving:request_latency_sum", latency)], 750)
        self.assertFalse([key for key in found if key[0].endswith("_created")])
        self.assertFalse([key for key in found if key[0].startswith(("process_", "python_"))])
        left = sorted(n for n in os.listdir(folder) if not n.startswith("."))
        self.assertLen(left, 4)  # The past workers', two not folded, the scraping worker's.
        self.assertIn(worker_metrics.PAST, left)

    def test_a_folded_worker_is_counted_once_and_its_file_removed(self):
        folder = self.create_tempdir().full_path
        for name, value in (("11-1.json", 3), ("12-1.json", 4), ("11-2.json", 5)):
            with open(os.path.join(folder, name), "w") as f:
                json.dump(counts(value), f)

        def total():
            (sample,) = worker_metrics.summed(folder)[COUNT[: -len("_total")]]
            return sample[2]

        self.assertEqual(total(), 12)
        worker_metrics.fold(folder, 11)  # Both files of pid 11 (its two lives).
        self.assertEqual(total(), 12)
        self.assertEqual(sorted(os.listdir(folder)), ["12-1.json", worker_metrics.PAST])
        worker_metrics.fold(folder, 11)  # Nothing left of it: nothing changes.
        worker_metrics.fold(folder, 12)
        self.assertEqual(total(), 12)
        self.assertEqual(os.listdir(folder), [worker_metrics.PAST])
        # Killed between adding a file to the past workers' and removing it: counted once.
        with open(os.path.join(folder, "13-1.json"), "w") as f:
            json.dump(counts(6), f)
        with open(os.path.join(folder, worker_metrics.PAST)) as f:
            past = json.load(f)
        past["folded"].append("13-1.json")
        past["samples"][COUNT[: -len("_total")]][0][2] += 6
        with open(os.path.join(folder, worker_metrics.PAST), "w") as f:
            json.dump(past, f)
        self.assertEqual(total(), 18)

    def test_every_worker_life_has_its_own_file(self):
        folder = self.create_tempdir().full_path
        first, second = worker_metrics.Snapshots(folder), worker_metrics.Snapshots(folder)
        self.assertNotEqual(first.path, second.path)  # Same pid, as a respawn may get.


if __name__ == "__main__":
    absltest.main()
