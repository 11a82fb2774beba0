"""Server processes on one listening socket, as KServe's `--workers` runs them, but forked: each
worker loads its model itself (KServe's spawned workers get theirs pickled, which a loaded
interpreter cannot be). One process saturates a core at ~2,850 LiteRT requests/s here."""

import os
import signal
import socket
import sys
import traceback
from collections.abc import Callable

from absl import logging

from keras_dae.core.errors import ExportError

BACKLOG = 2048  # uvicorn's.


def listen(port: int) -> socket.socket:
    """The listening socket on every interface, as KServe binds it; ExportError when taken."""
    try:
        return socket.create_server(("0.0.0.0", port), backlog=BACKLOG)
    except OSError as e:
        raise ExportError(f"port {port}: {e.strerror}") from None


def _exit_status(wait_status: int) -> int:
    """A child's wait status as a shell would report it (128 + n when killed by signal n)."""
    code = os.waitstatus_to_exitcode(wait_status)
    return code if code >= 0 else 128 - code


STOPPED = {0, 128 + signal.SIGTERM, 128 + signal.SIGINT}  # A worker's status after a stop.
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def run(count: int, serve: Callable[[int], int]) -> int:
    """`serve(index)` in `count` forked workers; the exit status: 0 when every worker returned
    0 or stopped when told to. SIGTERM and SIGINT reach every worker as SIGTERM, uvicorn's
    graceful stop; when a worker fails, the others are stopped."""
    workers = {}
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True
        for pid in list(workers):
            os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for index in range(count):
        if stopping:
            break
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # Until the pid is known.
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
            code = 1
            try:
                code = serve(index)
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
    status = 0
    while workers:
        pid, wait_status = os.wait()
        index = workers.pop(pid)
        code = _exit_status(wait_status)
        if not (stopping and code in STOPPED):
            if code > 128:  # A worker that returns has said why itself.
                logging.warning("worker %d (pid %d) killed by signal %d", index, pid, code - 128)
            status = status or code
            stop()
    return status
