"""Loopback TCP proxies the chaos run controls: the webhook endpoint and the SMTP gate.

The webhook endpoint is a round-robin balancer over the receivers (as a load balancer in front
of several `flexfulfill serve` processes would be): a backend that refuses the connection is
skipped. ``down`` takes the whole endpoint offline (every connection, open ones too, is cut), so
the sandbox's retries run out. The SMTP gate forwards to the local mail server or, while
``down``, greets with a 421 and hangs up, as a mail server refusing for a stretch does.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

SMTP_REFUSAL = b"421 4.3.2 chaos: service not available, try again later\r\n"


class Proxy:
    """Forward each connection to one of ``backends``; refuse everything while ``down``."""

    def __init__(self, backends: list[int], *, refusal: bytes | None = None) -> None:
        self.backends = backends
        self.refusal = refusal
        self.port = 0
        self.refused = 0
        self.cuts: list[float] = []  # when going down cut open connections (Unix seconds)
        self._down = False
        self._turn = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    @property
    def down(self) -> bool:
        return self._down

    @down.setter
    def down(self, value: bool) -> None:
        self._down = value
        if value and self._open:
            self.cuts.append(time.time())
            for writer in list(self._open):
                writer.transport.abort()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self.down = True
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self._down:
                await self._refuse(writer)
                return
            backend = await self._connect()
            if backend is None:
                writer.transport.abort()
                return
            await self._relay((reader, writer), backend)
        finally:
            writer.close()

    async def _refuse(self, writer: asyncio.StreamWriter) -> None:
        self.refused += 1
        if self.refusal is None:
            writer.transport.abort()
            return
        with contextlib.suppress(OSError):
            writer.write(self.refusal)
            await writer.drain()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        for _ in range(len(self.backends)):
            self._turn += 1
            port = self.backends[self._turn % len(self.backends)]
            try:
                return await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue
        return None

    async def _relay(
        self,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        backend: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        self._open.update((client[1], backend[1]))
        try:
            await asyncio.gather(_pipe(client[0], backend[1]), _pipe(backend[0], client[1]))
        finally:
            self._open.difference_update((client[1], backend[1]))
            backend[1].close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until end of stream (then close), or cut the other side at once on a reset."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()
    except OSError:
        writer.transport.abort()
