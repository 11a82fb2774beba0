"""Every absl flag of keras-dae, in one place: training (`python -m keras_dae`) and export
(`python -m export`). Nothing here imports TensorFlow, so bad values fail before it loads."""

import dataclasses
import os
import sys

from absl import app, flags

from keras_dae.core.config import LOSSES, NOISE_KINDS, STRATEGIES, TrainConfig
from keras_dae.core.errors import ConfigError

FLAGS = flags.FLAGS


def define_train_flags(flag_values: flags.FlagValues = FLAGS):
    """Flags of `python -m keras_dae`; the original's names and short names are kept."""
    d = TrainConfig()
    define = dict(flag_values=flag_values)
    flags.DEFINE_boolean(
        "add_noise",
        d.add_noise,
        "Train a denoising AE (corrupt the input); --noadd_noise for a plain AE.",
        short_name="n",
        **define,
    )
    flags.DEFINE_boolean(
        "binarize_input",
        d.binarize_input,
        "Binarize pixels (pixel/255 >= 0.5).",
        short_name="b",
        **define,
    )
    flags.DEFINE_integer("epochs", d.epochs, "Epochs to train.", short_name="e", **define)
    flags.DEFINE_enum(
        "loss",
        d.loss,
        LOSSES,
        "Reconstruction loss: per-pixel cross-entropy or MSE.",
        short_name="ls",
        case_sensitive=False,
        **define,
    )
    flags.DEFINE_float(
        "learning_rate", d.learning_rate, "Adam learning rate.", short_name="lr", **define
    )
    flags.DEFINE_integer(
        "lr_decay_epoch",
        d.lr_decay_epoch,
        "From this epoch on (1-based) the learning rate is divided by --lr_decay_factor.",
        **define,
    )
    flags.DEFINE_float("lr_decay_factor", d.lr_decay_factor, "Learning-rate divisor.", **define)
    flags.DEFINE_integer(
        "latent_dim", d.latent_dim, "Size of the code z.", short_name="z", **define
    )
    flags.DEFINE_integer(
        "print_every",
        d.print_every,
        "Log the epoch's running training loss after every N batches exactly (0: only per "
        "epoch; in a notebook, redraw the progress bar). Batches run up to 100 to a call into "
        "TensorFlow (67 for MNIST), so the lines of one call come together as it returns.",
        short_name="p",
        **define,
    )
    flags.DEFINE_integer("batch_size", d.batch_size, "Training batch size (global).", **define)
    flags.DEFINE_enum(
        "noise",
        d.noise,
        NOISE_KINDS,
        "Corruption for the DAE: dropout (zero, rescale survivors: the original), "
        "mask (zero, no rescale: Vincent et al. 2008) or gaussian (add, clip to "
        "[0, 1]).",
        case_sensitive=False,
        **define,
    )
    flags.DEFINE_float(
        "noise_rate",
        d.noise_rate,
        "Fraction of pixels dropped (dropout, mask) or the sigma (gaussian).",
        **define,
    )
    flags.DEFINE_integer("seed", d.seed, "Random seed: same seed, same run.", **define)
    flags.DEFINE_string(
        "dataset",
        d.dataset,
        "TFDS dataset name (mnist, fashion_mnist, kmnist); ignored with --data_dir.",
        **define,
    )
    flags.DEFINE_string(
        "data_dir",
        d.data_dir,
        "Folder with the four MNIST-format IDX files (gzipped or not); no network needed.",
        **define,
    )
    flags.DEFINE_string(
        "output_dir",
        d.output_dir,
        "Where outputs go (default: runs/<AE|DAE>-<CE|MSE>-z<latent_dim>).",
        **define,
    )
    flags.DEFINE_integer(
        "train_examples",
        d.train_examples,
        "Use only the first N training images (quick tries).",
        **define,
    )
    flags.DEFINE_integer(
        "test_examples", d.test_examples, "Use only the first N test images.", **define
    )
    flags.DEFINE_boolean(
        "tensorboard",
        d.tensorboard,
        "Also write TensorBoard scalars and reconstruction images.",
        **define,
    )
    flags.DEFINE_enum(
        "strategy",
        d.strategy,
        STRATEGIES,
        "tf.distribute strategy: one device, all local GPUs (mirrored), or the "
        "cluster in TF_CONFIG (multi_worker). --batch_size stays the global batch.",
        **define,
    )
    flags.DEFINE_boolean(
        "overwrite",
        d.overwrite,
        "Start anew in an --output_dir that holds another (or a finished) run, "
        "instead of refusing it (or resuming).",
        **define,
    )
    flags.DEFINE_multi_integer(
        "exclude_digits",
        list(d.exclude_digits),
        "Leave this digit class out of the training split (repeatable; "
        "test keeps it): the held-out anomalies of keras_dae.evaluate.",
        lower_bound=0,
        upper_bound=9,
        **define,
    )


