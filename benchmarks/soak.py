"""Soak test of `python -m export.serve`: for each runtime, a server (--workers 2) under steady
load from `hey` at a fixed rate for --minutes, while a new version is published every
--publish_seconds, the served one is withdrawn now and then, a random worker is killed (SIGKILL)
now and then, and a few clients send oversized, gzip-bomb or half-sent requests. With
--second_export_dir the server runs a --model_config_file of two models (the soaked one and two
versions of the other, labelled stable and canary, the labels swapped between publishes), and the
load is shared between the soaked model and both labels.

    python -m benchmarks.soak --export_dir exports/dae [--second_export_dir exports/ae]
        [--minutes 10] [--runtimes litert,savedmodel] [--rate 1000] [--output soak.json]
        [--plot docs/soak-rss.png]

Prints per minute: requests answered and failed (with why), p50/p99, the server's RSS and CPU,
and what happened (publishes, withdrawals, kills); then the swaps, withdrawals and restarts the
server logged, the odd clients' answers, and the RSS slope per swap of each worker. The export
given is only read: versions are published into a temporary copy."""

import collections
import concurrent.futures
import functools
import gzip
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import grpc
import numpy as np
from absl import app
from matplotlib.figure import Figure

from benchmarks.grpc import predict_request
from benchmarks.serving import free_port, request_body, start_server
from keras_dae import flags
from keras_dae.core import processes
from keras_dae.export import layout, publish
from keras_dae.export.serving.tfs_protos import prediction_service_pb2_grpc
from keras_dae.figures import save

FLAGS = flags.FLAGS
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE_S = 2.0  # RSS and CPU are sampled this often.
ODD_CLIENTS_S = 20.0  # An oversized body, a gzip bomb and slow clients this often.
SLOW_CLIENTS = 10  # Half-sent headers each time.
GRPC_TIMEOUT_S = 10.0  # A gRPC predict's deadline.
KEPT_VERSIONS = 3  # Older ones are pruned, as an export kept for months is.


def publish_copy(export_dir: str, source: tuple[str, str]) -> int:
    """Publishes the next version of `export_dir` as a copy of `source` (its SavedModel and
    record folders) through the export's own staging; returns its number."""
    staging = publish.stage(export_dir)
    shutil.copytree(source[0], staging.saved_model, dirs_exist_ok=True)
    shutil.copytree(source[1], staging.record, dirs_exist_ok=True)
    publish.publish(export_dir, staging)
    return staging.version


def withdraw(export_dir: str, version: int) -> None:
    shutil.rmtree(layout.saved_model_dir(export_dir, version), ignore_errors=True)
    shutil.rmtree(layout.version_dir(export_dir, version), ignore_errors=True)


def process_use(pid: int) -> dict[int, tuple[float, float]]:
    """{pid: (RSS MiB, CPU seconds)} of the server, its workers and the gRPC worker's Envoy."""
    found = {p: (processes.rss_mib(p), processes.cpu_s(p)) for p in processes.tree(pid)}
    return {p: use for p, use in found.items() if use[0]}  # Not one gone since the listing.


