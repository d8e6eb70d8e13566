"""A loopback TCP proxy that injects network faults between an HTTP client and its server.

``FaultProxy`` listens on a port of 127.0.0.1 and forwards every connection to an upstream
``host:port`` (our server, the real CouchDB): a real network hop, so the replicator's
``HttpStore`` talks HTTP to the proxy exactly as it would to the peer. Faults are switched at
runtime (``arm``, ``clear``, ``stop_listening``/``listen``):

- ``DROP``: reset the connection (RST, SO_LINGER 0) instead of forwarding the request
  (``after_bytes=None``: the peer never sees it), or after forwarding it and passing on the first
  ``after_bytes`` bytes of the response (0: the peer did the work, the client saw nothing — a
  ``_bulk_docs`` the target wrote while the client got an error);
- ``STALL``: send nothing more (before forwarding, or after ``after_bytes`` of the response)
  for ``seconds``, then reset: longer than the client's timeout, so the client gives up first;
- ``ERROR``: answer ``500`` with CouchDB's error body instead of forwarding
  (``after_bytes=None``), or after forwarding, in place of the peer's answer (any number: the
  peer did the work, the client was told it failed);
- ``CUT``: forward only the first ``after_bytes`` bytes of the request (None: half of it),
  end the upload there (FIN) and reset the client: a client that died mid-upload, whose half
  request the peer must not store;
- ``REFUSE``: reset this connection and every other one, stop listening (a connect is refused)
  and listen again on the same port after ``seconds`` (a peer going down for a while).

A fault matches requests by method and a regular expression searched in the request target
(``_bulk_docs``, ``_bulk_get``, ``_changes``, ``_revs_diff``, ``_local/``), and fires on the
``nth`` to ``nth + times - 1``-th matching request counted from when it was armed.

Keep-alive is kept: the proxy parses just enough HTTP/1.1 to frame each message (request line
or status line, headers, a body by ``Content-Length`` or ``chunked``; a response with neither is
read to the end of the connection, which is then closed), so it counts requests one by one on a
pooled connection as the client sends them, and each client connection has its own upstream
connection. Each response is read whole before it is passed on (the replicator's requests are
bounded by its batch size; no longpoll or continuous feed goes through it here).

Every exchange whose response reached the client in full is kept in ``delivered`` (request and
response, bodies included): what the client was told, e.g. which writes were acknowledged.
``on_forwarded`` runs as soon as a request has been sent upstream (to kill the server then);
``latency`` delays each request (a slow link).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import re
import socket
import struct
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

HOST = "127.0.0.1"
# Headers beyond this are not HTTP we send or read in these tests; StreamReader's own default.
HEAD_LIMIT = 64 * 1024
# The body CouchDB sends with a 500 (chttpd's error shape), so clients parse it as they would.
ERROR_BODY = b'{"error":"unknown_error","reason":"injected by the fault proxy"}'
# How long the peer gets to answer (or drop) a cut-off request before the proxy moves on.
CUT_ANSWER_S = 5.0
# Statuses and methods whose responses never have a body (RFC 9110 section 6.4.1).
_NO_BODY_STATUSES = {204, 304}


class Kind(enum.Enum):
    DROP = "drop"
    STALL = "stall"
    ERROR = "error"
    CUT = "cut"
    REFUSE = "refuse"


@dataclass(slots=True)
class Fault:
    """One fault, armed until it has fired ``times`` times."""

    kind: Kind
    path: str
    method: str | None = None
    nth: int = 1
    times: int = 1
    # None acts before forwarding; a number forwards first, and DROP/STALL pass on that many
    # bytes of the answer (ERROR replaces all of it).
    after_bytes: int | None = None
    # STALL: how long nothing is sent; REFUSE: how long nothing listens.
    seconds: float = 30.0
    seen: int = 0
    fired: int = 0

    def matches(self, request: Message) -> bool:
        if self.method is not None and request.method != self.method:
            return False
        return re.search(self.path, request.target) is not None

    def fires(self, request: Message) -> bool:
        """Count ``request`` if it matches; whether this fault acts on it."""
        if self.fired >= self.times or not self.matches(request):
            return False
        self.seen += 1
        if self.seen < self.nth:
            return False
        self.fired += 1
        return True


@dataclass(frozen=True, slots=True)
class Message:
    """One HTTP/1.1 message as read off the wire: ``head`` (start line and headers, through the
    blank line) and ``body`` (as framed, chunk sizes included when chunked)."""

    head: bytes
    body: bytes

    @property
    def raw(self) -> bytes:
        return self.head + self.body

    @property
    def start_line(self) -> list[str]:
        return self.head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)

    @property
    def method(self) -> str:
        return self.start_line[0]

    @property
    def target(self) -> str:
        return self.start_line[1]

    @property
    def status(self) -> int:
        return int(self.start_line[1])

    def header(self, name: str) -> str | None:
        wanted = name.lower().encode()
        for line in self.head.split(b"\r\n")[1:]:
            key, sep, value = line.partition(b":")
            if sep and key.strip().lower() == wanted:
                return value.strip().decode("latin-1")
        return None

    def payload(self) -> bytes:
        """The body with chunked framing removed."""
        if (self.header("Transfer-Encoding") or "").lower() != "chunked":
            return self.body
        out, rest = bytearray(), self.body
        while True:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                return bytes(out)
            out += rest[:size]
            rest = rest[size + 2 :]


@dataclass(frozen=True, slots=True)
class Exchange:
    request: Message
    response: Message


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    """The head of the next message, or None when the peer closed between messages."""
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise
        return None


async def _read_body(reader: asyncio.StreamReader, head: Message, *, to_eof: bool) -> bytes:
    if (head.header("Transfer-Encoding") or "").lower() == "chunked":
        return await _read_chunked(reader)
    length = head.header("Content-Length")
    if length is not None:
        return await reader.readexactly(int(length))
    return await reader.read() if to_eof else b""


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    out = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        out += size_line
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            while True:  # trailers, up to the blank line
                line = await reader.readuntil(b"\r\n")
                out += line
                if line == b"\r\n":
                    return bytes(out)
        out += await reader.readexactly(size + 2)


async def read_request(reader: asyncio.StreamReader) -> Message | None:
    head = await _read_head(reader)
    if head is None:
        return None
    return Message(head, await _read_body(reader, Message(head, b""), to_eof=False))


async def read_response(reader: asyncio.StreamReader, method: str) -> tuple[Message, bool]:
    """The response to a ``method`` request, and whether the connection ends with it."""
    while True:
        head = await _read_head(reader)
        if head is None:
            raise ConnectionResetError("upstream closed before answering")
        bare = Message(head, b"")
        if bare.status >= 200:
            break  # 1xx interim answers are passed over (we never send Expect: 100-continue)
    framed = any(bare.header(name) is not None for name in ("Content-Length", "Transfer-Encoding"))
    has_body = method != "HEAD" and bare.status not in _NO_BODY_STATUSES
    body = await _read_body(reader, bare, to_eof=True) if has_body else b""
    # A body framed by nothing ends with the connection (RFC 9112 section 6.3).
    closes = (bare.header("Connection") or "").lower() == "close" or (has_body and not framed)
    return Message(head, body), closes


def error_response() -> bytes:
    return (
        b"HTTP/1.1 500 Internal Server Error\r\n"
        b"Content-Type: application/json\r\n"
        b"Content-Length: " + str(len(ERROR_BODY)).encode() + b"\r\n\r\n" + ERROR_BODY
    )


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST rather than FIN: a connection dropped, not a response ended."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass(eq=False)
class FaultProxy:
    """The proxy (see the module docstring). ``port`` is fixed at the first ``listen`` and kept
    across ``stop_listening``/``listen``, so the client's URL stays valid."""

    upstream_host: str
    upstream_port: int
    port: int = 0
    faults: list[Fault] = field(default_factory=list)
    delivered: list[Exchange] = field(default_factory=list)
    forwarded: int = 0
    # Seconds each request waits before it is forwarded: a slow link, so a run lasts long enough
    # for time-based behaviour (the replicator's checkpoint interval) to show.
    latency: float = 0.0
    on_forwarded: Callable[[Message], None] | None = None
    _server: asyncio.Server | None = None
    _clients: set[asyncio.StreamWriter] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def listening(self) -> bool:
        return self._server is not None

    async def listen(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(
            self._accepted, HOST, self.port, reuse_address=True, limit=HEAD_LIMIT
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop_listening(self) -> None:
        """Refuse new connections and reset the open ones: the peer is gone."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()
        for writer in list(self._clients):
            reset(writer)

    def refuse_for(self, seconds: float) -> None:
        """Stop listening now and listen again after ``seconds``."""
        self._spawn(self._refuse(seconds))

    async def _refuse(self, seconds: float) -> None:
        await self.stop_listening()
        await asyncio.sleep(seconds)
        await self.listen()

    def arm(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def clear(self) -> None:
        self.faults.clear()

    @property
    def fired(self) -> int:
        return sum(fault.fired for fault in self.faults)

    async def close(self) -> None:
        await self.stop_listening()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in list(self._clients):  # accepted while closing
            writer.transport.abort()
        self._clients.clear()

    async def __aenter__(self) -> FaultProxy:
        await self.listen()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- one client connection -----------------------------------------------------------------

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Known at once, not when its task first runs: a proxy closed before then (the task
        # cancelled unstarted, its ``finally`` never run) must still reset this connection.
        self._clients.add(writer)
        self._spawn(self._serve(reader, writer))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while True:
                request = await read_request(reader)
                if request is None:
                    return
                if upstream is None:
                    upstream = await self._connect(writer)
                    if upstream is None:
                        return
                if not await self._exchange(request, writer, *upstream):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            reset(writer)
        finally:
            self._clients.discard(writer)
            if upstream is not None:
                upstream[1].transport.abort()
            writer.transport.abort()

    async def _connect(
        self, client: asyncio.StreamWriter
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """A connection to the upstream; a down upstream is a reset for the client."""
        try:
            return await asyncio.open_connection(
                self.upstream_host, self.upstream_port, limit=HEAD_LIMIT
            )
        except OSError:
            reset(client)
            return None

    async def _exchange(
        self,
        request: Message,
        client: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> bool:
        """Forward one request and its response, or fault; whether the connection goes on."""
        fault = next((f for f in self.faults if f.fires(request)), None)
        if fault is not None and fault.kind is Kind.ERROR and fault.after_bytes is None:
            return await self._answer_error(client)
        if fault is not None and fault.kind is Kind.REFUSE:
            reset(client)
            self.refuse_for(fault.seconds)
            return False
        if fault is not None and fault.kind is Kind.CUT:
            return await self._cut(fault, request, client, up_reader, up_writer)
        if fault is not None and fault.after_bytes is None:
            return await self._fail(fault, client, b"")
        if self.latency:
            await asyncio.sleep(self.latency)
        up_writer.write(request.raw)
        await up_writer.drain()
        self.forwarded += 1
        if self.on_forwarded is not None:
            self.on_forwarded(request)
        response, closes = await read_response(up_reader, request.method)
        if fault is not None and fault.kind is Kind.ERROR:
            return await self._answer_error(client) and not closes
        if fault is not None:
            assert fault.after_bytes is not None
            # Never the whole response: the client must see it cut short.
            cut = min(fault.after_bytes, len(response.raw) - 1)
            return await self._fail(fault, client, response.raw[:cut])
        client.write(response.raw)
        await client.drain()
        self.delivered.append(Exchange(request, response))
        return not closes

    async def _cut(
        self,
        fault: Fault,
        request: Message,
        client: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> bool:
        """Send part of ``request`` and end the upload; whatever the peer answers is dropped."""
        size = len(request.raw) // 2 if fault.after_bytes is None else fault.after_bytes
        up_writer.write(request.raw[: min(size, len(request.raw) - 1)])
        await up_writer.drain()
        up_writer.write_eof()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(up_reader.read(), CUT_ANSWER_S)
        reset(client)
        return False

    async def _answer_error(self, client: asyncio.StreamWriter) -> bool:
        client.write(error_response())
        await client.drain()
        return True

    async def _fail(self, fault: Fault, client: asyncio.StreamWriter, sent: bytes) -> bool:
        """Pass on ``sent`` (part of a response), then drop or stall and drop."""
        if sent:
            client.write(sent)
            await client.drain()
        if fault.kind is Kind.STALL:
            await asyncio.sleep(fault.seconds)
        reset(client)
        return False