def program_name(argv: list[str]) -> str:
    """`keras_dae` for `python -m keras_dae`, `export.infer` for `python -m export.infer`, else
    the script's name."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name:
        return spec.name.removesuffix(".__main__")
    return os.path.basename(argv[0])


def run_command(main, define_flags, doc: str) -> None:
    """absl's `app.run` of one command, alike as `python -m MODULE` and as its console script:
    --help shows `doc` and the command's flags, which absl looks up by sys.argv[0] (a console
    script's wrapper has no docstring, and its flags are not defined by it)."""
    before = set(FLAGS)
    define_flags()
    for name in sorted(set(FLAGS) - before):
        FLAGS.register_key_flag_for_module(sys.argv[0], FLAGS[name])
    main_module = sys.modules["__main__"]
    if not main_module.__doc__:
        main_module.__doc__ = doc
    app.run(main, flags_parser=parse_or_exit)


BOOLEAN_WORDS = {"true": True, "false": False}  # The original's README writes `-n True`.


def join_boolean_values(
    argv: list[str], flag_values: flags.FlagValues = FLAGS
) -> tuple[list[str], list[tuple[str, str]]]:
    """argv with each boolean flag followed by a separate True or False (argparse's spelling, any
    case) joined into absl's (`-n False` -> `--noadd_noise`), and the (given, absl) pairs.
    absl alone reads `-n False` as `-n` and a stray word: True, the opposite of what was meant."""
    out, joined, i = [], [], 0
    while i < len(argv):
        token, value = argv[i], argv[i + 1].lower() if i + 1 < len(argv) else None
        name = token.lstrip("-")
        if token == "--":
            out += argv[i:]
            break
        if (
            token.startswith("-")
            and "=" not in token
            and name in flag_values
            and isinstance(flag_values[name], flags.BooleanFlag)
            and value in BOOLEAN_WORDS
        ):
            long = flag_values[name].name
            spelled = f"--{'' if BOOLEAN_WORDS[value] else 'no'}{long}"
            out.append(spelled)
            joined.append((f"{token} {argv[i + 1]}", spelled))
            i += 2
            continue
        out.append(token)
        i += 1
    return out, joined


def parse_or_exit(argv: list[str]) -> list[str]:
    """Parses argv into FLAGS (an absl `flags_parser`), a separate True/False joined to its
    boolean flag with one line saying absl's spelling; a bad flag exits with one line."""
    prog = program_name(argv)
    argv, joined = join_boolean_values(argv)
    try:
        rest = FLAGS(argv)
    except flags.Error as e:
        sys.exit(f"{prog}: error: {e} (see --help)")
    if joined:
        given, spelled = (" ".join(part) for part in zip(*joined))
        print(f"{prog}: read {given} as {spelled} (absl's spelling)", file=sys.stderr)
    return rest


def train_config_from_flags(argv: list[str], flag_values: flags.FlagValues = FLAGS) -> TrainConfig:
    """The validated TrainConfig the parsed flags describe; raises ConfigError on a bad value or
    a stray argument (named)."""
    if len(argv) > 1:
        raise ConfigError(
            f"unexpected argument(s) {' '.join(argv[1:])!r}: every value follows its flag "
            "(-z 10 or --latent_dim=10; see --help)"
        )
    names = [f.name for f in dataclasses.fields(TrainConfig)]
    return TrainConfig(**{name: flag_values[name].value for name in names})


