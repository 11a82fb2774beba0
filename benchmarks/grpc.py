"""TF Serving's gRPC API against its REST API on the same server, same run: batch-1 predicts at
--streams concurrent streams, gRPC driven by h2load (nghttp2-client) with a prepared gRPC body,
REST by wrk, alternated --repeats times (medians); requests/s, p50/p99 and each load generator's
own CPU; the same gRPC load on --workers no-op grpcio servers (benchmarks.grpc_noop: the ceiling
of a Python gRPC server here); then the RSS of a server with a two-model, three-version
--model_config_file against one model.

    apt-get install -y nghttp2-client wrk
    python -m benchmarks.grpc --export_dir exports/dae --second_export_dir exports/ae

Prints one JSON object and a markdown table."""

import json
import os
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np
from absl import app

from benchmarks.serving import free_port, memory_mib, request_body, wrk
from keras_dae import flags
from keras_dae.core import processes
from keras_dae.export import layout
from keras_dae.export.serving import tensors
from keras_dae.export.serving.tfs_protos import predict_pb2

FLAGS = flags.FLAGS
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETUPS = {  # gRPC on Envoy's worker, and on each worker's grpc.aio server.
    "litert_int8_envoy": ["--runtime=litert", "--variant=int8", "--grpc_server=envoy"],
    "litert_int8_envoy_2": [  # Two Envoys on the port: two Python threads.
        "--runtime=litert",
        "--variant=int8",
        "--grpc_server=envoy",
        "--grpc_workers=2",
    ],
    "litert_int8_envoy_batching": [  # LiteRT's calls batched on the event loop's thread.
        "--runtime=litert",
        "--variant=int8",
        "--grpc_server=envoy",
        "--enable_batching",
    ],
    "litert_int8_grpcio": ["--runtime=litert", "--variant=int8", "--grpc_server=grpcio"],
    "savedmodel_envoy": ["--runtime=savedmodel", "--grpc_server=envoy"],
    "savedmodel_grpcio": ["--runtime=savedmodel", "--grpc_server=grpcio"],
}
PREDICT = "/tensorflow.serving.PredictionService/Predict"


def predict_request(rest_body: bytes) -> predict_pb2.PredictRequest:
    """The REST body's digit as TF Serving's PredictRequest for the model dae."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "dae"
    x = np.asarray(json.loads(rest_body)["instances"], np.float32)
    request.inputs["images"].CopyFrom(tensors.to_proto(x))
    return request


def grpc_body(rest_body: bytes) -> bytes:
    """The REST body's PredictRequest as one length-prefixed gRPC message."""
    message = predict_request(rest_body).SerializeToString()
    return struct.pack(">?I", False, len(message)) + message


def grpc_listeners(setup_flags: list[str]) -> int:
    """The sockets on the gRPC port once a setup's server is up: one per Envoy (--grpc_workers),
    or one per HTTP worker's grpc.aio server."""
    if "--grpc_server=envoy" not in setup_flags:
        return FLAGS.workers
    found = [f.split("=", 1)[1] for f in setup_flags if f.startswith("--grpc_workers=")]
    return int(found[0]) if found else 1


