"""Fault injection for training, run as a script by tests/training_faults_test.py:
    PYTHONPATH=. python tests/training_faults.py WORKDIR   (a script: its errors read keras_dae:)

TensorFlow is imported once; every run is a child forked before TensorFlow executes anything
(about 2 s each instead of 7). A child dies (os._exit) or fails (ENOSPC) at the n-th rename, or
signals itself in a given phase; then a clean child reruns the same command (two cases at a time,
each in its own folder). Each run's outcome
is written to WORKDIR/results.json for the test to check. XLA is off in the children: it changes
no file write, and its compile would triple the sweep's time."""

import errno
import json
import os
import signal
import sys

from absl import flags as absl_flags

from keras_dae import __main__ as cli
from keras_dae import callbacks, data, figures, flags, training
from tests.idx_fixtures import write_mnist_dir

KILLED = 137
# Two cases at a time: a child leaves much of a core idle (Python, fsyncs), so two lanes take
# about half the time on two cores (as tests/matrix_test.py's).
LANES = 2


def install_fault(fault: dict) -> None:
    """Patches this (child) process so that `fault` happens at its point."""
    training.use_xla = lambda strategy: False
    kind = fault.get("kind")
    if kind in ("kill_before_rename", "kill_after_rename", "fail_rename"):
        real_replace, count = os.replace, [0]

        def replace(src, dst, **kwargs):
            count[0] += 1
            if count[0] == fault["n"]:
                if kind == "kill_before_rename":
                    os._exit(KILLED)
                if kind == "fail_rename":
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), dst)
            real_replace(src, dst, **kwargs)
            if count[0] == fault["n"] and kind == "kill_after_rename":
                os._exit(KILLED)

        os.replace = replace
    elif kind == "kill_at_batch":  # Mid-epoch: one step per call, so every batch ends in Python.
        training.steps_per_execution = lambda steps, strategy: 1

        def kill(self, batch, logs=None):
            if self.epoch == fault["epoch"] and batch + 1 == fault["batch"]:
                os._exit(KILLED)

        callbacks.EpochTimer.on_train_batch_end = kill
        real_begin = callbacks.EpochTimer.on_epoch_begin

        def begin(self, epoch, logs=None):
            self.epoch = epoch + 1
            real_begin(self, epoch, logs)

        callbacks.EpochTimer.on_epoch_begin = begin
    elif kind == "signal":
        phases = {
            "loading": (data, "load"),
            "figures": (figures, "save_image_grid"),
            "final save": (training, "save_final_outputs"),
            "evaluation": (callbacks.EvaluateOnTest, "on_epoch_end"),
            "training": (callbacks.EpochTimer, "on_epoch_begin"),
        }
        owner, name = phases[fault["phase"]]
        real = getattr(owner, name)

        def signalled(*args, **kwargs):
            os.kill(os.getpid(), fault["signum"])
            return real(*args, **kwargs)

        setattr(owner, name, signalled)


def start_child(argv: list[str], fault: dict, log: str) -> int:
    """Starts `python -m keras_dae ARGV` in a forked child with `fault`, its output to `log`;
    its pid."""
    pid = os.fork()
    if pid == 0:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        install_fault(fault)
        try:
            absl_flags.FLAGS(["keras_dae", *argv])
            cli.main(["keras_dae"])
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (print(e.code, file=sys.stderr) or 1)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return pid


def outcome(wait_status: int, log: str) -> dict:
    """A child's exit status and the lines it wrote to stderr."""
    with open(log) as f:
        lines = [line for line in f.read().splitlines() if line.startswith("keras_dae")]
    return {"code": os.waitstatus_to_exitcode(wait_status), "lines": lines}


def count_renames(argv: list[str], log: str) -> int:
    """How many renames an uninterrupted run makes."""
    pid = os.fork()
    if pid == 0:
        count = [0]
        real_replace = os.replace

        def replace(src, dst, **kwargs):
            count[0] += 1
            real_replace(src, dst, **kwargs)

        os.replace = replace
        install_fault({})
        absl_flags.FLAGS(["keras_dae", *argv])
        with open(log, "w") as f:
            sys.stdout = sys.stderr = f
            cli.main(["keras_dae"])
        os._exit(min(count[0], 255))
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def snapshot(workdir: str) -> dict:
    """What a check needs of a run folder: its history and its files."""
    path = os.path.join(workdir, "history.json")
    history = None
    if os.path.isfile(path):
        with open(path) as f:
            history = json.load(f)
    return {"history": history, "files": sorted(os.listdir(workdir))}


def main(root: str) -> None:
    data_dir = os.path.join(root, "mnist")
    os.makedirs(data_dir, exist_ok=True)
    write_mnist_dir(data_dir, n_train=64, n_test=16)
    flags.define_train_flags()

    def argv(workdir):
        return [
            "--data_dir",
            data_dir,
            "--output_dir",
            workdir,
            "-e",
            "2",
            "--batch_size",
            "32",
            "--lr_decay_epoch",
            "2",
            "-p",
            "0",
        ]

    log = os.path.join(root, "child.log")
    reference = os.path.join(root, "reference")
    renames = count_renames(argv(reference), log)
    results = {"renames": renames, "reference": snapshot(reference), "cases": []}
    cases = [
        {"kind": k, "n": n}
        for n in range(1, renames + 1)
        for k in ("kill_before_rename", "kill_after_rename")
    ]
    cases += [{"kind": "fail_rename", "n": n} for n in range(1, renames + 1, 3)]
    cases += [{"kind": "kill_at_batch", "epoch": 2, "batch": 1}]
    cases += [
        {"kind": "signal", "phase": phase, "signum": int(signum)}
        for phase, signum in (
            ("loading", signal.SIGINT),
            ("training", signal.SIGTERM),
            ("evaluation", signal.SIGINT),
            ("figures", signal.SIGTERM),
            ("final save", signal.SIGINT),
        )
    ]
    results["cases"] = [{"fault": fault} for fault in cases]
    pending, running = list(range(len(cases))), {}  # running: pid -> (case, stage)

    def start(i: int, stage: str, fault: dict) -> None:
        log = os.path.join(root, f"case{i}-{stage}.log")
        running[start_child(argv(os.path.join(root, f"case{i}")), fault, log)] = (i, stage)

    while pending or running:
        while pending and len(running) < LANES:
            i = pending.pop(0)
            start(i, "faulted", cases[i])
        pid, wait_status = os.wait()
        i, stage = running.pop(pid)
        case, workdir = results["cases"][i], os.path.join(root, f"case{i}")
        case[stage] = outcome(wait_status, os.path.join(root, f"case{i}-{stage}.log"))
        if stage == "faulted":  # Then the same command again, on what the fault left.
            case["after_fault"] = snapshot(workdir) if os.path.isdir(workdir) else None
            start(i, "rerun", {})
        else:
            case["final"] = snapshot(workdir)
    with open(os.path.join(root, "results.json"), "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main(sys.argv[1])
