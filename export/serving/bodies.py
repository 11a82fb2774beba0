"""ASGI middleware every request body goes through before KServe parses it: its size (413), its
encoding (gzip decoded within the same limit, counted after decompression; others 415), admission
(503 while the worker holds --max_inflight_bytes) and a check that refuses what needs no parsing
to refuse (an oversized batch, 400), each refusal handed to `count` (the metrics). The app then
gets the body whole. (Its read deadline is the HTTP protocol's: kserve_internals.read_deadline.)"""

import zlib
from collections.abc import Callable

from absl import logging

from keras_dae.export.serving import protocol
from keras_dae.export.serving.admission import Busy, ByteBudget

GZIP = zlib.MAX_WBITS | 16  # zlib's window bits for the gzip container.
EARLY_CHECK_BYTES = 1 << 20  # The first check of a body still coming, then at each doubling.


class Refused(Exception):
    """A body refused before the app saw it: its status and line; `close` ends the connection
    (a body still coming); otherwise uvicorn reads what is left of it and drops it."""

    def __init__(self, status: int, message: str, close: bool = False):
        super().__init__(message)
        self.status, self.close = status, close


class Disconnected(Exception):
    """The client went away while its body was read."""


def _headers(scope) -> dict[bytes, bytes]:
    return {name: value for name, value in scope["headers"]}


def _too_large(what: str, limit: int, close: bool = False) -> Refused:
    return Refused(413, f"{what} over the limit of {limit} bytes (--max_body_bytes)", close)


def _gunzip(body: bytes, limit: int) -> bytes:
    """The decoded gzip `body`, stopped at `limit` + 1 bytes: a bomb is refused, not inflated."""
    inflate = zlib.decompressobj(GZIP)
    try:
        decoded = inflate.decompress(body, limit + 1)
    except zlib.error as e:
        raise Refused(400, f"the gzip-encoded request body does not decode ({e})") from None
    if len(decoded) > limit:
        raise _too_large(f"gzip-encoded request body of {len(body)} bytes decodes to", limit)
    if not inflate.eof:
        raise Refused(400, "the gzip-encoded request body is truncated")
    return decoded


class RequestBodies:
    """The middleware: `check(scope, body)` is the one-line 400 of a body refused unparsed, the
    whole body or its first bytes (it refuses only what more bytes cannot make right);
    `count(scope, status)` is told of each refusal."""

    def __init__(
        self,
        app,
        max_bytes: int,
        budget: ByteBudget,
        check: Callable[[dict, bytes], str | None],
        count: Callable[[dict, int], None],
    ):
        self.app, self.max_bytes, self.budget = app, max_bytes, budget
        self.check, self.count = check, count

    async def __call__(self, scope, receive, send):
        headers = _headers(scope) if scope["type"] == "http" else {}
        length = headers.get(b"content-length")
        if length in (None, b"0") and b"transfer-encoding" not in headers:
            return await self.app(scope, receive, send)  # No body: nothing to bound.
        try:
            encoding = headers.get(b"content-encoding", b"identity").strip().lower()
            if encoding not in (b"identity", b"gzip"):
                raise Refused(
                    415,
                    f"Content-Encoding {encoding.decode(errors='replace')!r} is not supported "
                    "(send identity or gzip)",
                )
            size = int(length) if length is not None else None  # uvicorn refused non-numbers.
            if size is not None and size > self.max_bytes:
                raise _too_large(f"request body of {size} bytes is", self.max_bytes)
            # What the body may take decoded: its length, else (chunked or gzip) the limit.
            reserve = size if size is not None and encoding == b"identity" else None
            reserve = reserve or self.max_bytes
            if not self.budget.take(reserve):
                await self.budget.wait(reserve)
            try:
                body = await self._read(scope, receive, check=encoding == b"identity")
                if encoding == b"gzip":
                    body = _gunzip(body, self.max_bytes)
                    scope = dict(scope, headers=_decoded_headers(scope, len(body)))
                self._check(scope, body)
                await self.app(scope, _replay(body, receive), send)
            finally:
                self.budget.give(reserve)
        except Busy as e:  # Not logged: an overload would flood the log.
            self.count(scope, 503)
            await protocol.error_response(503, str(e), {"Retry-After": "1"})(scope, receive, send)
        except Refused as e:
            logging.warning("client error: %s", e)
            self.count(scope, e.status)
            headers = {"Connection": "close"} if e.close else None
            await protocol.error_response(e.status, str(e), headers)(scope, receive, send)
        except Disconnected:
            pass

    def _check(self, scope, body: bytes) -> None:
        """Refuses (400) what `check` refuses of `body`, or of its first bytes."""
        problem = self.check(scope, body)
        if problem:
            raise Refused(400, problem)

    async def _read(self, scope, receive, check: bool) -> bytes:
        """The whole body, within the size limit (its read deadline is the protocol's); with
        `check`, its first 1, 2, 4... MiB are checked as they come (a 31 MB batch over
        --max_batch is refused at 2 MiB: 0.03 s, where reading it took 0.3 s)."""
        chunks, size, checked = [], 0, EARLY_CHECK_BYTES
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":  # Gone, or cut off at the deadline.
                raise Disconnected
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:  # Chunked: its length was not known.
                raise _too_large("chunked request body grew", self.max_bytes, True)
            if not message.get("more_body", False):
                return b"".join(chunks)
            if check and size >= checked:
                checked *= 2
                self._check(scope, b"".join(chunks))


def _decoded_headers(scope, size: int) -> list[tuple[bytes, bytes]]:
    """The request's headers as the decoded body's: no Content-Encoding, its own length."""
    kept = [
        (name, value)
        for name, value in scope["headers"]
        if name not in (b"content-encoding", b"content-length", b"transfer-encoding")
    ]
    return [*kept, (b"content-length", str(size).encode())]


def _replay(body: bytes, receive):
    """An ASGI `receive` that gives `body` whole, then what the client sends (its disconnect)."""
    given = False

    async def replayed():
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed
