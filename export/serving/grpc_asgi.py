"""gRPC's unary calls as an ASGI app, for an HTTP/2 server that sends trailers (pyvoy, on Envoy):
servicers written for grpc.aio answer unchanged, registered by their generated
`add_*Servicer_to_server(servicer, app)`. One length-prefixed message each way (identity, or
gzip/deflate from the client), grpc-status and grpc-message in the trailers. Measured here: a
no-op call costs 140 us of server CPU against grpc.aio's 460 us; connectrpc's ASGI server, which
does this and more, 460 us, so it is not used."""

import asyncio
import collections
import contextlib
import inspect
import logging
import zlib
from collections.abc import Awaitable, Callable

import grpc

logger = logging.getLogger("kserve")
Metadatum = collections.namedtuple("Metadatum", ["key", "value"])  # As grpc.aio's metadata.
HandlerCallDetails = collections.namedtuple("HandlerCallDetails", ["method", "invocation_metadata"])
# Headers of the transport, not the call's metadata (grpc.aio leaves them out too).
TRANSPORT_HEADERS = frozenset(
    {"content-type", "te", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding"}
)
ACCEPT_ENCODING = (b"grpc-accept-encoding", b"identity,gzip,deflate")
MAX_DETAILS = 1000  # Characters of a status's details sent.
DEADLINE_EXCEEDED = "Deadline Exceeded"  # grpc's words.
DESERIALIZING = "Exception deserializing request!"  # grpc's words (its synchronous server's).
Refused = Callable[[str, grpc.StatusCode], object]  # Hears of a call refused before its servicer.
_OK = grpc.StatusCode.OK


TIMEOUT_UNITS = {b"H": 3600.0, b"M": 60.0, b"S": 1.0, b"m": 1e-3, b"u": 1e-6, b"n": 1e-9}


def timeout_s(header: bytes | None) -> float | None:
    """grpc-timeout's seconds (gRPC's spec: up to 8 digits and a unit); None for none, or one
    that does not parse (grpc's own server ignores it too)."""
    if not header or len(header) > 9 or header[-1:] not in TIMEOUT_UNITS:
        return None
    digits = header[:-1]
    return int(digits) * TIMEOUT_UNITS[header[-1:]] if digits.isdigit() else None


def _within(deadline: float | None):
    """asyncio's timeout at `deadline`, or nothing without one (asyncio.timeout_at(None) still
    cost 10 us a call)."""
    return asyncio.timeout_at(deadline) if deadline is not None else contextlib.nullcontext()


class Context:
    """The part of grpc.aio's ServicerContext servicers use: metadata, abort, code and details,
    the time left before the call's deadline."""

    def __init__(self, headers, deadline: float | None = None):
        self.headers = headers  # Made metadata when asked (TF Serving's calls never ask).
        self.status, self.details = None, ""
        self.deadline = deadline  # On the event loop's clock.

    def invocation_metadata(self):
        return tuple(
            Metadatum(key.decode("latin-1"), value.decode("latin-1"))
            for key, value in self.headers
            if not key.startswith(b":") and key.decode("latin-1") not in TRANSPORT_HEADERS
        )

    def time_remaining(self) -> float | None:
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - asyncio.get_running_loop().time())

    def set_code(self, code: grpc.StatusCode) -> None:
        self.status = code

    def set_details(self, details: str) -> None:
        self.details = details

    def code(self):
        return self.status

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata=()):
        self.status, self.details = code, details
        raise grpc.aio.AbortError()


class ClientGone(Exception):
    """The client reset the call before its message arrived: nobody to answer."""


class Failed(Exception):
    """A call answered with a status other than OK before its handler ran."""

    def __init__(self, code: grpc.StatusCode, details: str):
        super().__init__(details)
        self.code, self.details = code, details


