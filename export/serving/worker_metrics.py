"""The metrics summed over the workers, past ones included. Each worker keeps its values in memory
(prometheus_client's multiprocess mode wrote every value to a file as it changed: 11 writes a
request, 46-52 µs against 21 µs in memory) and writes them to its own file in a shared folder
every SNAPSHOT_SECONDS and before it answers a scrape; a scrape sums the files, so that each
total only grows whichever worker answers. The supervisor folds a dead worker's file into the
past workers' one: a scrape reads as many files as there are live workers, plus one."""

import json
import os
import threading
import time

from absl import logging
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric

from keras_dae.core import durable, errors

SNAPSHOT_SECONDS = 1.0  # How old another worker's counts in a scrape can be.
SUFFIX = ".json"
PAST = "past-workers.json"  # {"folded": [worker file names], "samples": summed samples}

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


def _read(path: str):
    with open(path) as f:
        return json.load(f)


def _past(folder: str) -> dict:
    path = os.path.join(folder, PAST)
    return _read(path) if os.path.exists(path) else {"folded": [], "samples": {}}


def _worker_files(folder: str, folded: list[str], pid: int | None = None) -> list[str]:
    """The workers' files not folded yet (only `pid`'s, if given), in name order."""
    prefix = "" if pid is None else f"{pid}-"
    return sorted(
        name
        for name in os.listdir(folder)
        if name.endswith(SUFFIX)
        and name.startswith(prefix)
        and name != PAST
        and not name.startswith(durable.TEMP_PREFIX)
        and name not in folded
    )


def summed(folder: str) -> Samples:
    """The past workers' samples and every live worker's last file, summed."""
    past = _past(folder)
    files = _worker_files(folder, past["folded"])
    return _sum([past["samples"], *(_read(os.path.join(folder, n)) for n in files)])


def fold(folder: str, pid: int) -> None:
    """Adds the files of worker `pid`, which exited, to the past workers' file, then removes
    them; names them in it first, so that a scrape between the two counts them once. The
    supervisor's (one writer); a failure is logged, the files then stay counted as they are."""
    try:
        past = _past(folder)
        names = _worker_files(folder, past["folded"], pid)
        if not names:
            return
        samples = _sum([past["samples"], *(_read(os.path.join(folder, n)) for n in names)])
        still = [n for n in past["folded"] if os.path.exists(os.path.join(folder, n))]
        durable.write_text(
            os.path.join(folder, PAST), json.dumps({"folded": still + names, "samples": samples})
        )
        for name in names:
            os.remove(os.path.join(folder, name))
    except OSError as e:
        logging.warning("metrics of worker pid %d not folded: %s", pid, errors.describe(e))


class Snapshots:
    """This worker's samples in `folder/<pid>-<start ns>.json` (a name no other worker has, even
    one given the same pid later), written every SNAPSHOT_SECONDS and by `write`."""

    def __init__(self, folder: str):
        self.folder = folder
        self.path = os.path.join(folder, f"{os.getpid()}-{time.time_ns()}{SUFFIX}")
        self.stopped = threading.Event()
        self.lock = threading.Lock()  # Written from two threads: the newest samples win.

    def write(self) -> None:
        with self.lock:
            durable.write_text(self.path, json.dumps(_own_samples()))

    def start(self) -> None:
        def keep_writing():
            while not self.stopped.wait(SNAPSHOT_SECONDS):
                try:
                    self.write()
                except OSError as e:  # A full disk: the other workers' scrapes lag; retried.
                    logging.warning("metrics snapshot not written: %s", errors.describe(e))

        threading.Thread(target=keep_writing, name="metrics-snapshots", daemon=True).start()

    def stop(self) -> None:
        """The last snapshot: a worker stopped keeps its counts in the sums."""
        self.stopped.set()
        self.write()


def exposition(snapshots: Snapshots) -> tuple[bytes, str]:
    """(body, content type) of Prometheus's text format: every worker's samples, this one's
    written first."""
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
