"""The metrics summed over the workers, past ones included. Each worker keeps its values in memory
(prometheus_client's multiprocess mode wrote every value to a file as it changed: 11 writes a
request, 46-52 µs against 21 µs in memory) and writes them to its own file in a shared folder
every SNAPSHOT_SECONDS and before it answers a scrape; a scrape sums the files, so that each
total only grows whichever worker answers. The supervisor folds a dead worker's file into the
past workers' one: a scrape reads as many files as there are live workers, plus one."""

import json
import os
import re
import threading
import time

from absl import logging
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric

from keras_dae.core import durable, errors

SNAPSHOT_SECONDS = 1.0  # How old another worker's counts in a scrape can be.
SUFFIX = ".json"
PAST = "past-workers.json"  # {"folded": [worker file names], "samples": summed samples}
WORKER_FILE = re.compile(r"(\d+)-\d+" + re.escape(SUFFIX))

Samples = dict[str, list]  # {family: [[sample name, labels, value], ...]}


def _summable() -> list[Metric]:
    """This process's counter and histogram families."""
    return [f for f in REGISTRY.collect() if f.type in ("counter", "histogram")]


def _own_samples() -> Samples:
    """This process's samples (the `_created` times are not summable)."""
    return {
        family.name: [
            [sample.name, sample.labels, sample.value]
            for sample in family.samples
            if not sample.name.endswith("_created")
        ]
        for family in _summable()
    }


def _sum(parts: list[Samples]) -> Samples:
    """Each sample summed over `parts`, added in their order (the same files give the same
    sums, whichever worker adds them)."""
    totals: dict[str, dict] = {}
    for part in parts:
        for family, samples in part.items():
            values = totals.setdefault(family, {})
            for sample_name, labels, value in samples:
                key = sample_name, tuple(sorted(labels.items()))
                values[key] = values.get(key, 0.0) + value
    return {
        family: [[name, dict(labels), value] for (name, labels), value in values.items()]
        for family, values in totals.items()
    }


class Unreadable(Exception):
    """A metrics file that cannot be read or written, as one line naming it."""


def _read(path: str):
    """A metrics file's JSON; FileNotFoundError as it is (a fold removed it), Unreadable else."""
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise
    except OSError as e:
        raise Unreadable(errors.describe(e)) from None
    except ValueError as e:
        raise Unreadable(f"{path}: not a metrics file ({e})") from None


def _is_samples(value) -> bool:
    """Whether `value` has the shape of Samples (what a sum may add without failing)."""
    return isinstance(value, dict) and all(
        isinstance(samples, list)
        and all(
            isinstance(s, list)
            and len(s) == 3
            and isinstance(s[0], str)
            and isinstance(s[1], dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in s[1].items())
            and isinstance(s[2], int | float)
            for s in samples
        )
        for samples in value.values()
    )


def _read_samples(path: str) -> Samples:
    samples = _read(path)
    if not _is_samples(samples):
        raise Unreadable(f"{path}: not a metrics file (not samples)")
    return samples


def _past(folder: str) -> dict:
    path = os.path.join(folder, PAST)
    try:
        past = _read(path)
    except FileNotFoundError:
        return {"folded": [], "samples": {}}
    if not (
        isinstance(past, dict)
        and isinstance(past.get("folded"), list)
        and all(isinstance(name, str) for name in past["folded"])
        and _is_samples(past.get("samples"))
    ):
        raise Unreadable(f"{path}: not a metrics file (no folded names and samples)")
    return past


def _pid(name: str) -> int:
    return int(name.split("-", 1)[0])


def _worker_files(folder: str) -> list[str]:
    """Every worker's file in `folder` (named <pid>-<ns>.json: nothing else is read), in name
    order."""
    return sorted(name for name in os.listdir(folder) if WORKER_FILE.fullmatch(name))


def summed(folder: str) -> Samples:
    """The past workers' samples and every live worker's last file, summed. The folder is listed
    before the past workers' file is read: a file folded meanwhile is then named in it, or still
    there; one removed as it is read starts the sum again."""
    while True:
        names = _worker_files(folder)
        past = _past(folder)
        try:
            parts = [
                _read_samples(os.path.join(folder, n)) for n in names if n not in past["folded"]
            ]
        except FileNotFoundError:
            continue
        return _sum([past["samples"], *parts])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # Another user's process has it now.
        return True
    return True


