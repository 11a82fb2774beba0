"""The server's supervisor (export/serving/workers.py) with faults injected into its workers: one
worker dies (SIGKILL), returns a failure, raises, or stops the supervisor while it is still
forking, for each worker in turn; the supervisor's status says so and no worker outlives it."""

import subprocess
import sys

from absl.testing import absltest, parameterized

from tests.cli import ROOT

# Two workers; worker DIES does FAULT, the other waits for the supervisor's SIGTERM.
CHILD = """
import os, signal, sys
from keras_dae.export.serving import workers

fault, dies = sys.argv[1], int(sys.argv[2])


def serve(index):
    if index == dies:
        if fault == "sigkill":
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


sys.exit(workers.run(2, serve))
"""


class WorkersTest(parameterized.TestCase):
    @parameterized.product(
        (
            {"fault": "sigkill", "status": 137, "says": "killed by signal 9"},
            {"fault": "returns_3", "status": 3, "says": None},
            {"fault": "raises", "status": 1, "says": "RuntimeError: injected"},
            {"fault": "stops_supervisor", "status": 0, "says": None},
        ),
        dies=(0, 1),
    )
    def test_fault_in_a_worker(self, fault, status, says, dies):
        # The supervisor returns only once it has reaped every worker: its exit is the proof that
        # none is left; the timeout catches a worker it failed to stop.
        run = subprocess.run(
            [sys.executable, "-c", CHILD, fault, str(dies)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.assertEqual(run.returncode, status, run.stderr)
        if says:
            self.assertIn(says, run.stderr)
        if fault == "sigkill":
            self.assertIn(f"worker {dies} (pid ", run.stderr)
        else:
            self.assertNotIn("killed by signal", run.stderr)


if __name__ == "__main__":
    absltest.main()
