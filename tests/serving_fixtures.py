"""A server under test: `python -m export.serve` (or an installed command) as a subprocess on a
free port, its memory, the HTTP requests the tests send it, and versions published into its
export."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from keras_dae.core import durable, processes
from keras_dae.export import layout, manifest, publish
from tests.cli import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`python -m export.serve` (or `command`, run in `cwd`) in a subprocess on free HTTP and gRPC
    ports, its log in a file; `export_dir` None: the flags name a --model_config_file."""

    def __init__(
        self,
        export_dir: str | None,
        log_path: str,
        *flags: str,
        workers: int = 1,
        command: tuple[str, ...] = (sys.executable, "-m", "export.serve"),
        cwd: str = ROOT,
        new_session: bool = False,
    ):
        self.port = free_port()
        self.grpc_port = free_port()
        self.workers = workers
        self.log_path = log_path
        with open(log_path, "w") as log:  # The child keeps its own copy of the descriptor.
            self.process = subprocess.Popen(
                [
                    *command,
                    *([f"--export_dir={export_dir}"] if export_dir else []),
                    f"--port={self.port}",
                    f"--grpc_port={self.grpc_port}",
                    "--poll_seconds=0.2",
                    f"--workers={workers}",
                    *flags,
                ],
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=new_session,  # Its own process group, as a shell's job.
            )
        self.url = f"http://127.0.0.1:{self.port}/v1/models/dae"

    def wait_ready(self, timeout: float = 180.0) -> None:
        """Until REST answers 200 and the gRPC port takes connections (the gRPC worker loads
        its own models)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_text()[-2000:]}")
            try:
                if request(self.url, method="GET")[0] == 200:
                    socket.create_connection(("127.0.0.1", self.grpc_port), 1).close()
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server not ready in time")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(60)

    def worker_pids(self) -> list[int]:
        """The HTTP worker processes of the server (not the gRPC worker, Envoy's parent)."""
        return [p for p in processes.children(self.process.pid) if not processes.children(p)]

    def grpc_worker_pids(self) -> list[int]:
        """The gRPC workers of --grpc_server=envoy (each with its Envoy as its child)."""
        return sorted(p for p in processes.children(self.process.pid) if processes.children(p))

    def grpc_worker_pid(self) -> int:
        """The gRPC worker (of --grpc_workers=1)."""
        (pid,) = self.grpc_worker_pids()
        return pid

    def log_text(self) -> str:
        with open(self.log_path) as f:
            return f.read()

    def rss_mib(self) -> float:
        """The resident memory of the server, its process and its workers (Envoy too) together."""
        return sum(processes.rss_mib(pid) for pid in processes.tree(self.process.pid))


def wait_until(condition, timeout: float = 60.0, every: float = 0.02) -> bool:
    """Polls `condition` until it holds (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(every)
    return True


def request(url: str, body=None, method: str = "POST", content_type: str | None = None):
    """(status, headers, body text) of one HTTP request; `body` is JSON-encoded unless bytes."""
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if content_type:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def predict(server: Server, body, content_type: str | None = "application/json"):
    status, headers, text = request(server.url + ":predict", body, content_type=content_type)
    if status != 200:
        raise AssertionError(f"{status}: {text}")
    return headers, json.loads(text)


def publish_copy(export_dir: str, tamper: bool = False, source: str | None = None) -> int:
    """Publishes the next version of `export_dir` as a copy of version 1 of `source` (default:
    `export_dir`) through the export's own staging and publishing; returns its number. With
    `tamper`, one file differs from its manifest (changed before the renames, as
    publish.publish makes them)."""
    staging = publish.stage(export_dir)
    source = source or export_dir
    shutil.copytree(layout.saved_model_dir(source, 1), staging.saved_model, dirs_exist_ok=True)
    shutil.copytree(layout.version_dir(source, 1), staging.record, dirs_exist_ok=True)
    if not tamper:
        publish.publish(export_dir, staging)
        return staging.version
    durable.write_json(
        os.path.join(staging.record, layout.MANIFEST),
        manifest.build(staging.version, staging.saved_model, staging.record),
    )
    with open(os.path.join(staging.record, layout.MODEL_INFO), "a") as f:
        f.write(" ")
    durable.rename(staging.saved_model, layout.saved_model_dir(export_dir, staging.version))
    durable.rename(staging.record, layout.version_dir(export_dir, staging.version))
    return staging.version


def withdraw(export_dir: str, version: int) -> None:
    """Removes `version` as an operator rolls back: both its folders, the SavedModel first."""
    shutil.rmtree(layout.saved_model_dir(export_dir, version))
    shutil.rmtree(layout.version_dir(export_dir, version))
