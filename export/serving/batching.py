"""Server-side batching, as TensorFlow Serving's --enable_batching: requests that arrive while
the model is busy (or within the batch timeout) go into one model call, run on one thread."""

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
    """`await run(served, signature, x)` answers like `served.call`, batched with its peers."""

    def __init__(self, max_batch_size: int, timeout_s: float):
        self.max_batch_size = max_batch_size
        self.timeout_s = timeout_s
        self.executor = concurrent.futures.ThreadPoolExecutor(1, "model-call")
        self.pending = collections.deque()
        self.arrived: asyncio.Event | None = None

    async def run(self, served: Served, signature: str, x: np.ndarray) -> np.ndarray:
        loop = asyncio.get_running_loop()
        if self.arrived is None:  # Made in the server's event loop, with the task that drains.
            self.arrived = asyncio.Event()
            loop.create_task(self._drain())
        future = loop.create_future()
        self.pending.append((served, signature, x, future))
        self.arrived.set()
        return await future

    def _take(self) -> list:
        """The oldest pending requests, up to max_batch_size rows (at least one request, if any
        has not ended: a request whose call's deadline passed or whose client left is not run)."""
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
        if not self.pending:
            self.arrived.clear()
        return batch

    async def _drain(self):
        loop = asyncio.get_running_loop()
        while True:
            await self.arrived.wait()
            if self.timeout_s > 0:
                await asyncio.sleep(self.timeout_s)
            for _, group in itertools.groupby(sorted(self._take(), key=_key), key=_key):
                await self._call(loop, list(group))

    async def _call(self, loop, group: list) -> None:
        """One model call on the executor thread for `group`; each request gets its rows."""
        served, signature = group[0][0], group[0][1]
        inputs = [item[2] for item in group]
        metrics.BATCH_SIZE.observe(sum(len(x) for x in inputs))
        try:
            outputs = await loop.run_in_executor(
                self.executor,
                served.call,
                signature,
                inputs[0] if len(inputs) == 1 else np.concatenate(inputs),
            )
        except Exception as e:  # noqa: BLE001  (handed to the requests: each answers 500)
            for item in group:
                if not item[3].done():
                    item[3].set_exception(e)
            return
        start = 0
        for item in group:
            if not item[3].done():  # A client that went away has cancelled its future.
                item[3].set_result(outputs[start : start + len(item[2])])
            start += len(item[2])


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
