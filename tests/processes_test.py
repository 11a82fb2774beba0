"""keras_dae.core.processes: a process's tree, memory and CPU from /proc, and none once gone."""

import subprocess
import sys

from absl.testing import absltest

from keras_dae.core import processes

PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print(child.pid, flush=True)
time.sleep(60)
"""


class ProcessesTest(absltest.TestCase):
    def test_a_tree_then_nothing_once_gone(self):
        parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE)
        self.addCleanup(parent.kill)
        child = int(parent.stdout.readline())
        self.assertEqual(processes.tree(parent.pid), [parent.pid, child])
        self.assertEqual(processes.children(child), [])
        self.assertGreater(processes.rss_mib(child), 0.0)
        self.assertGreater(processes.cpu_s(parent.pid), 0.0)
        subprocess.run(["kill", "-9", str(child)], check=True)
        parent.kill()
        parent.wait()
        for pid in (parent.pid, child):
            self.assertEqual(processes.children(pid), [])
        self.assertEqual(processes.rss_mib(parent.pid), 0.0)
        self.assertEqual(processes.cpu_s(parent.pid), 0.0)


if __name__ == "__main__":
    absltest.main()