def hey(url: str, body_path: str, seconds: float, rate: float, connections: int) -> dict:
    """One `hey` run at a fixed rate: answered, failed by reason, p50 and p99 in ms."""
    out = subprocess.run(
        ["hey", "-z", f"{seconds}s", "-c", str(connections), "-q", f"{rate / connections:g}"]
        + ["-m", "POST", "-T", "application/json", "-D", body_path, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    statuses = {int(c): int(n) for c, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", out)}
    failed = collections.Counter({f"HTTP {c}": n for c, n in statuses.items() if c != 200})
    errors = re.search(r"Error distribution:\n((?:\s+\[\d+\].*\n?)*)", out)
    for count, line in re.findall(r"\[(\d+)\]\s+(.*)", errors[1] if errors else ""):
        reason = re.sub(r'^Post "[^"]*": ', "", line)
        failed[re.sub(r"\S+->\S+\s", "", reason)] += int(count)  # No addresses.
    percentile = {p: re.search(rf"{p}% in ([\d.]+) secs", out) for p in (50, 99)}
    return {
        "answered": statuses.get(200, 0),
        "failed": dict(failed),
        **{f"p{p}_ms": float(m[1]) * 1e3 if m else None for p, m in percentile.items()},
    }


def steady_load(targets: dict[str, tuple[str, str]], seconds: float) -> dict:
    """`hey` on each target {name: (url, body)} at once, sharing --rate and --connections:
    answered, failed by target and reason, the median p50 and the highest p99 of the targets."""
    share = len(targets)
    with concurrent.futures.ThreadPoolExecutor(share) as pool:
        runs = dict(
            zip(
                targets,
                pool.map(
                    lambda target: hey(
                        *target, seconds, FLAGS.rate / share, max(FLAGS.connections // share, 1)
                    ),
                    targets.values(),
                ),
            )
        )
    failed = {
        f"{name}: {why}" if share > 1 else why: n
        for name, run in runs.items()
        for why, n in run["failed"].items()
    }
    p50s = [r["p50_ms"] for r in runs.values() if r["p50_ms"] is not None]
    p99s = [r["p99_ms"] for r in runs.values() if r["p99_ms"] is not None]
    return {
        "answered": sum(r["answered"] for r in runs.values()),
        "failed": failed,
        "p50_ms": statistics.median(p50s) if p50s else None,
        "p99_ms": max(p99s) if p99s else None,
    }


def grpc_load(channel: grpc.Channel, request, seconds: float, rate: float) -> dict:
    """TF Serving's stub on `channel` at `rate` predicts/s for `seconds`, each sent on time
    (paced from the start, not after the last answer): answered, failed by status code, p50 and
    p99 in ms."""
    predict = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict
    latencies, failed, calls = [], collections.Counter(), []

    def answered(call, sent: float) -> None:
        code = call.code()
        if code == grpc.StatusCode.OK:
            latencies.append(time.monotonic() - sent)
        else:
            failed[f"gRPC {code.name}"] += 1

    start = time.monotonic()
    for k in range(int(seconds * rate)):
        time.sleep(max(start + k / rate - time.monotonic(), 0))
        call = predict.future(request, timeout=GRPC_TIMEOUT_S)
        call.add_done_callback(functools.partial(answered, sent=time.monotonic()))
        calls.append(call)
    for call in calls:
        call.exception()  # Until each is done.
    latencies.sort()
    return {
        "answered": len(latencies),
        "failed": dict(failed),
        **{
            f"p{p}_ms": latencies[int(len(latencies) * p / 100)] * 1e3 if latencies else None
            for p in (50, 99)
        },
    }


def odd_client(port: int, kind: str, body: bytes) -> tuple[str, float]:
    """(answer, seconds) of one oversized body, gzip bomb or half-sent header."""
    start = time.monotonic()
    try:
        if kind == "slow":
            with socket.create_connection(("127.0.0.1", port), timeout=120) as connection:
                connection.sendall(b"POST /v1/models/dae:predict HTTP/1.1\r\nHost: x\r\nCont")
                status = connection.makefile("rb").readline().split(b" ")[1:2]
                answer = f"HTTP {status[0].decode()}" if status else "closed"
                return answer, time.monotonic() - start
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Content-Type": "application/json"}
        if kind == "gzip_bomb":
            headers["Content-Encoding"] = "gzip"
        connection.request("POST", "/v1/models/dae:predict", body, headers)
        response = connection.getresponse()
        response.read()
        connection.close()
        return f"HTTP {response.status}", time.monotonic() - start
    except (OSError, http.client.HTTPException) as e:
        return type(e).__name__, time.monotonic() - start


class Chaos:
    """What happens to the server while the load runs, each in its thread, each event logged
    with its time: publishes and withdrawals, kills, odd clients, and RSS/CPU samples."""

    def __init__(
        self, server: subprocess.Popen, port: int, export_dir: str, source, seed: int, config=None
    ):
        self.server, self.port, self.export_dir, self.source = server, port, export_dir, source
        self.config = config  # A ModelConfig whose labels are swapped now and then, or None.
        self.random = random.Random(seed)
        self.stopped = threading.Event()
        self.start = time.monotonic()
        self.events: list[tuple[float, str, str]] = []
        self.samples: list[tuple[float, dict]] = []
        self.before_publish: list[dict] = []  # Each worker's RSS before each publish.
        self.odd: list[tuple[str, str, float]] = []
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=target, daemon=True)
            for target in (self.publisher, self.killer, self.odd_clients, self.sampler)
            + ((self.relabeller,) if config else ())
        ]

    def event(self, kind: str, detail: str) -> None:
        self.events.append((time.monotonic() - self.start, kind, detail))

    def wait(self, seconds: float) -> bool:
        return not self.stopped.wait(max(seconds, 0))

    def publisher(self):
        published = 0
        while self.wait(self.start + (published + 1) * FLAGS.publish_seconds - time.monotonic()):
            self.before_publish.append(
                {p: rss for p, (rss, _) in process_use(self.server.pid).items()}
            )
            version = publish_copy(self.export_dir, self.source)
            published += 1
            self.event("published", str(version))
            for old in layout.published_versions(self.export_dir)[:-KEPT_VERSIONS]:
                withdraw(self.export_dir, old)
            if published % FLAGS.withdraw_every == 0 and self.wait(10):
                served = layout.latest_version(self.export_dir)
                withdraw(self.export_dir, served)
                self.event("withdrew", str(served))

    def relabeller(self):
        """Swaps the stable and canary labels of the config's second model, half-way between
        publishes: a canary promoted and rolled back, under load."""
        swaps = 0
        while self.wait(self.start + (swaps + 0.5) * FLAGS.publish_seconds - time.monotonic()):
            swaps += 1
            self.config.write(swapped=swaps % 2 == 1)
            self.event("relabelled", "stable 2, canary 1" if swaps % 2 else "stable 1, canary 2")

    def killer(self):
        while self.wait(FLAGS.kill_seconds * self.random.uniform(0.5, 1.5)):
            workers = sorted(processes.children(self.server.pid))
            if workers:
                victim = self.random.choice(workers)
                os.kill(victim, signal.SIGKILL)
                self.event("killed", str(victim))

    def odd_clients(self):
        row = b"[" + b",".join([b"0"] * 784) + b"]"
        kinds = {
            "oversized": b'{"instances": [' + b",".join([row] * 20_000) + b"]}",  # 31 MB.
            "gzip_bomb": gzip.compress(b" " * (64 << 20)),
            **{f"slow{i}": b"" for i in range(SLOW_CLIENTS)},
        }
        while self.wait(ODD_CLIENTS_S):
            for kind, body in kinds.items():
                threading.Thread(target=self.odd_client, args=(kind, body), daemon=True).start()

    def odd_client(self, kind: str, body: bytes) -> None:
        kind = "slow" if kind.startswith("slow") else kind
        answer, seconds = odd_client(self.port, kind, body)
        with self.lock:
            if not self.stopped.is_set():  # Not cut short by the server's stop.
                self.odd.append((kind, answer, seconds))

    def sampler(self):
        while self.wait(SAMPLE_S):
            self.samples.append((time.monotonic() - self.start, process_use(self.server.pid)))

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_):
        self.stopped.set()
        for thread in self.threads:
            thread.join(timeout=5)


def slope(before_publish: list[dict]) -> dict:
    """The RSS growth per swap (MiB) of a worker, fitted within each worker's life (the
    restarted ones start afresh) over its swaps after its first three: one slope for all."""
    series = collections.defaultdict(list)
    for k, rss in enumerate(before_publish):
        for pid, mib in rss.items():
            series[pid].append((k, mib))
    lives = [np.array(points[3:]).T for points in series.values() if len(points) >= 6]
    centred = [(k - k.mean(), mib - mib.mean()) for k, mib in lives]
    spread = sum((k**2).sum() for k, _ in centred)
    return {
        "mib_per_swap": round(float(sum((k * m).sum() for k, m in centred) / spread), 3)
        if spread
        else None,
        "worker_lives": len(lives),
        "swaps": sum(len(k) for k, _ in lives),
    }


def rss_figures(samples: list[dict]) -> dict:
    """The median and the highest of the server's RSS (all its processes) over `samples`."""
    totals = [sum(rss for rss, _ in sample.values()) for sample in samples] or [float("nan")]
    return {
        "rss_median_mib": round(statistics.median(totals), 1),
        "rss_max_mib": round(max(totals), 1),
    }


def minute_rows(chaos: Chaos, loads: list[dict]) -> list[dict]:
    """One row per minute: the load's figures, the server's RSS and CPU, what happened."""
    rows = []
    for minute, load in enumerate(loads):
        inside = [s for t, s in chaos.samples if minute * 60 <= t < (minute + 1) * 60]
        cpu = 0.0
        for a, b in zip(inside, inside[1:]):
            cpu += sum(b[p][1] - a[p][1] for p in b if p in a)
        events = collections.defaultdict(list)
        for t, kind, detail in chaos.events:
            if minute * 60 <= t < (minute + 1) * 60:
                events[kind].append(detail)
        rows.append(
            {
                "minute": minute + 1,
                **load,
                **rss_figures(inside),
                "cores": round(cpu / (SAMPLE_S * max(len(inside) - 1, 1)), 3),
                "events": dict(events),
            }
        )
    return rows


def latest_record(export_dir: str) -> tuple[str, str]:
    """The SavedModel and record folders of `export_dir`'s latest version."""
    version = layout.latest_version(export_dir)
    return layout.saved_model_dir(export_dir, version), layout.version_dir(export_dir, version)


class ModelConfig:
    """A --model_config_file of two models: `dae`, the soaked export (its latest version), and
    `ae`, two versions of --second_export_dir labelled stable and canary (TF Serving's text)."""

    def __init__(self, path: str, dae_dir: str, ae_dir: str):
        self.path, self.dae_dir, self.ae_dir = path, dae_dir, ae_dir
        self.write(swapped=False)

    def write(self, swapped: bool) -> None:
        stable, canary = (2, 1) if swapped else (1, 2)
        text = (
            f'model_config_list {{\n config {{ name: "dae" base_path: '
            f'"{os.path.join(self.dae_dir, layout.SAVED_MODEL)}" }}\n'
            f' config {{ name: "ae" base_path: "{os.path.join(self.ae_dir, layout.SAVED_MODEL)}"'
            " model_version_policy { all {} }"
            f' version_labels {{ key: "stable" value: {stable} }}'
            f' version_labels {{ key: "canary" value: {canary} }} }}\n}}\n'
        )
        with open(self.path + ".tmp", "w") as f:  # Replaced whole, as a deploy does.
            f.write(text)
        os.replace(self.path + ".tmp", self.path)


def soak(runtime: str, tmp: str, body_path: str) -> dict:
    source = latest_record(FLAGS.export_dir)
    export_dir = os.path.join(tmp, runtime)
    publish_copy(export_dir, source)
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1/models"
    targets = {"dae": (f"{url}/dae:predict", body_path)}
    config, served = None, [f"--export_dir={export_dir}"]
    if FLAGS.second_export_dir:
        ae_dir = os.path.join(tmp, f"{runtime}-ae")
        for _ in range(2):
            publish_copy(ae_dir, latest_record(FLAGS.second_export_dir))
        config = ModelConfig(os.path.join(tmp, f"{runtime}.config"), export_dir, ae_dir)
        served = [f"--model_config_file={config.path}"]
        ae_body = os.path.join(tmp, "ae-body.json")
        with open(ae_body, "wb") as f:
            f.write(request_body(FLAGS.second_export_dir))
        for label in ("stable", "canary"):
            targets[f"ae/labels/{label}"] = (f"{url}/ae/labels/{label}:predict", ae_body)
    log_path = os.path.join(tmp, f"{runtime}.log")
    grpc_port = free_port() if FLAGS.grpc_rate else 0
    if grpc_port:
        served += [f"--grpc_server={FLAGS.grpc_server}", f"--grpc_workers={FLAGS.grpc_workers}"]
    with open(log_path, "w") as log:
        server = start_server(
            "benchmarks.soak", runtime, port, log, *served, f"--runtime={runtime}",
            grpc_port=grpc_port,
        )  # fmt: skip
    channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}") if grpc_port else None
    with open(body_path, "rb") as f:
        grpc_request = predict_request(f.read())

    def minute(seconds: float) -> dict:
        """REST's load and, with --grpc_rate, gRPC's at once (one channel throughout, as a
        long-lived client's)."""
        if channel is None:
            return steady_load(targets, seconds)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            grpc_run = pool.submit(grpc_load, channel, grpc_request, seconds, FLAGS.grpc_rate)
            return {**steady_load(targets, seconds), "grpc": grpc_run.result()}

    try:
        minute(5)  # Warm-up.
        loads = []
        with Chaos(server, port, export_dir, source, FLAGS.seed, config) as chaos:
            for _ in range(FLAGS.minutes):
                loads.append(minute(60))
                print(json.dumps({"runtime": runtime, **loads[-1]}), file=sys.stderr)
    finally:
        if channel is not None:
            channel.close()
        server.terminate()
        server.wait(60)
    with open(log_path) as f:
        text = f.read()
    rows = minute_rows(chaos, loads)
    failed, grpc_failed = collections.Counter(), collections.Counter()
    for load in loads:
        failed.update(load["failed"])
        grpc_failed.update(load.get("grpc", {}).get("failed", {}))
    odd = collections.defaultdict(list)
    for kind, answer, seconds in chaos.odd:
        odd[kind, answer].append(seconds)
    # Each process but the supervisor: the workers (and the gRPC workers' Envoys).
    workers_rss = [rss for _, s in chaos.samples for p, (rss, _) in s.items() if p != server.pid]
    answered = sum(r["answered"] + r.get("grpc", {}).get("answered", 0) for r in rows)
    return {
        "runtime": runtime,
        "rows": rows,
        "answered": answered,
        "failed": dict(failed),
        "grpc": {
            "server": FLAGS.grpc_server,
            "workers": FLAGS.grpc_workers if FLAGS.grpc_server == "envoy" else None,
            "answered": sum(load["grpc"]["answered"] for load in loads),
            "failed": dict(grpc_failed),
        }
        if grpc_port
        else None,
        "kills": sum(kind == "killed" for _, kind, _ in chaos.events),
        "publishes": sum(kind == "published" for _, kind, _ in chaos.events),
        "withdrawals": sum(kind == "withdrew" for _, kind, _ in chaos.events),
        "relabels": sum(kind == "relabelled" for _, kind, _ in chaos.events),
        "models": list(targets),
        "log": {
            "swaps": text.count("now serving version"),
            "withdrawn": text.count(" withdrawn ("),
            "restarted": text.count("restarted as pid"),
            "tracebacks": text.count("Traceback"),
        },
        "odd_clients": {  # What each got, how many times, and the median seconds it took.
            f"{kind}: {answer}": [len(seconds), round(statistics.median(seconds), 3)]
            for (kind, answer), seconds in sorted(odd.items())
        },
        "slope": slope(chaos.before_publish),
        "rss_median_first_last_minute_mib": [rows[0]["rss_median_mib"], rows[-1]["rss_median_mib"]],
        "worker_rss_median_mib": round(statistics.median(workers_rss), 1),
        "cpu_us_per_request": round(sum(r["cores"] * 60 for r in rows) / max(answered, 1) * 1e6, 1),
        "rss_over_time": [
            (round(t, 1), round(sum(rss for rss, _ in s.values()), 1)) for t, s in chaos.samples
        ],
        "events": chaos.events,
    }