def fold(folder: str, pid: int) -> None:
    """Adds the files of worker `pid`, which exited, and of any other process no longer running
    (a fold that failed before) to the past workers' file, names them in it, then removes them
    and their killed writes' temporaries (and any file a failed removal left): a scrape between
    the two counts each once. The
    supervisor's (one writer); a failure is one line, and the files stay counted as they are."""
    try:
        past = _past(folder)
        names = [
            n
            for n in _worker_files(folder)
            if n not in past["folded"] and (_pid(n) == pid or not _alive(_pid(n)))
        ]
        samples = _sum([past["samples"], *(_read_samples(os.path.join(folder, n)) for n in names)])
        still = [n for n in past["folded"] if os.path.exists(os.path.join(folder, n))]
        if names:
            durable.write_text(
                os.path.join(folder, PAST),
                json.dumps({"folded": still + names, "samples": samples}),
            )
        gone = {str(_pid(n)) for n in names} | {str(pid)}
        for name in os.listdir(folder):
            temporary = name.startswith(durable.TEMP_PREFIX)
            of = name.removeprefix(durable.TEMP_PREFIX).split("-", 1)[0]
            if name in names or name in still or (temporary and of in gone):
                os.remove(os.path.join(folder, name))
    except (OSError, ValueError, TypeError, KeyError, Unreadable) as e:  # Never the server's end.
        problem = f"{type(e).__name__}: {e}"  # A file of the wrong shape's, a bug's.
        if isinstance(e, OSError | Unreadable):
            problem = errors.describe(e) if isinstance(e, OSError) else str(e)
        logging.warning("metrics of worker pid %d not folded: %s", pid, problem)


class Snapshots:
    """This worker's samples in `folder/<pid>-<start ns>.json` (a name no other worker has, even
    one given the same pid later), written every SNAPSHOT_SECONDS and by `write`."""

    def __init__(self, folder: str):
        self.folder = folder
        self.path = os.path.join(folder, f"{os.getpid()}-{time.time_ns()}{SUFFIX}")
        self.stopped = threading.Event()
        self.lock = threading.Lock()  # Written from two threads: the newest samples win.
        self.written = None  # The text last written.

    def write(self) -> None:
        """Unreadable, naming this worker's file, when it cannot be written. Samples unchanged
        since the last write are not written again (an idle worker wrote and fsynced its file
        every second, for as long as it ran)."""
        with self.lock:
            text = json.dumps(_own_samples())
            if text == self.written and os.path.exists(self.path):
                return
            try:
                durable.write_text(self.path, text)
            except OSError as e:
                raise Unreadable(f"{self.path}: {e.strerror or e}") from None  # Not the temporary.
            self.written = text

    def start(self) -> None:
        def keep_writing():
            failing = None  # A failure is logged when it starts or changes, not every second.
            while not self.stopped.wait(SNAPSHOT_SECONDS):
                try:
                    self.write()
                    failing = None
                except Unreadable as e:  # A full disk: the scrapes fail until it is written.
                    if str(e) != failing:
                        logging.warning("metrics snapshot not written: %s", e)
                    failing = str(e)

        threading.Thread(target=keep_writing, name="metrics-snapshots", daemon=True).start()

    def stop(self) -> None:
        """The last snapshot: a worker stopped keeps its counts in the sums."""
        self.stopped.set()
        try:
            self.write()
        except Unreadable as e:
            logging.warning("last metrics snapshot not written: %s", e)


def exposition(snapshots: Snapshots) -> tuple[bytes, str]:
    """(body, content type) of Prometheus's text format: every worker's samples, this one's
    written first; Unreadable for a file that cannot be written or read (the sums would not be
    faithful: a total could fall)."""
    snapshots.write()
    totals = summed(snapshots.folder)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(totals))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Families:
    """A collector of this process's counter and histogram families with `totals`' samples."""

    def __init__(self, totals: Samples):
        self.totals = totals

    def collect(self):
        for family in _summable():
            summed_family = Metric(family.name, family.documentation, family.type)
            for sample_name, labels, value in self.totals.get(family.name, []):
                summed_family.add_sample(sample_name, labels, value)
            yield summed_family
