"""Server processes on one listening socket, as KServe's `--workers` runs them, but forked: each
worker loads its model itself (KServe's spawned workers get theirs pickled, which a loaded
interpreter cannot be). One process saturates a core at ~2,850 LiteRT requests/s here. A worker
killed by a signal is forked again in its place; the socket stays open, so only the connections
it held fail."""

import collections
import ctypes
import gc
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable

from absl import logging

from keras_dae.core.errors import ExportError

BACKLOG = 2048  # uvicorn's.
DEATH_WINDOW_S = 60.0  # --max_worker_deaths_per_minute counts the deaths within this window.


def listen(port: int) -> socket.socket:
    """The listening socket on every interface, as KServe binds it; ExportError when taken."""
    try:
        return socket.create_server(("0.0.0.0", port), backlog=BACKLOG)
    except OSError as e:
        raise ExportError(f"port {port}: {e.strerror}") from None


def check_free(port: int) -> None:
    """ExportError when `port` is taken: the workers' gRPC servers bind it with SO_REUSEPORT (how
    they share it), which would as silently share it with another server's."""
    try:
        socket.create_server(("0.0.0.0", port)).close()
    except OSError as e:
        raise ExportError(f"gRPC port {port}: {e.strerror}") from None


def _exit_status(wait_status: int) -> int:
    """A child's wait status as a shell would report it (128 + n when killed by signal n)."""
    code = os.waitstatus_to_exitcode(wait_status)
    return code if code >= 0 else 128 - code


PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies.
STOPPED = {0, 128 + signal.SIGTERM, 128 + signal.SIGINT}  # A worker's status after a stop.
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def _fork(serve: Callable[[int, bool], int], index: int, respawned: bool, workers: dict) -> int:
    """`serve(index, respawned)` in a forked child, which exits with its status; the child's pid,
    in `workers` before stop signals are unblocked, so that a stop while forking reaches it."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        # A supervisor killed with SIGKILL left its workers serving the port, unsupervised.
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # It died before the line above.
            os._exit(128 + signal.SIGTERM)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        code = 1
        try:
            code = serve(index, respawned)
        except KeyboardInterrupt:  # Ctrl-C reaches every process of the terminal's group.
            code = 128 + signal.SIGINT
        except Exception:  # noqa: BLE001  (a bug: shown as Python would show it, exit 1)
            traceback.print_exc()
        finally:  # Never back into the parent's code.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    workers[pid] = index
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    return pid


def run(
    count: int,
    serve: Callable[[int, bool], int],
    max_deaths_per_minute: int = 5,
    exited: Callable[[int], None] = lambda pid: None,
) -> int:
    """`serve(index, respawned)` in `count` forked workers; `exited(pid)` after each exits, before
    another takes its place; the exit status: 0 when every worker returned 0 or stopped when told
    to. SIGTERM and SIGINT reach every worker as SIGTERM, uvicorn's graceful stop. A worker
    killed by a signal (SIGKILL, the OOM killer, a crash) is forked again, logged in one line;
    one that exits by itself has said why and stops the others, as do `max_deaths_per_minute`
    deaths within a minute (a worker that keeps dying)."""
    workers = {}
    deaths = collections.deque()
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True
        for pid in list(workers):
            os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # The parent's objects (KServe's imports) out of the workers' collections, which otherwise
    # copied their pages into each worker: 60 MiB more PSS for two LiteRT workers.
    gc.freeze()
    for index in range(count):
        if stopping:
            break
        _fork(serve, index, False, workers)
    status = 0
    while workers:
        pid, wait_status = os.wait()
        index = workers.pop(pid)
        exited(pid)
        code = _exit_status(wait_status)
        if stopping and code in STOPPED:
            continue
        if stopping or code <= 128:  # A worker that exits by itself has said why.
            status = status or code
            stop()
            continue
        now = time.monotonic()
        deaths.append(now)
        while deaths[0] < now - DEATH_WINDOW_S:
            deaths.popleft()
        if len(deaths) >= max_deaths_per_minute:
            logging.error(
                "worker %d (pid %d) killed by signal %d: %d worker deaths within %.0f s "
                "(--max_worker_deaths_per_minute %d); stopping the server",
                index,
                pid,
                code - 128,
                len(deaths),
                DEATH_WINDOW_S,
                max_deaths_per_minute,
            )
            status = code
            stop()
            continue
        respawned = _fork(serve, index, True, workers)
        logging.warning(
            "worker %d (pid %d) killed by signal %d; restarted as pid %d (%d death(s) "
            "within %.0f s)",
            index,
            pid,
            code - 128,
            respawned,
            len(deaths),
            DEATH_WINDOW_S,
        )
    return status
