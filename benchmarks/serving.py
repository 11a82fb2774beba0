"""Load test of `python -m export.serve` with a real load generator (`wrk`, or `hey`): for each
server setup, batch-1 POSTs of a test digit at 1, 16 and 64 connections; requests/s, p50/p99
latency, errors and the server's resident memory, all workers (medians of --repeats runs).

    python -m benchmarks.serving --export_dir exports/dae [--load_generator wrk|hey]
        [--workers N] [--seconds 20] [--repeats 3]

The server runs with its full request checks and version watching on. Prints one JSON object
and a markdown table."""

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from absl import app

from keras_dae import flags
from keras_dae.core import processes
from keras_dae.export import layout

FLAGS = flags.FLAGS
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETUPS = {
    "litert": ["--runtime=litert", "--variant=int8"],
    "savedmodel_batching": ["--runtime=savedmodel", "--enable_batching"],
    "savedmodel": ["--runtime=savedmodel", "--noenable_batching"],
}


def request_body(export_dir: str) -> bytes:
    """A batch-1 request of the first sample digit, as a client would send it."""
    record = layout.version_dir(export_dir, layout.latest_version(export_dir))
    with open(os.path.join(record, layout.SAMPLES)) as f:
        pixels = json.load(f)["images"][0]
    with open(os.path.join(record, layout.MODEL_INFO)) as f:
        binarize = json.load(f)["binarize_input"]
    image = [float(p >= 128) if binarize else p / 255 for p in pixels]
    return json.dumps({"instances": [image]}).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    prog: str, what: str, port: int, log, *server_flags: str, grpc_port: int = 0
) -> subprocess.Popen:
    """`python -m export.serve` with `server_flags` (what to serve: --export_dir or
    --model_config_file, and more), on `port` (and `grpc_port`; 0: REST only), its output in
    `log`, once it answers; `prog: error:` and exit when it does not start within 3 minutes."""
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "export.serve",
            f"--port={port}",
            f"--grpc_port={grpc_port}",  # Not 8500: no port shared with another server.
            f"--workers={FLAGS.workers}",
            *server_flags,
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and server.poll() is None:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models/dae", timeout=5)
            if grpc_port:  # Envoy's gRPC worker may start after the HTTP workers.
                socket.create_connection(("127.0.0.1", grpc_port), 5).close()
            return server
        except OSError:
            time.sleep(0.3)
    server.kill()
    sys.exit(f"{prog}: error: the {what} server did not start (see {log.name})")


def memory_mib(pid: int) -> dict:
    """Memory of the server, its process and its workers (and the gRPC worker's Envoy): the sum
    of their RSS, and of their PSS (shared pages counted once: the workers share what was loaded
    before the fork)."""
    total = {"Rss": 0, "Pss": 0}
    for p in processes.tree(pid):
        with open(f"/proc/{p}/smaps_rollup") as f:
            text = f.read()
        for key in total:
            total[key] += int(re.search(rf"^{key}:\s+(\d+) kB", text, re.M)[1])
    return {
        "server_rss_mib": round(total["Rss"] / 1024, 1),
        "server_pss_mib": round(total["Pss"] / 1024, 1),
    }


WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(%s, "rb"))
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, "errors": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def wrk(url: str, body_path: str, connections: int, seconds: int) -> dict:
    """One `wrk` run (one thread): requests/s, p50 and p99 in ms, and errors (non-2xx answers,
    socket errors and timeouts), from the numbers its Lua `done` hook prints."""
    script = os.path.join(os.path.dirname(body_path), "post.lua")
    with open(script, "w") as f:
        f.write(WRK_SCRIPT % json.dumps(body_path))
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", script, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return {
        "requests_per_s": result["requests"] / (result["duration_us"] / 1e6),
        "p50_ms": result["p50_us"] / 1e3,
        "p99_ms": result["p99_us"] / 1e3,
        "errors": result["errors"],
    }


