"""A small HTTP/1.1 POST client for webhook delivery: keep-alive pools, no redirects, a timeout.

Delivery needs only one thing — POST these bytes, read the status and a little of the body —
so this is a few lines over asyncio streams and httptools' response parser (already installed
with uvicorn), several times faster than a general client. Redirects are never followed: a
3xx is returned like any other status, and the caller counts it a failure.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httptools

EXCERPT_LIMIT = 64 * 1024
Origin = tuple[str, str, int]


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes


class ConnectionFailed(Exception):
    """The endpoint could not be reached or answered with something that is not HTTP."""


@dataclass
class _Parsed:
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    done: bool = False
    headers_done: bool = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, chunk: bytes) -> None:
        if len(self.body) < EXCERPT_LIMIT:
            self.body.extend(chunk[: EXCERPT_LIMIT - len(self.body)])

    def on_message_complete(self) -> None:
        self.done = True


Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class HttpPoster:
    """POSTs over pooled keep-alive connections, one pool per origin."""

    def __init__(self, *, max_idle_per_origin: int = 1024) -> None:
        self._idle: dict[Origin, list[Conn]] = {}
        self._max_idle = max_idle_per_origin
        self._ssl = ssl.create_default_context()

    async def post(
        self, url: str, headers: list[tuple[str, str]], body: bytes, seconds: float
    ) -> HttpResponse:
        """Send one POST within ``seconds``; raises TimeoutError or :class:`ConnectionFailed`."""
        parts = urlsplit(url)
        https = parts.scheme == "https"
        origin: Origin = (parts.scheme, parts.hostname or "", parts.port or (443 if https else 80))
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        request = _request_bytes(target, parts.netloc, headers, body)
        async with asyncio.timeout(seconds):
            return await self._exchange(origin, request)

    async def _exchange(self, origin: Origin, request: bytes) -> HttpResponse:
        reused = self._take_idle(origin)
        if reused is not None:
            try:
                return await self._roundtrip(origin, reused, request)
            except ConnectionFailed:
                pass  # the server closed an idle connection; one fresh try below
        return await self._roundtrip(origin, await self._connect(origin), request)

    def _take_idle(self, origin: Origin) -> Conn | None:
        pool = self._idle.get(origin)
        while pool:
            conn = pool.pop()
            if not conn[1].is_closing():
                return conn
        return None

    async def _connect(self, origin: Origin) -> Conn:
        scheme, host, port = origin
        try:
            return await asyncio.open_connection(
                host, port, ssl=self._ssl if scheme == "https" else None, limit=EXCERPT_LIMIT
            )
        except OSError as exc:
            raise ConnectionFailed(f"cannot connect to {host}:{port}: {exc}") from exc

    async def _roundtrip(self, origin: Origin, conn: Conn, request: bytes) -> HttpResponse:
        reader, writer = conn
        parsed = _Parsed()
        parser = httptools.HttpResponseParser(parsed)
        try:
            writer.write(request)
            await writer.drain()
            await _read_response(reader, parser, parsed)
        except (OSError, httptools.HttpParserError, ConnectionFailed) as exc:
            writer.close()
            raise ConnectionFailed(str(exc) or type(exc).__name__) from exc
        except BaseException:
            writer.close()  # a timeout or cancellation leaves the stream mid-message
            raise
        response = HttpResponse(parser.get_status_code(), parsed.headers, bytes(parsed.body))
        # httptools forgets keep-alive once a message completes; HTTP/1.1 keeps it unless told.
        closing = parsed.headers.get("connection", "").lower() == "close"
        keep = parsed.done and parser.get_http_version() == "1.1" and not closing
        self._release(origin, conn, keep)
        return response

    def _release(self, origin: Origin, conn: Conn, keep: bool) -> None:
        pool = self._idle.setdefault(origin, [])
        if keep and len(pool) < self._max_idle:
            pool.append(conn)
        else:
            conn[1].close()

    async def close(self) -> None:
        for pool in self._idle.values():
            for _reader, writer in pool:
                writer.close()
        self._idle.clear()


async def _read_response(
    reader: asyncio.StreamReader, parser: httptools.HttpResponseParser, parsed: _Parsed
) -> None:
    while not parsed.done:
        chunk = await reader.read(65536)
        if not chunk:
            if parsed.headers_done:
                parsed.done = True  # a body delimited by the connection closing
                return
            raise ConnectionFailed("connection closed before a response")
        parser.feed_data(chunk)


def _request_bytes(target: str, host: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    lines = [f"POST {target} HTTP/1.1", f"host: {host}", f"content-length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