def define_train_benchmark_flags(flag_values: flags.FlagValues = FLAGS):
    """Flags of the scripts in benchmarks/."""
    define = dict(flag_values=flag_values)
    flags.DEFINE_string(
        "data_dir", None, "Folder with the four MNIST IDX files.", required=True, **define
    )
    flags.DEFINE_integer(
        "epochs", 3, "Timed epochs, after one warm-up epoch.", lower_bound=1, **define
    )
    flags.DEFINE_integer(
        "repeats",
        5,
        "Repeats of the roofline measurement (median is quoted).",
        lower_bound=1,
        **define,
    )
    flags.DEFINE_boolean(
        "baseline",
        True,
        "Also train the unoptimized path (Keras Adam, one step per call, no XLA) "
        "in the same run, with this seed and the next: its epoch time, and the "
        "loss trajectories beside the default's.",
        **define,
    )


def define_export_flags(flag_values: flags.FlagValues = FLAGS):
    """Flags of `python -m export`."""
    define = dict(flag_values=flag_values)
    flags.DEFINE_string("model", None, "The trained model.keras to export.", **define)
    flags.DEFINE_string("export_dir", None, "Where the export goes (e.g. exports/dae).", **define)
    flags.DEFINE_string(
        "data_dir",
        None,
        "MNIST IDX folder for calibration and the parity check (default: the "
        "one the model was trained on, from history.json beside it).",
        **define,
    )
    flags.DEFINE_float(
        "float_tolerance",
        0.001,
        "Largest relative rise of test CE allowed for float variants.",
        lower_bound=0.0,
        **define,
    )
    flags.DEFINE_float(
        "int8_tolerance",
        0.02,
        "Largest relative rise of test CE allowed for int8 variants.",
        lower_bound=0.0,
        **define,
    )
    flags.DEFINE_integer(
        "calibration_examples",
        1000,
        "Training images used to calibrate the int8 variants.",
        lower_bound=2,
        **define,
    )
    flags.DEFINE_integer(
        "num_threads",
        1,
        "LiteRT threads for the parity and latency checks.",
        lower_bound=1,
        **define,
    )
    flags.DEFINE_integer(
        "latency_invokes",
        2000,
        "Invokes timed per variant (median quoted).",
        lower_bound=1,
        **define,
    )
    flags.DEFINE_integer(
        "seed", 0, "Seed of the calibration images' choice and noise.", lower_bound=0, **define
    )


def define_infer_flags(flag_values: flags.FlagValues = FLAGS):
    """Flags of `python -m export.infer`."""
    define = dict(flag_values=flag_values)
    flags.DEFINE_string(
        "model",
        None,
        "A .tflite autoencoder from the export (versions/<v>/tflite/*.tflite, "
        "not encoder or decoder).",
        **define,
    )
    flags.DEFINE_multi_string(
        "input",
        [],
        "Images (PNG/JPEG, any size or mode) or .npy batches; more may follow as arguments.",
        **define,
    )
    flags.DEFINE_string("output_dir", "out", "Where the denoised PNGs and the sheet go.", **define)
    flags.DEFINE_boolean(
        "corrupt",
        False,
        "Apply the model's own training noise first (from model.json of its "
        "export version; dropout 0.5 when there is none), to demonstrate "
        "denoising (refused for a plain AE, trained without noise).",
        **define,
    )
    flags.DEFINE_boolean("invert", False, "Invert images: dark digits on light paper.", **define)
    flags.DEFINE_boolean(
        "binarize", True, "Binarize at 0.5, as the default training does.", **define
    )
    flags.DEFINE_integer("seed", 0, "Seed of --corrupt.", **define)