def _message_of(body: bytes, encoding: str, max_bytes: int) -> bytes:
    """The one message of a unary call's request body, decoded; Failed for anything else."""
    if len(body) < 5:
        raise Failed(grpc.StatusCode.INTERNAL, "request without a message")
    length = int.from_bytes(body[1:5], "big")
    if len(body) != 5 + length:
        raise Failed(grpc.StatusCode.INTERNAL, "a unary call takes one whole message")
    message = body[5:]
    if not body[0]:
        return message
    wbits = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}.get(encoding)
    if wbits is None:
        raise Failed(
            grpc.StatusCode.UNIMPLEMENTED, f"compressed message with grpc-encoding {encoding!r}"
        )
    inflater = zlib.decompressobj(wbits)
    try:
        decoded = inflater.decompress(message, max_bytes + 1)  # A bomb stops at the limit.
    except zlib.error as e:
        raise Failed(grpc.StatusCode.INTERNAL, f"message not {encoding}: {e}") from None
    if len(decoded) > max_bytes:
        raise Failed(grpc.StatusCode.RESOURCE_EXHAUSTED, _too_large(len(decoded), max_bytes))
    if not inflater.eof or inflater.unused_data:  # Cut short (its checksum unread), or more.
        raise Failed(grpc.StatusCode.INTERNAL, f"message not one whole {encoding} stream")
    return decoded


def _too_large(size: int, max_bytes: int) -> str:  # grpc's own words.
    return f"Received message larger than max ({size} vs. {max_bytes})"


def _grpc_message(details: str) -> bytes:
    """`details` percent-encoded as gRPC's grpc-message trailer wants it (printable ASCII), cut
    to MAX_DETAILS characters: a message echoing a client's 70 kB model name made grpc's client
    drop the call (its metadata limit) instead of reading the status."""
    if len(details) > MAX_DETAILS:
        details = details[: MAX_DETAILS - 3] + "..."
    return b"".join(
        bytes([b]) if 0x20 <= b <= 0x7E and b != 0x25 else b"%%%02X" % b
        for b in details.encode("utf-8")
    )