def _load_cells(load: dict) -> str:
    why = ", ".join(f"{n} {reason}" for reason, n in load["failed"].items()) or "0"
    p50, p99 = (f"{load[k]:.2f}" if load[k] is not None else "-" for k in ("p50_ms", "p99_ms"))
    return f"{load['answered']} | {why} | {p50} | {p99}"


def markdown(result: dict) -> str:
    has_grpc = result["grpc"] is not None
    grpc_head = " gRPC answered | gRPC failed (why) | gRPC p50 ms | gRPC p99 ms |"
    head = "| minute | answered | failed (why) | p50 ms | p99 ms |" + (grpc_head * has_grpc)
    rule = "|---:|---:|---|---:|---:|" + ("---:|---|---:|---:|" * has_grpc)
    lines = [
        f"**{result['runtime']}**",
        "",
        head + " RSS MiB median (max) | cores | events |",
        rule + "---:|---:|---|",
    ]
    for r in result["rows"]:
        events = "; ".join(f"{k} {', '.join(v)}" for k, v in r["events"].items())
        grpc_cells = f" {_load_cells(r['grpc'])} |" if has_grpc else ""
        lines.append(
            f"| {r['minute']} | {_load_cells(r)} |{grpc_cells} "
            f"{r['rss_median_mib']:.0f} ({r['rss_max_mib']:.0f}) | {r['cores']} | {events} |"
        )
    return "\n".join(lines)