def define_inference_benchmark_flags(flag_values: flags.FlagValues = FLAGS):
    """Flags of benchmarks/inference.py."""
    define = dict(flag_values=flag_values)
    flags.DEFINE_string(
        "export_dir", None, "An export made by `python -m export`.", required=True, **define
    )
    flags.DEFINE_integer(
        "repeats",
        1000,
        "Timed calls per batch-1 measurement (median quoted).",
        lower_bound=10,
        **define,
    )


def define_web_flags(flag_values: flags.FlagValues = FLAGS):
    """Flags of `python -m export.web` (the browser demo's local server)."""
    define = dict(flag_values=flag_values)
    flags.DEFINE_string(
        "export_dir",
        None,
        "An export made by `python -m export`: its latest published version is served.",
        required=True,
        **define,
    )
    flags.DEFINE_integer(
        "port",
        8000,
        "Port on 127.0.0.1 (0: any free port).",
        lower_bound=0,
        upper_bound=65535,
        **define,
    )


def define_web_benchmark_flags(flag_values: flags.FlagValues = FLAGS):
    """Flags of benchmarks/web.py."""
    define = dict(flag_values=flag_values)
    flags.DEFINE_string(
        "export_dir",
        None,
        "An export to time (default: a tiny one trained and exported first).",
        **define,
    )
    flags.DEFINE_integer(
        "repeats", 100, "Reconstructions timed per model (median quoted).", lower_bound=10, **define
    )
    flags.DEFINE_string(
        "screenshot",
        None,
        "Also save the page (a drawn 7, corrupted) as this PNG (docs/web-demo.png).",
        **define,
    )


