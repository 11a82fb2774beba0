"""Server-side batching, as TensorFlow Serving's --enable_batching: requests that arrive while
the model is busy (or within the batch timeout) go into one model call: on a thread of its own
(ThreadBatcher: the SavedModel, whose call releases the GIL for milliseconds), or on the event
loop's thread once it has run what was ready (InlineBatcher: LiteRT)."""

import asyncio
import collections
import concurrent.futures
import itertools
import time
from collections.abc import Awaitable, Callable

import numpy as np

from keras_dae.export.serving import metrics
from keras_dae.export.serving.served import Served

Infer = Callable[[Served, str, np.ndarray], Awaitable[np.ndarray]]  # The model call (batched).


def _key(item):
    """Requests batch together only with requests checked by the same version and signature."""
    return id(item[0]), item[1]


class Batcher:
    """`await run(served, signature, x)` answers like `served.call`, batched with its peers;
    a subclass makes the model calls (`_arrived`: a request is pending)."""

    def __init__(self, max_batch_size: int, timeout_s: float):
        self.max_batch_size = max_batch_size
        self.timeout_s = timeout_s
        self.pending = collections.deque()

    async def run(self, served: Served, signature: str, x: np.ndarray) -> np.ndarray:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pending.append((served, signature, x, future))
        self._arrived(loop)
        return await future

    def _arrived(self, loop: asyncio.AbstractEventLoop) -> None:
        raise NotImplementedError

    def _groups(self) -> list[list]:
        """The oldest pending requests, up to max_batch_size rows (at least one request, if any
        has not ended: a request whose call's deadline passed or whose client left is not run),
        in groups of one version and signature: one model call each."""
        batch, rows = [], 0
        while self.pending:
            item = self.pending[0]
            if item[3].done():  # Cancelled.
                self.pending.popleft()
                continue
            if batch and rows + len(item[2]) > self.max_batch_size:
                break
            batch.append(self.pending.popleft())
            rows += len(item[2])
        return [list(group) for _, group in itertools.groupby(sorted(batch, key=_key), key=_key)]


class ThreadBatcher(Batcher):
    """The model calls on a thread of their own, one at a time: requests that arrive while one
    runs share the next (the SavedModel, whose call releases the GIL for milliseconds)."""

    def __init__(self, max_batch_size: int, timeout_s: float):
        super().__init__(max_batch_size, timeout_s)
        self.executor = concurrent.futures.ThreadPoolExecutor(1, "model-call")
        self.arrived: asyncio.Event | None = None

    def _arrived(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.arrived is None:  # Made in the server's event loop, with the task that drains.
            self.arrived = asyncio.Event()
            loop.create_task(self._drain())
        self.arrived.set()

    async def _drain(self):
        loop = asyncio.get_running_loop()
        while True:
            await self.arrived.wait()
            if self.timeout_s > 0:
                await asyncio.sleep(self.timeout_s)
            groups = self._groups()
            if not self.pending:
                self.arrived.clear()
            for group in groups:
                try:
                    served, signature, x = _inputs(group)
                    outputs = await loop.run_in_executor(self.executor, served.call, signature, x)
                except Exception as e:  # noqa: BLE001  (handed to the requests: each answers 500)
                    _fail(group, e)
                else:
                    _hand_out(group, outputs)


class InlineBatcher(Batcher):
    """The model calls on the event loop's thread: the requests that reach the model while the
    loop runs what is ready share one call, made once it has (or after --batch_timeout_micros).
    For LiteRT, whose batch-1 call (15 us) costs less than ThreadBatcher's hand-over (20 us)."""

    def __init__(self, max_batch_size: int, timeout_s: float):
        super().__init__(max_batch_size, timeout_s)
        self.flush_due = False

    def _arrived(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self.flush_due:
            self.flush_due = True
            if self.timeout_s > 0:
                loop.call_later(self.timeout_s, self._flush)
            else:
                loop.call_soon(self._flush)

    def _flush(self) -> None:
        self.flush_due = False
        while self.pending:
            for group in self._groups():
                try:
                    served, signature, x = _inputs(group)
                    outputs = served.call(signature, x)
                except Exception as e:  # noqa: BLE001  (handed to the requests: each answers 500)
                    _fail(group, e)
                else:
                    _hand_out(group, outputs)


def _inputs(group: list) -> tuple[Served, str, np.ndarray]:
    """The version, signature and rows of one model call for `group` (its size observed)."""
    inputs = [item[2] for item in group]
    metrics.BATCH_SIZE.observe(sum(len(x) for x in inputs))
    return group[0][0], group[0][1], inputs[0] if len(inputs) == 1 else np.concatenate(inputs)


def _hand_out(group: list, outputs: np.ndarray) -> None:
    """Each request of `group` its rows of `outputs` (a client that went away has cancelled its
    future: nothing to hand it)."""
    start = 0
    for item in group:
        if not item[3].done():
            item[3].set_result(outputs[start : start + len(item[2])])
        start += len(item[2])


def _fail(group: list, error: Exception) -> None:
    for item in group:
        if not item[3].done():
            item[3].set_exception(error)


def model_call(batcher: Batcher | None, runtime: str) -> Infer:
    """The model call of every protocol: batched when `batcher` is on, timed by runtime."""

    async def infer(served: Served, signature: str, x: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        if batcher is None:
            outputs = served.call(signature, x)
        else:
            outputs = await batcher.run(served, signature, x)
        metrics.labelled(metrics.RUNTIME_LATENCY, "predict", runtime).observe(
            (time.perf_counter() - start) * 1e6
        )
        return outputs

    return infer