def plot(results: list[dict], path: str, publish_seconds: float) -> None:
    """The server's RSS over time, one panel per runtime, kills and withdrawals marked."""
    marks = (("killed", "x", "a worker killed"), ("withdrew", "v", "withdrawal"))
    fig = Figure(figsize=(8, 2.2 + 2.2 * len(results)))
    axes = fig.subplots(len(results), 1, sharex=True, squeeze=False)[:, 0]
    for ax, result in zip(axes, results):
        t, rss = np.array(result["rss_over_time"]).T
        ax.plot(t / 60, rss, color="tab:blue")
        for kind, marker, label in marks:
            when = np.array([w for w, k, _ in result["events"] if k == kind])
            ax.plot(when / 60, np.interp(when, t, rss), marker, color="tab:red", label=label)
        grpc_workers = (result["grpc"] or {}).get("workers")
        serving = f"{FLAGS.workers} workers" + (
            f" and {grpc_workers} gRPC (Envoy)" if grpc_workers else ""
        )
        ax.set(ylabel="RSS (MiB)", title=f"{result['runtime']}, {serving}: all processes")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    axes[-1].set_xlabel(f"minute (a version published every {publish_seconds:g} s)")
    save(fig, path)


def main(argv):
    del argv
    if shutil.which("hey") is None:
        sys.exit("benchmarks.soak: error: hey not found; install it (apt-get install hey)")
    if layout.latest_version(FLAGS.export_dir) is None:
        sys.exit(f"benchmarks.soak: error: no published version in {FLAGS.export_dir}")
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        body_path = os.path.join(tmp, "body.json")
        with open(body_path, "wb") as f:
            f.write(request_body(FLAGS.export_dir))
        results = [soak(runtime, tmp, body_path) for runtime in FLAGS.runtimes]
    summary = {
        "cpus": os.cpu_count(),
        "load_average_1m": os.getloadavg()[0],
        "rate": FLAGS.rate,
        "connections": FLAGS.connections,
        "workers": FLAGS.workers,
        "minutes": FLAGS.minutes,
        "results": results,
    }
    if FLAGS.output:
        with open(FLAGS.output, "w") as f:
            json.dump(summary, f, indent=1)
    if FLAGS.plot:
        plot(results, FLAGS.plot, FLAGS.publish_seconds)
    for result in results:
        brief = {k: v for k, v in result.items() if k not in ("rows", "rss_over_time", "events")}
        print(json.dumps(brief))
        print(markdown(result))


if __name__ == "__main__":
    flags.define_soak_benchmark_flags()
    app.run(main, flags_parser=flags.parse_or_exit)