def start(flags_: list[str], log_path: str) -> tuple[subprocess.Popen, int, int]:
    """The server with `flags_`, once REST answers and each of its gRPC servers listens (a load
    begun before would go to the first ones alone)."""
    port, grpc_port = free_port(), free_port()
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "export.serve", f"--port={port}", f"--grpc_port={grpc_port}",
             f"--workers={FLAGS.workers}", *flags_],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and server.poll() is None:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models/dae", timeout=5)
            if processes.listening_sockets(grpc_port) >= grpc_listeners(flags_):
                return server, port, grpc_port
        except OSError:
            pass
        time.sleep(0.3)
    server.kill()
    sys.exit(f"benchmarks.grpc: error: the server did not start (see {log_path})")


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def h2load(grpc_port: int, body_path: str, folder: str) -> dict:
    """One h2load run (one thread, one stream per connection): requests/s, p50/p99 from its
    per-request log, errors (non-2xx; the gRPC status is checked once beforehand)."""
    log = os.path.join(folder, f"h2load-{grpc_port}.log")
    if os.path.exists(log):  # h2load appends: each run counts its own requests only.
        os.remove(log)
    out = subprocess.run(
        ["h2load", "-t1", f"-c{FLAGS.streams}", "-m1", f"-D{FLAGS.seconds}", f"-d{body_path}",
         "-H", "content-type: application/grpc", "-H", "te: trailers", f"--log-file={log}",
         f"http://127.0.0.1:{grpc_port}{PREDICT}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    with open(log) as f:
        rows = [line.split("\t") for line in f if line.strip()]
    latencies = sorted(int(r[2]) for r in rows)
    errors = sum(1 for r in rows if not r[1].startswith("2"))
    return {
        "requests_per_s": len(rows) / FLAGS.seconds,
        "p50_ms": latencies[len(latencies) // 2] / 1e3,
        "p99_ms": latencies[int(len(latencies) * 0.99)] / 1e3,
        "errors": errors,
        "summary": [line for line in out.splitlines() if line.startswith("requests:")][0],
    }


def check_grpc(grpc_port: int, body: bytes) -> None:
    """One Predict with the prepared body must be answered OK (h2load sees HTTP only)."""
    import grpc  # noqa: PLC0415 (only here)

    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        call = channel.unary_unary(PREDICT, lambda m: m, lambda m: m)
        call(body[5:], timeout=30)


def measured(run, *args) -> dict:
    """`run(*args)`'s numbers and its load generator's CPU, in cores."""
    cpu, start = children_cpu_s(), time.monotonic()
    result = run(*args)
    result["load_generator_cores"] = round((children_cpu_s() - cpu) / (time.monotonic() - start), 2)
    return result


def medians(runs: list[dict]) -> dict:
    """The median of each number over --repeats runs (the machine's speed drifts between
    runs), and each run's requests/s."""
    keys = ("requests_per_s", "p50_ms", "p99_ms", "load_generator_cores")
    return {
        **{k: round(statistics.median(r[k] for r in runs), 2) for k in keys},
        "errors": sum(r["errors"] for r in runs),
        "requests_per_s_runs": [round(r["requests_per_s"]) for r in runs],
    }


def noop_ceiling(grpc_path: str, folder: str) -> dict:
    """h2load against --workers no-op gRPC servers (benchmarks.grpc_noop) on one port: what
    grpcio alone allows here, with no model, checks or metrics."""
    grpc_port = free_port()
    servers = [
        subprocess.Popen(
            [sys.executable, "-m", "benchmarks.grpc_noop", "--port", str(grpc_port)], cwd=ROOT
        )
        for _ in range(FLAGS.workers)
    ]
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with open(grpc_path, "rb") as f:
                    check_grpc(grpc_port, f.read())
                break
            except Exception:  # noqa: BLE001 (not listening yet)
                if time.monotonic() > deadline:
                    sys.exit("benchmarks.grpc: error: the no-op gRPC servers did not start")
                time.sleep(0.3)
        time.sleep(1)  # Every worker bound.
        runs = [measured(h2load, grpc_port, grpc_path, folder) for _ in range(FLAGS.repeats)]
        return medians(runs)
    finally:
        for server in servers:
            server.terminate()
            server.wait(60)


def config_text(models: dict[str, str]) -> str:
    entries = []
    for name, export_dir in models.items():
        policy = "model_version_policy { all {} }" if name == "dae" else ""
        entries.append(
            f'config {{ name: "{name}" base_path: '
            f'"{os.path.join(os.path.abspath(export_dir), layout.SAVED_MODEL)}" {policy} }}'
        )
    return "model_config_list {\n" + "\n".join(entries) + "\n}\n"


def main(argv):
    del argv
    folder = tempfile.mkdtemp(prefix="benchmarks-grpc-")
    rest_path, grpc_path = os.path.join(folder, "rest.json"), os.path.join(folder, "grpc.bin")
    body = request_body(FLAGS.export_dir)
    with open(rest_path, "wb") as f:
        f.write(body)
    with open(grpc_path, "wb") as f:
        f.write(grpc_body(body))
    chosen = FLAGS.setups or list(SETUPS)
    unknown = [setup for setup in chosen if setup not in SETUPS]
    if unknown:
        sys.exit(
            f"benchmarks.grpc: error: --setups: no setup {unknown[0]}; there are {list(SETUPS)}"
        )
    results = {}
    for setup in chosen:
        server, port, grpc_port = start(
            [f"--export_dir={FLAGS.export_dir}", *SETUPS[setup]],
            os.path.join(folder, f"{setup}.log"),
        )
        try:
            check_grpc(grpc_port, grpc_body(body))
            url = f"http://127.0.0.1:{port}/v1/models/dae:predict"
            results[setup] = memory_mib(server.pid)  # Idle, as the config server's below.
            runs = {"grpc": [], "rest": []}
            for _ in range(FLAGS.repeats):  # Alternated: both see the same machine.
                runs["grpc"].append(measured(h2load, grpc_port, grpc_path, folder))
                runs["rest"].append(measured(wrk, url, rest_path, FLAGS.streams, FLAGS.seconds))
            results[setup].update({protocol: medians(r) for protocol, r in runs.items()})
            grpc, rest = results[setup]["grpc"], results[setup]["rest"]
            results[setup]["grpc_over_rest"] = round(
                grpc["requests_per_s"] / rest["requests_per_s"], 2
            )
        finally:
            server.terminate()
            server.wait(60)
    results["noop_grpc_ceiling"] = noop_ceiling(grpc_path, folder)
    if FLAGS.second_export_dir:
        config = os.path.join(folder, "models.config")
        with open(config, "w") as f:
            f.write(config_text({"dae": FLAGS.export_dir, "ae": FLAGS.second_export_dir}))
        server, *_ = start(
            [f"--model_config_file={config}", *SETUPS["litert_int8_envoy"]],
            os.path.join(folder, "config.log"),
        )
        try:
            results["litert_int8_config"] = memory_mib(server.pid)
        finally:
            server.terminate()
            server.wait(60)
    print(json.dumps(results, indent=1))
    for setup in (*chosen, "litert_int8_config"):
        if setup in results:
            print(f"{setup}: RSS {results[setup]['server_rss_mib']} MiB, "
                  f"PSS {results[setup]['server_pss_mib']} MiB")  # fmt: skip
    print("| server | protocol | req/s (median) | runs | p50 ms | p99 ms | errors | gRPC/REST "
          "| load generator cores |")  # fmt: skip
    print("|---|---|---:|---|---:|---:|---:|---:|---:|")
    rows = [
        (setup, protocol, results[setup][protocol], results[setup]["grpc_over_rest"])
        for setup in chosen
        for protocol in ("grpc", "rest")
    ]
    rows.append(("no-op grpcio", "grpc", results["noop_grpc_ceiling"], ""))
    for setup, protocol, r, ratio in rows:
        print(
            f"| {setup} | {protocol} | {r['requests_per_s']:,.0f} | "
            f"{' / '.join(map(str, r['requests_per_s_runs']))} | {r['p50_ms']:.2f} | "
            f"{r['p99_ms']:.2f} | {r['errors']} | {ratio if protocol == 'grpc' else ''} | "
            f"{r['load_generator_cores']} |"
        )


def run():
    flags.define_grpc_benchmark_flags()
    app.run(main, flags_parser=flags.parse_or_exit)


if __name__ == "__main__":
    run()