def hey(url: str, body_path: str, connections: int, seconds: int) -> dict:
    """One `hey` run: requests/s, p50 and p99 in ms, and errors (non-200 answers and failures)."""
    out = subprocess.run(
        [
            "hey",
            "-z",
            f"{seconds}s",
            "-c",
            str(connections),
            "-m",
            "POST",
            "-T",
            "application/json",
            "-D",
            body_path,
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    statuses = {int(code): int(n) for code, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", out)}
    failures = re.search(r"Error distribution:\n((?:\s+\[\d+\].*\n?)*)", out)
    failed = sum(int(n) for n in re.findall(r"\[(\d+)\]", failures[1])) if failures else 0
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1]),
        "p50_ms": float(re.search(r"50% in ([\d.]+) secs", out)[1]) * 1e3,
        "p99_ms": float(re.search(r"99% in ([\d.]+) secs", out)[1]) * 1e3,
        "errors": failed + sum(n for code, n in statuses.items() if code != 200),
    }


LOAD_GENERATORS = {"wrk": wrk, "hey": hey}


def measure(setup: str, body_path: str, log) -> list[dict]:
    """The medians of --repeats runs per connection count of one server setup."""
    port = free_port()
    server = start_server(
        "benchmarks.serving", setup, port, log, f"--export_dir={FLAGS.export_dir}", *SETUPS[setup]
    )
    url = f"http://127.0.0.1:{port}/v1/models/dae:predict"
    try:
        load = LOAD_GENERATORS[FLAGS.load_generator]
        load(url, body_path, 16, 2)  # Warm-up.
        rows = []
        for connections in map(int, FLAGS.connections):
            runs = [load(url, body_path, connections, FLAGS.seconds) for _ in range(FLAGS.repeats)]
            row = {
                "setup": setup,
                "connections": connections,
                **{
                    k: round(statistics.median(r[k] for r in runs), 2)
                    for k in ("requests_per_s", "p50_ms", "p99_ms")
                },
                "errors": sum(r["errors"] for r in runs),
                "requests_per_s_runs": [round(r["requests_per_s"]) for r in runs],
                **memory_mib(server.pid),
            }
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
        return rows
    finally:
        server.terminate()
        server.wait(60)


def markdown(rows: list[dict]) -> str:
    lines = [
        "| setup | connections | requests/s (median) | p50 ms | p99 ms | errors | RSS MiB "
        "| PSS MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['setup']} | {r['connections']} | {r['requests_per_s']:.0f} | "
        f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} | {r['server_rss_mib']} | "
        f"{r['server_pss_mib']} |"
        for r in rows
    ]
    return "\n".join(lines)


def main(argv):
    del argv
    unknown = set(FLAGS.setups) - set(SETUPS)
    if unknown or layout.latest_version(FLAGS.export_dir) is None:
        sys.exit(
            f"benchmarks.serving: error: unknown setup(s) {sorted(unknown)} or no "
            f"published version in {FLAGS.export_dir}"
        )
    if shutil.which(FLAGS.load_generator) is None:
        sys.exit(
            f"benchmarks.serving: error: {FLAGS.load_generator} not found; install it "
            f"(apt-get install {FLAGS.load_generator})"
        )
    with tempfile.TemporaryDirectory(prefix="serving-bench-") as tmp:
        body_path = os.path.join(tmp, "body.json")
        with open(body_path, "wb") as f:
            f.write(request_body(FLAGS.export_dir))
        rows = []
        for setup in FLAGS.setups:
            with open(os.path.join(tmp, f"{setup}.log"), "w") as log:
                rows += measure(setup, body_path, log)
    result = {
        "cpus": os.cpu_count(),
        "load_generator": FLAGS.load_generator,
        "workers": FLAGS.workers,
        "load_average_1m": os.getloadavg()[0],
        "seconds_per_run": FLAGS.seconds,
        "repeats": FLAGS.repeats,
        "rows": rows,
    }
    if FLAGS.output:
        with open(FLAGS.output, "w") as f:
            json.dump(result, f, indent=1)
    print(json.dumps(result))
    print(markdown(rows))


if __name__ == "__main__":
    flags.define_serving_benchmark_flags()
    app.run(main, flags_parser=flags.parse_or_exit)
