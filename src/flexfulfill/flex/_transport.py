"""A lean HTTP/1.1 keep-alive transport for httpx: a fixed set of connections to Flex.

Why not httpx's default transport (httpcore): measured with bench/fulfillment.py on this
project's 2-core machine, a worker spent about 1.5 ms of CPU per Flex GET inside httpcore, more
than everything else it does for an order together. Most of it is the connection pool's
bookkeeping: on every request it scans every connection (encode/httpcore#1035, and a
``poll()`` per idle socket), asks anyio/sniffio which event loop is running, and builds
cancellation shields. This transport keeps the parts that need a library (h11 reads and writes
HTTP/1.1, the one httpcore uses; httpx builds requests and decodes responses, including
content encodings) and replaces only the pool: a semaphore and a stack of idle connections.

It speaks HTTP/1.1 only (Flex's API needs nothing more), to the origins it is asked for. A
proxy configured in the environment makes :func:`make_transport` fall back to httpx's own.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from dataclasses import dataclass, field

import h11
import httpx

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
READ_CHUNK = 65536
Origin = tuple[str, str, int]  # scheme, host, port


def make_transport(max_connections: int) -> httpx.AsyncBaseTransport:
    """This module's transport, or httpx's own when the environment names a proxy."""
    if any(os.environ.get(v) or os.environ.get(v.lower()) for v in PROXY_VARIABLES):
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        return httpx.AsyncHTTPTransport(limits=limits, trust_env=True)
    return KeepAliveTransport(max_connections)


@dataclass(eq=False)
class _Connection:
    origin: Origin
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    h11: h11.Connection = field(default_factory=lambda: h11.Connection(h11.CLIENT))

    def usable(self) -> bool:
        """Still open on both sides, and ready for the next request."""
        return (
            not self.reader.at_eof()
            and not self.writer.is_closing()
            and self.h11.our_state is h11.IDLE
        )

    def close(self) -> None:
        self.writer.close()


class _NothingReceived(Exception):
    """A reused connection was closed by the server before it answered: try a fresh one."""


class KeepAliveTransport(httpx.AsyncBaseTransport):
    """At most ``max_connections`` HTTP/1.1 connections, kept alive between requests."""

    def __init__(self, max_connections: int = 8) -> None:
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: list[_Connection] = []
        self._ssl: ssl.SSLContext | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        reply = await self.exchange(
            origin_of(request.url),
            request.method.encode(),
            request.url.raw_path,
            request.headers.raw,
            body,
            request.extensions.get("timeout", {}),
        )
        return httpx.Response(
            reply.status,
            headers=reply.headers,
            stream=httpx.ByteStream(reply.content),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reply.reason},
            request=request,
        )

    async def exchange(
        self,
        origin: Origin,
        method: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        timeouts: dict[str, float | None],
    ) -> Reply:
        """One request and its whole answer, on a kept-alive connection to ``origin``.

        ``headers`` must hold ``Host`` (and ``Content-Length`` for a body). Errors are httpx's
        (``ConnectError``, ``ReadTimeout``, ``RemoteProtocolError``, …), as from httpx.
        """
        try:
            async with asyncio.timeout(timeouts.get("pool")):
                await self._slots.acquire()
        except TimeoutError as exc:
            raise httpx.PoolTimeout("no free connection to Flex in time") from exc
        try:
            sending = h11.Request(method=method, target=target, headers=headers)
            conn = self._reuse(origin)
            if conn is not None:
                try:
                    return await self._exchange(conn, sending, body, timeouts)
                except _NothingReceived:
                    pass  # the server had closed it while idle: once more, on a new connection
            conn = await self._connect(origin, timeouts)
            try:
                return await self._exchange(conn, sending, body, timeouts)
            except _NothingReceived as exc:
                raise httpx.RemoteProtocolError(
                    "Server disconnected without sending a response."
                ) from exc
        finally:
            self._slots.release()

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _reuse(self, origin: Origin) -> _Connection | None:
        while self._idle:
            conn = self._idle.pop()
            if conn.origin == origin and conn.usable():
                return conn
            conn.close()
        return None

    async def _connect(self, origin: Origin, timeouts: dict[str, float | None]) -> _Connection:
        scheme, host, port = origin
        tls = self._tls() if scheme == "https" else None
        try:
            async with asyncio.timeout(timeouts.get("connect")):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=tls, server_hostname=host if tls else None, limit=READ_CHUNK
                )
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port}") from exc
        except OSError as exc:
            raise httpx.ConnectError(f"{host}:{port}: {exc}") from exc
        return _Connection(origin, reader, writer)

    def _tls(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context()  # httpx's defaults: certifi, SSL_CERT_FILE
            self._ssl.set_alpn_protocols(["http/1.1"])
        return self._ssl

    async def _exchange(
        self,
        conn: _Connection,
        sending: h11.Request,
        body: bytes,
        timeouts: dict[str, float | None],
    ) -> Reply:
        keep = False
        received = False
        try:
            async with asyncio.timeout(timeouts.get("read")):
                conn.writer.write(_request_bytes(conn.h11, sending, body))
                await conn.writer.drain()
                reply, received = await _read_response(conn)
            keep = conn.h11.our_state is h11.DONE and conn.h11.their_state is h11.DONE
            if keep:
                conn.h11.start_next_cycle()
        except TimeoutError as exc:
            raise httpx.ReadTimeout("Flex did not answer in time") from exc
        except h11.RemoteProtocolError as exc:
            raise httpx.RemoteProtocolError(str(exc)) from exc
        except _NothingReceived:
            raise
        except OSError as exc:
            if not received:
                raise _NothingReceived from exc
            raise httpx.ReadError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            if keep:
                self._idle.append(conn)
            else:
                conn.close()
        return reply


@dataclass(frozen=True)
class Reply:
    """A whole HTTP answer: status, headers (lower-case names), reason phrase, body."""

    status: int
    headers: list[tuple[bytes, bytes]]
    reason: bytes
    content: bytes

    def header(self, name: bytes) -> str | None:
        """The first value of header ``name`` (lower case), decoded as Latin-1."""
        for key, value in self.headers:
            if key == name:
                return value.decode("latin-1")
        return None


def origin_of(url: httpx.URL) -> Origin:
    port = url.port or (443 if url.scheme == "https" else 80)
    return url.scheme, url.host, port


def _request_bytes(conn: h11.Connection, head: h11.Request, body: bytes) -> bytes:
    parts = [conn.send(head) or b""]
    if body:
        parts.append(conn.send(h11.Data(data=body)) or b"")
    parts.append(conn.send(h11.EndOfMessage()) or b"")
    return b"".join(parts)


async def _read_response(conn: _Connection) -> tuple[Reply, bool]:
    """The answer, and whether any byte came back at all (see :class:`_NothingReceived`)."""
    status, headers, reason = 0, [], b""
    chunks: list[bytes] = []
    received = False
    while True:
        event = conn.h11.next_event()
        if event is h11.NEED_DATA:
            data = await conn.reader.read(READ_CHUNK)
            if not data and not received:
                raise _NothingReceived
            received = True
            conn.h11.receive_data(data)  # b"" is the end of the stream
        elif isinstance(event, h11.Response):
            status, headers, reason = event.status_code, list(event.headers), event.reason
        elif isinstance(event, h11.Data):
            chunks.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage):
            return Reply(status, headers, reason, b"".join(chunks)), received
        elif isinstance(event, h11.ConnectionClosed):
            raise h11.RemoteProtocolError("Server disconnected mid-response.")
        # h11.InformationalResponse (1xx): skipped, the final answer follows