def define_serve_flags(flag_values: flags.FlagValues = FLAGS):
    """Flags of `python -m export.serve` (TensorFlow Serving's names where it has one). KServe
    parses sys.argv itself when imported, abbreviations allowed: no name here may be a prefix of
    one of its flags (--access_log was: of --access_log_format)."""
    define = {"flag_values": flag_values}
    flags.DEFINE_string(
        "export_dir",
        None,
        "An export made by `python -m export` (e.g. "
        "exports/dae); its highest good version is served.",
        **define,
    )
    flags.DEFINE_string(
        "model_name", "dae", "The model's name in the URL /v1/models/<name>.", **define
    )
    flags.DEFINE_enum(
        "runtime",
        "savedmodel",
        ["savedmodel", "litert"],
        "savedmodel: the SavedModel on TensorFlow; litert: a .tflite variant on "
        "ai-edge-litert (no TensorFlow).",
        **define,
    )
    flags.DEFINE_enum(
        "variant",
        "int8",
        ["float32", "float16", "dynamic_range", "int8"],
        "The .tflite variant --runtime=litert serves for serving_default (encode "
        "and decode run the float32 encoder and decoder).",
        **define,
    )
    flags.DEFINE_integer(
        "port",
        8501,
        "HTTP port (TensorFlow Serving's REST port).",
        lower_bound=1,
        upper_bound=65535,
        **define,
    )
    flags.DEFINE_integer(
        "grpc_port",
        8500,
        "gRPC port (TensorFlow Serving's): its PredictionService and ModelService, and the "
        "Open Inference Protocol's GRPCInferenceService; 0: no gRPC.",
        lower_bound=0,
        upper_bound=65535,
        **define,
    )
    flags.DEFINE_enum(
        "grpc_server",
        "grpcio",
        ["grpcio", "envoy"],
        "What answers on --grpc_port. grpcio: each worker's grpc.aio server. envoy: "
        "--grpc_workers more workers, each Envoy (pyvoy) with its own copy of the models: 1.4x "
        "grpcio's LiteRT calls a second here, a process's memory more each.",
        **define,
    )
    flags.DEFINE_integer(
        "grpc_workers",
        1,
        "With --grpc_server=envoy: Envoy's workers on --grpc_port (the kernel spreads the "
        "connections). 2 keep gRPC answered while one restarts after a death (one alone: "
        "refused for its restart, ~3 s), each its own process and copy of the models.",
        lower_bound=1,
        **define,
    )
    flags.DEFINE_string(
        "model_config_file",
        None,
        "TensorFlow Serving's ModelServerConfig (text format): the models served, each "
        "base_path an export's saved_model/ folder, with version policies and labels; "
        "instead of --export_dir.",
        **define,
    )
    flags.DEFINE_boolean(
        "allow_version_labels_for_unavailable_models",
        False,
        "Let a --model_config_file label new to its model name a version not served (yet): it "
        "answers NOT_FOUND until that version is; a label cannot move to one (TensorFlow "
        "Serving's flag). Without it, such a config is refused.",
        **define,
    )
    flags.DEFINE_float(
        "model_config_file_poll_wait_seconds",
        5.0,
        "How often --model_config_file is read again and applied (TensorFlow Serving's "
        "flag; 0: read once).",
        lower_bound=0,
        **define,
    )
    flags.DEFINE_integer(
        "workers",
        1,
        "Server processes sharing the port, each with its own model (one process "
        "saturates a core; use one per core the server may take).",
        lower_bound=1,
        **define,
    )
    flags.DEFINE_integer(
        "max_worker_deaths_per_minute",
        5,
        "A worker killed by a signal is restarted in its place; this many deaths within a "
        "minute stop the server (a worker that keeps dying).",
        lower_bound=1,
        **define,
    )
    flags.DEFINE_integer(
        "tensorflow_intra_op_parallelism",
        1,
        "Threads of one SavedModel op (TensorFlow Serving's flag; 0: TensorFlow picks). "
        "1 measured best here: batches are small, and more threads cost CPU to hand "
        "work over.",
        lower_bound=0,
        **define,
    )
    flags.DEFINE_integer(
        "tensorflow_inter_op_parallelism",
        1,
        "SavedModel ops run at once (TensorFlow Serving's flag; 0: TensorFlow picks).",
        lower_bound=0,
        **define,
    )
    flags.DEFINE_integer(
        "max_batch",
        1024,
        "Most instances one request may hold (more: 400).",
        lower_bound=1,
        **define,
    )
    flags.DEFINE_integer(
        "max_body_bytes",
        32 << 20,
        "Largest request body in bytes, gzip-encoded ones counted decoded (more: 413).",
        lower_bound=1,
        **define,
    )
    flags.DEFINE_integer(
        "max_inflight_bytes",
        None,
        "Most request body bytes one worker holds at once, from reading to answering "
        "(chunked and gzip bodies count as --max_body_bytes); more wait "
        "--admission_wait_seconds, then 503. At least --max_body_bytes (the default).",
        lower_bound=1,
        **define,
    )
    flags.DEFINE_float(
        "admission_wait_seconds",
        1.0,
        "How long a request waits for room under --max_inflight_bytes before its 503.",
        lower_bound=0,
        **define,
    )
    flags.DEFINE_float(
        "read_timeout_seconds",
        30,
        "A request, header and body, must arrive within it of the connection (or of its "
        "first byte on a kept-alive one); else 408 and the connection closes. Above "
        "--admission_wait_seconds, which it includes.",
        lower_bound=0.1,
        **define,
    )
    flags.DEFINE_integer(
        "max_connections",
        1000,
        "Most connections (or requests in progress) per worker; requests beyond get 503 "
        "(uvicorn's --limit-concurrency). Under the usual 1024 open files of a process.",
        lower_bound=1,
        **define,
    )
    flags.DEFINE_boolean(
        "enable_batching",
        None,
        "Group concurrent requests into one model call, as TF Serving's (default: on for "
        "savedmodel, its calls on a thread of their own; off for litert, whose batched calls "
        "run on the event loop's thread: more calls a second at 16 streams, fewer at one).",
        **define,
    )
    flags.DEFINE_integer(
        "max_batch_size", 256, "Most rows in one batched model call.", lower_bound=1, **define
    )
    flags.DEFINE_integer(
        "batch_timeout_micros",
        0,
        "How long a batch waits for more requests before its model call; 0: it takes the "
        "requests that arrived while the model was busy (litert: that reached the model in one "
        "turn of the event loop).",
        lower_bound=0,
        **define,
    )
    flags.DEFINE_float(
        "poll_seconds",
        0.5,
        "How often the export is checked for a newer version.",
        lower_bound=0.05,
        **define,
    )
    flags.DEFINE_integer(
        "grace_seconds",
        30,
        "On SIGTERM, how long requests in flight may take.",
        lower_bound=0,
        **define,
    )
    flags.DEFINE_boolean(
        "log_requests", False, "Log one access line per request (costs throughput).", **define
    )
    flags.register_multi_flags_validator(
        ["max_inflight_bytes", "max_body_bytes"],
        lambda f: f["max_inflight_bytes"] is None or f["max_inflight_bytes"] >= f["max_body_bytes"],
        "--max_inflight_bytes must be at least --max_body_bytes (else a body at the limit "
        "could never be admitted)",
        flag_values=flag_values,
    )


