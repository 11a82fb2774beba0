"""The server's supervisor (export/serving/workers.py) with faults injected into its workers: one
worker is killed (SIGKILL: restarted in place), keeps dying (the server stops), returns a failure,
raises, or stops the supervisor while it is still forking, for each worker in turn; the
supervisor's status says so and no worker outlives it."""

import re
import signal
import subprocess
import sys
import threading

from absl.testing import absltest, parameterized

from keras_dae.core import processes
from tests.cli import ROOT
from tests.serving_fixtures import wait_until

# Two workers; worker DIES does FAULT (on its first start only, unless the fault is
# keeps_dying), the other waits for the supervisor's SIGTERM.
CHILD = """
import os, signal, sys
from keras_dae.export.serving import workers

fault, dies = sys.argv[1], int(sys.argv[2])


def serve(index, respawned):
    if index == dies and (fault == "keeps_dying" or not respawned):
        if fault in ("sigkill", "keeps_dying"):
            os.kill(os.getpid(), signal.SIGKILL)
        if fault == "returns_3":
            return 3
        if fault == "raises":
            raise RuntimeError("injected")
        if fault == "stops_supervisor":
            os.kill(os.getppid(), signal.SIGTERM)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # Then a SIGTERM waits for:
    signal.sigwait({signal.SIGTERM})
    return 0


sys.exit(workers.run(2, serve, max_deaths_per_minute=5))
"""


def alive(pid: int) -> bool:
    """Running (a zombie left to init is not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def start(fault: str, dies: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, fault, str(dies)],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )


def stderr_lines(process: subprocess.Popen) -> list[str]:
    """The lines of `process`'s stderr, as they come."""
    lines = []
    threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True).start()
    return lines


class WorkersTest(parameterized.TestCase):
    @parameterized.product(
        (
            {"fault": "keeps_dying", "status": 137, "says": "5 worker deaths within 60 s"},
            {"fault": "returns_3", "status": 3, "says": None},
            {"fault": "raises", "status": 1, "says": "RuntimeError: injected"},
            {"fault": "stops_supervisor", "status": 0, "says": None},
        ),
        dies=(0, 1),
    )
    def test_fault_that_stops_the_server(self, fault, status, says, dies):
        # The supervisor returns only once it has reaped every worker: its exit is the proof that
        # none is left; the timeout catches a worker it failed to stop.
        supervisor = start(fault, dies)
        _, stderr = supervisor.communicate(timeout=60)
        self.assertEqual(supervisor.returncode, status, stderr)
        if says:
            self.assertIn(says, stderr)
        if fault == "keeps_dying":
            self.assertEqual(stderr.count(f"worker {dies} (pid "), 5, stderr)
            self.assertIn("stopping the server", stderr.splitlines()[-1])
        else:
            self.assertNotIn("killed by signal", stderr)

    @parameterized.parameters(0, 1)
    def test_killed_worker_is_restarted_in_place(self, dies):
        supervisor = start("sigkill", dies)
        lines = stderr_lines(supervisor)
        self.addCleanup(lambda: supervisor.poll() is None and supervisor.kill())
        restarted = re.compile(rf"worker {dies} \(pid \d+\) killed by signal 9; restarted as pid")
        self.assertTrue(wait_until(lambda: any(restarted.search(line) for line in lines)))
        self.assertTrue(wait_until(lambda: len(processes.children(supervisor.pid)) == 2))
        workers = set(processes.children(supervisor.pid))
        supervisor.send_signal(signal.SIGTERM)
        self.assertEqual(supervisor.wait(60), 0, "".join(lines))
        self.assertFalse(any(alive(pid) for pid in workers))

    def test_workers_stop_with_a_killed_supervisor(self):
        supervisor = start("none", -1)
        self.assertTrue(wait_until(lambda: len(processes.children(supervisor.pid)) == 2))
        workers = set(processes.children(supervisor.pid))
        supervisor.kill()
        supervisor.wait(60)
        self.assertTrue(wait_until(lambda: not any(alive(pid) for pid in workers)))


if __name__ == "__main__":
    absltest.main()
