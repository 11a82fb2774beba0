"""A process and what it started, read from Linux's /proc: the server, its workers and the gRPC
workers' Envoys, and the sockets listening on a port, for the tests and benchmarks that watch
them."""

import os
import re


def children(pid: int) -> list[int]:
    """The child processes of `pid` (none once it is gone)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def tree(pid: int) -> list[int]:
    """`pid` and its descendants, parents first."""
    pids, below = [], [pid]
    while below:
        pids += below
        below = [c for p in below for c in children(p)]
    return pids


def rss_mib(pid: int) -> float:
    """The resident memory of process `pid` (0 once it is gone, or a zombie)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)[1]) / 1024
    except (OSError, TypeError):  # Gone, or a zombie (no VmRSS).
        return 0.0


def cpu_s(pid: int) -> float:
    """User and system CPU seconds of process `pid` so far (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def listening_sockets(port: int) -> int:
    """The sockets listening on TCP `port`: one per process sharing it (SO_REUSEPORT). IPv6's
    too: grpcio's 0.0.0.0 is a dual-stack [::] socket (Envoy's an IPv4 one)."""
    rows = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            rows += [line.split() for line in f.readlines()[1:]]
    return sum(1 for row in rows if row[3] == "0A" and int(row[1].rsplit(":", 1)[1], 16) == port)