def define_grpc_benchmark_flags(flag_values: flags.FlagValues = FLAGS):
    """Flags of benchmarks/grpc.py."""
    define = {"flag_values": flag_values}
    flags.DEFINE_string(
        "export_dir",
        None,
        "An export with two or more versions (the config's two-version model).",
        required=True,
        **define,
    )
    flags.DEFINE_string(
        "second_export_dir", None, "Another export (the config's second model).", **define
    )
    flags.DEFINE_integer("seconds", 10, "Duration of each run.", lower_bound=1, **define)
    flags.DEFINE_integer(
        "streams", 16, "Concurrent streams (connections).", lower_bound=1, **define
    )
    flags.DEFINE_integer("workers", 2, "Server processes.", lower_bound=1, **define)
    flags.DEFINE_integer(
        "repeats", 3, "Runs of each protocol, alternated (medians).", lower_bound=1, **define
    )
    flags.DEFINE_list(
        "setups",
        None,
        "The server setups to measure, comma-separated (default: all; see benchmarks/grpc.py's "
        "SETUPS, e.g. litert_int8_envoy,litert_int8_envoy_2).",
        **define,
    )


def define_serving_benchmark_flags(flag_values: flags.FlagValues = FLAGS):
    """Flags of benchmarks/serving.py."""
    define = {"flag_values": flag_values}
    flags.DEFINE_string(
        "export_dir", None, "An export made by `python -m export`.", required=True, **define
    )
    flags.DEFINE_list(
        "setups",
        ["litert", "savedmodel_batching", "savedmodel"],
        "Servers to measure: litert (int8), savedmodel_batching (batching on) and "
        "savedmodel (batching off).",
        **define,
    )
    flags.DEFINE_list(
        "connections", ["1", "16", "64"], "Concurrent connections of each run.", **define
    )
    flags.DEFINE_integer("seconds", 20, "Duration of each run.", lower_bound=1, **define)
    flags.DEFINE_integer(
        "repeats",
        3,
        "Runs per setup and connection count (medians quoted).",
        lower_bound=1,
        **define,
    )
    flags.DEFINE_enum(
        "load_generator",
        "wrk",
        ["wrk", "hey"],
        "The load generator (Debian packages wrk, hey); wrk takes a quarter of hey's CPU "
        "per request, which leaves more of the shared cores to the server.",
        **define,
    )
    flags.DEFINE_integer(
        "workers",
        len(os.sched_getaffinity(0)),
        "Server worker processes (--workers of export.serve); default: one per CPU.",
        lower_bound=1,
        **define,
    )
    flags.DEFINE_string("output", None, "Also write the JSON results to this file.", **define)


