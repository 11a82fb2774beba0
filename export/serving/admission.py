"""Admission control: a bound on the request body bytes one worker holds at once (read, parsed,
computed, answered), so that its memory is bounded whatever the number of clients; a request
over it waits briefly for room, first come first served, then is refused (503), as TF Serving
and KServe answer overload."""

import asyncio
import collections
import contextlib


class Busy(Exception):
    """No room for a request within the wait: its one-line refusal."""


class ByteBudget:
    """`async with budget.hold(size)` runs with `size` bytes of the `limit` taken; one that
    finds no room waits up to `wait_s` for it (in arrival order), then raises Busy."""

    def __init__(self, limit: int, wait_s: float):
        self.limit, self.wait_s = limit, wait_s
        self.used = 0
        self.waiting: collections.deque[tuple[int, asyncio.Future]] = collections.deque()

    @contextlib.asynccontextmanager
    async def hold(self, size: int):
        if self.waiting or self.used + size > self.limit:
            await self._wait(size)
        else:
            self.used += size
        try:
            yield
        finally:
            self._release(size)

    async def _wait(self, size: int) -> None:
        entry = size, asyncio.get_running_loop().create_future()
        self.waiting.append(entry)
        try:
            async with asyncio.timeout(self.wait_s):
                await entry[1]
        except BaseException as e:
            if not entry[1].done() or entry[1].cancelled():  # Not admitted: leaves the queue.
                if entry in self.waiting:
                    self.waiting.remove(entry)
                self._admit()  # The next one may fit now.
            elif isinstance(e, TimeoutError):  # Admitted as the wait ran out.
                return
            else:  # Admitted, then cancelled (the client went away).
                self._release(size)
            if isinstance(e, TimeoutError):
                raise Busy(
                    f"server busy: {self.used} bytes of request bodies in progress, the "
                    f"limit is {self.limit} (--max_inflight_bytes); retry later"
                ) from None
            raise

    def _release(self, size: int) -> None:
        self.used -= size
        self._admit()

    def _admit(self) -> None:
        """Admits the waiting requests in order while the next one fits."""
        while self.waiting and self.used + self.waiting[0][0] <= self.limit:
            size, granted = self.waiting.popleft()
            if not granted.done():  # Cancelled ones leave the queue by themselves.
                self.used += size
                granted.set_result(None)