class Server:
    """The ASGI app, with grpc.aio's two registration methods (what generated code calls);
    `startup` and `shutdown` run at ASGI's lifespan events; `refused(method, code)` hears of
    each call answered (or whose client left) before its servicer ran, which counts the
    others."""

    def __init__(
        self,
        max_message_bytes: int,
        startup: Callable[[], object] = lambda: None,
        shutdown: Callable[[], object] = lambda: None,
        refused: Refused = lambda method, code: None,
    ):
        self.max_message_bytes = max_message_bytes
        self.startup, self.shutdown, self.refused = startup, shutdown, refused
        self.generic: list[grpc.GenericRpcHandler] = []
        self.methods: dict[str, grpc.RpcMethodHandler] = {}

    def add_generic_rpc_handlers(self, handlers) -> None:
        self.generic.extend(handlers)

    def add_registered_method_handlers(self, service: str, handlers: dict) -> None:
        self.methods.update({f"/{service}/{name}": h for name, h in handlers.items()})

    def handler(self, path: str) -> grpc.RpcMethodHandler | None:
        """The unary handler of `path` (found ones kept: a client's made-up paths are not)."""
        found = self.methods.get(path)
        if found is None:
            details = HandlerCallDetails(path, ())
            found = next(filter(None, (g.service(details) for g in self.generic)), None)
            if found is None or found.request_streaming or found.response_streaming:
                return None
            self.methods[path] = found
        return found

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await self._lifespan(receive, send)
        if scope["type"] != "http":
            return None
        headers = dict(scope["headers"])
        kind = headers.get(b"content-type", b"").split(b";")[0].strip()
        if scope["method"] != "POST" or not (
            kind == b"application/grpc" or kind.startswith(b"application/grpc+")
        ):  # gRPC's spec: 415 for a request that is not gRPC (gRPC-Web's framing differs).
            if not await self._discarded(receive):
                return None
            await send({"type": "http.response.start", "status": 415, "headers": []})
            return await send({"type": "http.response.body", "body": b""})
        query = scope.get("query_string")
        method = scope["path"] + ("?" + query.decode("latin-1") if query else "")
        try:
            code, details, payload = await self._answer(scope, headers, receive)
        except ClientGone:  # Nobody to answer: counted all the same.
            self.refused(method, grpc.StatusCode.CANCELLED)
            return None
        except Failed as e:
            self.refused(method, e.code)
            code, details, payload = e.code, e.details, b""
        trailers = [(b"grpc-status", b"%d" % code.value[0])]
        if details:
            trailers.append((b"grpc-message", _grpc_message(details)))
        start = [(b"content-type", b"application/grpc"), ACCEPT_ENCODING]
        await send(
            {"type": "http.response.start", "status": 200, "headers": start, "trailers": True}
        )
        await send({"type": "http.response.body", "body": payload, "more_body": False})
        await send({"type": "http.response.trailers", "headers": trailers, "more_trailers": False})
        return None

    async def _answer(self, scope, headers, receive) -> tuple[grpc.StatusCode, str, bytes]:
        """(status, details, length-prefixed response or b"") of a call its servicer ran;
        Failed for one refused before (its method, deadline, size, framing, encoding, parse)."""
        # A query is part of grpc's method name (ASGI splits it off): no method has one.
        handler = None if scope.get("query_string") else self.handler(scope["path"])
        if handler is None:
            raise Failed(grpc.StatusCode.UNIMPLEMENTED, "Method not found!")
        timeout = timeout_s(headers.get(b"grpc-timeout"))
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        try:
            async with _within(deadline):
                body = await self._body(receive, shielded=deadline is not None)
        except TimeoutError:
            raise Failed(grpc.StatusCode.DEADLINE_EXCEEDED, DEADLINE_EXCEEDED) from None
        encoding = headers.get(b"grpc-encoding", b"identity").decode("latin-1")
        message = _message_of(body, encoding, self.max_message_bytes)
        try:
            request = handler.request_deserializer(message)
        except Exception:  # noqa: BLE001  (grpc's answer to a message it cannot parse)
            raise Failed(grpc.StatusCode.INTERNAL, DESERIALIZING) from None
        context = Context(scope["headers"], deadline)
        running = _within(deadline)  # The servicer counts a call it ends.
        try:
            async with running:
                answer = handler.unary_unary(request, context)
                if inspect.isawaitable(answer):
                    answer = await answer
            response = handler.response_serializer(answer)
        except grpc.aio.AbortError:
            return context.status, context.details, b""
        except Exception as e:  # noqa: BLE001  (grpc.aio's answer to a servicer's exception)
            if isinstance(e, TimeoutError) and deadline is not None and running.expired():
                return grpc.StatusCode.DEADLINE_EXCEEDED, DEADLINE_EXCEEDED, b""
            if context.status not in (None, _OK):
                return context.status, context.details, b""
            logger.exception("gRPC %s failed", scope["path"])
            return grpc.StatusCode.UNKNOWN, f"Unexpected {type(e)}: {e}", b""
        return _OK, "", b"\0" + len(response).to_bytes(4, "big") + response

    async def _body(self, receive, shielded: bool) -> bytes:
        """The request body; Failed (RESOURCE_EXHAUSTED) as soon as its message's declared
        length is over the limit, as grpc's own check. `shielded`: each receive() left to end
        when the read is cancelled at the call's deadline (pyvoy setting the result of one
        cancelled logged an InvalidStateError traceback)."""
        body, more = bytearray(), True
        while more:
            event = await (asyncio.shield(receive()) if shielded else receive())
            if event["type"] == "http.disconnect":
                raise ClientGone
            body += event.get("body", b"")
            more = event.get("more_body", False)
            if len(body) >= 5 and int.from_bytes(body[1:5], "big") > self.max_message_bytes:
                raise Failed(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    _too_large(int.from_bytes(body[1:5], "big"), self.max_message_bytes),
                )
            if len(body) > self.max_message_bytes + 5:
                raise Failed(grpc.StatusCode.INTERNAL, "a unary call takes one whole message")
        return bytes(body)

    async def _discarded(self, receive) -> bool:
        """The body of a request refused unread, read up to the message limit (a 415 sent before
        a 3 MB body ended was an HTTP/2 stream reset to curl); False if the client went away."""
        seen, more = 0, True
        while more and seen <= self.max_message_bytes + 5:
            event = await receive()
            if event["type"] == "http.disconnect":
                return False
            seen += len(event.get("body", b""))
            more = event.get("more_body", False)
        return True

    async def _lifespan(self, receive, send) -> None:
        while True:
            event = await receive()
            kind = event["type"].rsplit(".", 1)[1]  # startup or shutdown
            try:
                done = (self.startup if kind == "startup" else self.shutdown)()
                if isinstance(done, Awaitable):
                    await done
            except BaseException as e:  # noqa: BLE001  (told to the server, which stops)
                await send({"type": f"lifespan.{kind}.failed", "message": str(e)})
                return
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