def define_soak_benchmark_flags(flag_values: flags.FlagValues = FLAGS):
    """Flags of benchmarks/soak.py."""
    define = {"flag_values": flag_values}
    flags.DEFINE_string(
        "export_dir",
        None,
        "An export made by `python -m export`: its latest version is what gets published "
        "again and again (into a temporary export; this one is left alone).",
        required=True,
        **define,
    )
    flags.DEFINE_string(
        "second_export_dir",
        None,
        "Another export (the AE): then the server runs a --model_config_file of two models, "
        "the soaked export and two versions of this one labelled stable and canary (swapped "
        "between publishes), each under its share of the load.",
        **define,
    )
    flags.DEFINE_list(
        "runtimes", ["litert", "savedmodel"], "The servers to soak, one after the other.", **define
    )
    flags.DEFINE_integer("minutes", 10, "Duration of each soak.", lower_bound=1, **define)
    flags.DEFINE_integer(
        "rate", 1000, "Requests/s of the steady load (hey's fixed rate).", lower_bound=1, **define
    )
    flags.DEFINE_integer("connections", 8, "Connections of the load.", lower_bound=1, **define)
    flags.DEFINE_integer(
        "grpc_rate",
        0,
        "Also TF Serving gRPC predicts/s of the soaked model (its Python stub, one channel); 0: "
        "REST only.",
        lower_bound=0,
        **define,
    )
    flags.DEFINE_enum(
        "grpc_server",
        "grpcio",
        ["grpcio", "envoy"],
        "The server's --grpc_server, with --grpc_rate.",
        **define,
    )
    flags.DEFINE_integer(
        "grpc_workers", 1, "The server's --grpc_workers, with --grpc_rate.", lower_bound=1, **define
    )
    flags.DEFINE_integer("workers", 2, "Server workers (--workers).", lower_bound=1, **define)
    flags.DEFINE_float(
        "publish_seconds", 30, "A new version is published this often.", lower_bound=1, **define
    )
    flags.DEFINE_integer(
        "withdraw_every",
        4,
        "Every this many publishes, the served version is withdrawn 10 s later.",
        lower_bound=1,
        **define,
    )
    flags.DEFINE_float(
        "kill_seconds",
        100,
        "A random worker is killed (SIGKILL) at random intervals of about this mean.",
        lower_bound=5,
        **define,
    )
    flags.DEFINE_integer("seed", 0, "Seed of the kills' timing and victims.", **define)
    flags.DEFINE_string("output", None, "Also write the JSON results to this file.", **define)
    flags.DEFINE_string("plot", None, "Write the RSS-over-time plot (PNG) here.", **define)


def define_evaluate_flags(flag_values: flags.FlagValues = FLAGS):
    """Flags of `python -m keras_dae.evaluate`."""
    define = {"flag_values": flag_values}
    flags.DEFINE_string(
        "run",
        None,
        "The finished run folder to evaluate (results go into it).",
        required=True,
        **define,
    )
    flags.DEFINE_string(
        "compare",
        None,
        "Another finished run folder (e.g. the AE) measured the same way and shown beside "
        "--run; refused when its test set differs (source, count, binarization, held-out "
        "digits).",
        **define,
    )
    flags.DEFINE_boolean(
        "allow_different_test_sets",
        False,
        "Compare runs measured on different test sets: every table row and curve then names "
        "its own test set, and each run's own corrupted-input baseline is shown.",
        **define,
    )
    flags.DEFINE_string(
        "ood_dir",
        None,
        "Folder of the four MNIST-format IDX files (e.g. Fashion-MNIST) whose "
        "test split is scored as out-of-distribution images.",
        **define,
    )
    flags.DEFINE_string(
        "data_dir",
        None,
        "MNIST IDX folder (default: the run's own, from its history.json).",
        **define,
    )
    flags.DEFINE_integer(
        "probe_epochs",
        5,
        "Epochs of each linear-probe fit (softmax regression, one per seed).",
        lower_bound=1,
        **define,
    )


def define_notebook_screenshot_flags(flag_values: flags.FlagValues = FLAGS):
    """Flags of notebooks/screenshot.py."""
    define = {"flag_values": flag_values}
    flags.DEFINE_string(
        "data_dir", None, "Folder with the four MNIST IDX files.", required=True, **define
    )
    flags.DEFINE_integer("epochs", 10, "EPOCHS of the notebook's run.", lower_bound=1, **define)
    flags.DEFINE_string("output", "docs/notebook.png", "The screenshot (PNG).", **define)
    flags.DEFINE_integer(
        "height", 2200, "Pixels of the page shot, from its top.", lower_bound=100, **define
    )
