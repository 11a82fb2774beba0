"""Server-side batching (export/serving/batching.py): requests that arrive while the model is busy
(ThreadBatcher), or reach it in one turn of the event loop (InlineBatcher), share one model call,
each gets its own rows back, and a request whose call ended is not run."""

import asyncio
import threading

import numpy as np
from absl.testing import absltest

from keras_dae.export.serving.batching import InlineBatcher, ThreadBatcher
from keras_dae.export.serving.served import Served
from tests.servable_fixtures import SIGNATURES


class Recorded:
    """A model call that records each batch's rows and waits for `release` before answering."""

    def __init__(self):
        self.batches: list[int] = []
        self.started, self.release = threading.Event(), threading.Event()

    def __call__(self, signature: str, x: np.ndarray) -> np.ndarray:
        self.started.set()
        self.release.wait(30)
        self.batches.append(len(x))
        return x[:, :1] * 2


def rows(first: float, n: int = 1) -> np.ndarray:
    return np.full((n, 784), first, np.float32)


class BatcherTest(absltest.TestCase):
    def setUp(self):
        super().setUp()
        self.model = Recorded()
        self.served = Served(1, SIGNATURES, self.model)

    async def busy_then(self, batcher: ThreadBatcher, *later: np.ndarray):
        """One request that holds the model, then `later` ones queued behind it; the answers."""
        first = asyncio.ensure_future(batcher.run(self.served, "serving_default", rows(9)))
        while not self.model.started.is_set():  # The first taken: the model busy.
            await asyncio.sleep(0.001)
        queued = [
            asyncio.ensure_future(batcher.run(self.served, "serving_default", x)) for x in later
        ]
        while len(batcher.pending) < len(later):  # Each queued.
            await asyncio.sleep(0)
        return first, queued

    def test_requests_arriving_while_busy_share_a_call_and_get_their_rows(self):
        async def run():
            batcher = ThreadBatcher(max_batch_size=5, timeout_s=0)
            first, queued = await self.busy_then(batcher, rows(1, 2), rows(2, 1), rows(3, 3))
            self.model.release.set()
            return [await f for f in (first, *queued)]

        answers = asyncio.run(run())
        self.assertEqual(self.model.batches, [1, 3, 3])  # 2 + 1 rows together, then 3 (max 5).
        for answer, (value, n) in zip(answers, [(9, 1), (1, 2), (2, 1), (3, 3)]):
            np.testing.assert_array_equal(answer, np.full((n, 1), 2 * value, np.float32))

    def test_a_request_whose_call_ended_is_not_run(self):
        async def run():
            batcher = ThreadBatcher(max_batch_size=64, timeout_s=0)
            first, (ended, kept) = await self.busy_then(batcher, rows(1, 7), rows(2, 1))
            ended.cancel()  # Its deadline passed while it waited.
            self.model.release.set()
            return await first, await kept

        _, kept = asyncio.run(run())
        self.assertEqual(self.model.batches, [1, 1])  # Before: [1, 8], the 7 rows run for none.
        np.testing.assert_array_equal(kept, [[4.0]])


class Inline:
    """A model call that records each batch's rows and the thread it ran on."""

    def __init__(self, error: Exception | None = None):
        self.batches: list[int] = []
        self.threads: set[int] = set()
        self.error = error

    def __call__(self, signature: str, x: np.ndarray) -> np.ndarray:
        self.batches.append(len(x))
        self.threads.add(threading.get_ident())
        if self.error is not None:
            raise self.error
        return x[:, :1] * 2


class InlineBatcherTest(absltest.TestCase):
    def run_together(self, batcher: InlineBatcher, model, *xs: np.ndarray, cancel: int = -1):
        """Requests started in one turn of the loop (the one at `cancel` cancelled before the
        model call); their answers or exceptions, and the loop's thread."""
        served = Served(1, SIGNATURES, model)

        async def run():
            calls = [asyncio.ensure_future(batcher.run(served, "serving_default", x)) for x in xs]
            await asyncio.sleep(0)  # Each request queued; the model call not yet made.
            if cancel >= 0:
                calls[cancel].cancel()
            answers = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 10)
            return answers, threading.get_ident()

        return asyncio.run(run())

    def test_requests_of_one_turn_share_a_call_on_the_loops_thread(self):
        model = Inline()
        batcher = InlineBatcher(max_batch_size=5, timeout_s=0)
        answers, loop_thread = self.run_together(batcher, model, rows(1, 2), rows(2, 1), rows(3, 3))
        self.assertEqual(model.batches, [3, 3])  # 2 + 1 rows together, then 3 (max 5).
        self.assertEqual(model.threads, {loop_thread})  # No hand-over to another thread.
        for answer, (value, n) in zip(answers, [(1, 2), (2, 1), (3, 3)]):
            np.testing.assert_array_equal(answer, np.full((n, 1), 2 * value, np.float32))
        self.assertFalse(batcher.pending)

    def test_a_request_whose_call_ended_is_not_run(self):
        model = Inline()
        batcher = InlineBatcher(max_batch_size=64, timeout_s=0)
        answers, _ = self.run_together(batcher, model, rows(1, 7), rows(2, 1), cancel=0)
        self.assertEqual(model.batches, [1])  # The 7 cancelled rows not run.
        self.assertIsInstance(answers[0], asyncio.CancelledError)
        np.testing.assert_array_equal(answers[1], [[4.0]])

    def test_a_failed_call_fails_each_of_its_requests_and_the_next_runs(self):
        failing = Inline(error=RuntimeError("model failed"))
        batcher = InlineBatcher(max_batch_size=64, timeout_s=0)
        answers, _ = self.run_together(batcher, failing, rows(1), rows(2))
        self.assertEqual([str(a) for a in answers], ["model failed"] * 2)
        answers, _ = self.run_together(batcher, Inline(), rows(3))
        np.testing.assert_array_equal(answers[0], [[6.0]])

    def test_a_batch_that_cannot_be_put_together_fails_its_requests(self):
        """Rows of unequal widths (the checks let none through): each request gets the error,
        none waits for ever."""
        batcher = InlineBatcher(max_batch_size=64, timeout_s=0)
        answers, _ = self.run_together(batcher, Inline(), rows(1), np.zeros((1, 10), np.float32))
        self.assertTrue(all(isinstance(a, ValueError) for a in answers), answers)
        self.assertFalse(batcher.pending)

    def test_the_timeout_gathers_requests_of_later_turns(self):
        model = Inline()
        batcher = InlineBatcher(max_batch_size=64, timeout_s=0.05)
        served = Served(1, SIGNATURES, model)

        async def run():
            first = asyncio.ensure_future(batcher.run(served, "serving_default", rows(1)))
            for _ in range(3):  # Turns of the loop within the timeout.
                await asyncio.sleep(0)
            second = asyncio.ensure_future(batcher.run(served, "serving_default", rows(2)))
            return await asyncio.gather(first, second)

        asyncio.run(run())
        self.assertEqual(model.batches, [2])


if __name__ == "__main__":
    absltest.main()
