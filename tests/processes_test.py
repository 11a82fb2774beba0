"""keras_dae.core.processes: a process's tree, memory and CPU from /proc, none once gone; the
sockets listening on a port."""

import socket
import subprocess
import sys

from absl.testing import absltest

from keras_dae.core import processes

# A parent and its child, each waiting on its standard input until the test ends them.
PARENT = """
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=-1)
print(child.pid, flush=True)
sys.stdin.read()
"""


class ProcessesTest(absltest.TestCase):
    def test_a_tree_then_nothing_once_gone(self):
        parent = subprocess.Popen(
            [sys.executable, "-c", PARENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
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

    def test_listening_sockets_of_a_port(self):
        first = socket.socket()
        first.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        first.bind(("127.0.0.1", 0))
        port = first.getsockname()[1]
        self.assertEqual(processes.listening_sockets(port), 0)  # Bound, not listening.
        first.listen()
        second = socket.socket()
        second.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        second.bind(("127.0.0.1", port))
        second.listen()
        self.assertEqual(processes.listening_sockets(port), 2)
        first.close()
        second.close()
        self.assertEqual(processes.listening_sockets(port), 0)

    def test_listening_sockets_count_ipv6(self):
        """grpcio's 0.0.0.0 listens on a dual-stack [::] socket (the benchmark waited for ever)."""
        with socket.socket(socket.AF_INET6) as listening:
            listening.bind(("::", 0))
            listening.listen()
            self.assertEqual(processes.listening_sockets(listening.getsockname()[1]), 1)


if __name__ == "__main__":
    absltest.main()
