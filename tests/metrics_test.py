"""The metrics (export/serving/metrics.py) as prometheus_client's own parser reads them, and
summed over forked workers (export/serving/worker_metrics.py): live, stopped, killed and folded
ones, each total growing whichever worker answers."""

import json
import os
import subprocess
import sys

from absl.testing import absltest
from prometheus_client import REGISTRY, generate_latest
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
open(os.path.join(folder, f".partial-{pids[2]}-1.json.x.json"), "w").write("{")  # Killed's.
worker_metrics.fold(folder, pids[0])  # As the supervisor does: every exited worker's.
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


def exited_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                           capture_output=True, text=True)  # fmt: skip
    return int(child.stdout)


def counts(value: float) -> dict:
    """A worker's file holding `value` requests of DAE."""
    return {COUNT[: -len("_total")]: [[COUNT, dict(DAE), value]]}


class MetricsTest(absltest.TestCase):
    def test_counts_parse_by_label(self):
        before = samples(generate_latest(REGISTRY).decode())
        labels = ("ae", "2", "decode", "rest", metrics.status_of(400))
        metrics.REQUESTS.labels(*labels).inc(2)
        body = generate_latest(REGISTRY)
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
        left = sorted(os.listdir(folder))  # The past workers' and the scraping worker's.
        self.assertLen(left, 2)
        self.assertIn(worker_metrics.PAST, left)

    def test_a_folded_worker_is_counted_once_and_its_file_removed(self):
        folder = self.create_tempdir().full_path
        live, dead, dead_before = os.getpid(), exited_pid(), exited_pid()

        def add(name, value):
            with open(os.path.join(folder, name), "w") as f:
                json.dump(counts(value), f)

        def total():
            (sample,) = worker_metrics.summed(folder)[COUNT[: -len("_total")]]
            return sample[2]

        for name, value in ((f"{dead}-1.json", 3), (f"{live}-1.json", 4), (f"{dead}-2.json", 5)):
            add(name, value)
        add(f".partial-{dead}-3.json.x1.json", 100)  # A write killed with its worker.
        self.assertEqual(total(), 12)
        worker_metrics.fold(folder, dead)  # Both files of the dead pid (its two lives).
        self.assertEqual(total(), 12)
        self.assertEqual(sorted(os.listdir(folder)), [f"{live}-1.json", worker_metrics.PAST])
        worker_metrics.fold(folder, dead)  # Nothing left of it: nothing changes.
        self.assertEqual(total(), 12)
        add(f"{dead_before}-1.json", 6)  # Left by a fold that failed: folded by the next.
        worker_metrics.fold(folder, dead)
        self.assertEqual(total(), 18)
        self.assertEqual(sorted(os.listdir(folder)), [f"{live}-1.json", worker_metrics.PAST])
        # Killed between adding a file to the past workers' and removing it: counted once.
        add(f"{dead}-9.json", 6)
        with open(os.path.join(folder, worker_metrics.PAST)) as f:
            past = json.load(f)
        past["folded"].append(f"{dead}-9.json")
        past["samples"][COUNT[: -len("_total")]][0][2] += 6
        with open(os.path.join(folder, worker_metrics.PAST), "w") as f:
            json.dump(past, f)
        self.assertEqual(total(), 24)

    def test_a_metrics_file_not_readable_is_one_line_naming_it(self):
        folder = self.create_tempdir().full_path
        past = os.path.join(folder, worker_metrics.PAST)
        with open(past, "w") as f:
            f.write('{"folded": [')
        with self.assertRaisesRegex(worker_metrics.Unreadable, f"^{past}: not a metrics file"):
            worker_metrics.summed(folder)
        with self.assertLogs(level="WARNING") as logged:
            worker_metrics.fold(folder, exited_pid())  # The supervisor serves on.
        self.assertIn(f"not folded: {past}: not a metrics file", logged.output[0])
        with open(past, "w") as f:
            f.write('{"folded": [5], "samples": {}}')
        with self.assertRaisesRegex(worker_metrics.Unreadable, f"^{past}: not a metrics file"):
            worker_metrics.summed(folder)
        os.remove(past)
        with open(os.path.join(folder, "abc.json"), "w") as f:  # Not a worker's: not read.
            f.write("{")
        self.assertEqual(worker_metrics.summed(folder), {})
        worker = os.path.join(folder, f"{os.getpid()}-1.json")
        not_samples = ('{"a": [["a_total", {}, "7"]]}', '{"a": [["a", {"b": [1]}, 1]]}', "[]")
        for text in not_samples:  # JSON, not samples.
            with open(worker, "w") as f:
                f.write(text)
            with self.assertRaisesRegex(worker_metrics.Unreadable, f"^{worker}: not a metrics"):
                worker_metrics.summed(folder)

    def test_unchanged_samples_are_not_written_again(self):
        folder = self.create_tempdir().full_path
        snapshots = worker_metrics.Snapshots(folder)
        snapshots.write()
        first = os.stat(snapshots.path).st_ino  # Each write renames a new file in place.
        snapshots.write()  # Idle.
        self.assertEqual(os.stat(snapshots.path).st_ino, first)
        metrics.REQUESTS.labels("dae", "1", "encode", "grpc", "OK").inc()
        snapshots.write()
        self.assertNotEqual(os.stat(snapshots.path).st_ino, first)
        os.remove(snapshots.path)  # Gone (not by this worker): written again, unchanged or not.
        snapshots.write()
        self.assertTrue(os.path.exists(snapshots.path))

    def test_every_worker_life_has_its_own_file(self):
        folder = self.create_tempdir().full_path
        first, second = worker_metrics.Snapshots(folder), worker_metrics.Snapshots(folder)
        self.assertNotEqual(first.path, second.path)  # Same pid, as a respawn may get.


if __name__ == "__main__":
    absltest.main()
