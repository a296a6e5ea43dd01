"""The keep-alive transport under the Flex client, against raw asyncio servers on loopback.

Each server is a few lines of bytes on a socket, so every HTTP/1.1 corner the transport must
handle (a server that closes an idle connection, ``Connection: close``, chunked and gzip
bodies, a slow answer, a pool of limited size) is shown exactly.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from flexfulfill.flex._transport import KeepAliveTransport, make_transport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[tuple[str, list[int]]]:
    """A loopback server; yields its URL and a list that counts accepted connections."""
    accepted: list[int] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}", accepted


async def read_request(reader: asyncio.StreamReader) -> bytes | None:
    """The request head (bodies are not sent in these tests), or None at end of stream."""
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None


def answer(body: bytes, *extra: str) -> bytes:
    head = [
        "HTTP/1.1 200 OK",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *extra,
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while await read_request(reader) is not None:
        writer.write(answer(b'{"ok": true}'))
        await writer.drain()


@asynccontextmanager
async def client_of(
    handler: Handler, pool: int
) -> AsyncIterator[tuple[httpx.AsyncClient, list[int]]]:
    """A client through a ``pool``-connection transport to a server running ``handler``."""
    async with serve(handler) as (url, accepted):
        transport = KeepAliveTransport(pool)
        async with httpx.AsyncClient(base_url=url, transport=transport, timeout=2) as http:
            yield http, accepted


async def test_connections_are_kept_alive_and_reused() -> None:
    async with client_of(keep_alive, 2) as (http, accepted):
        for _ in range(10):
            assert (await http.get("/x")).json() == {"ok": True}
    assert len(accepted) == 1


async def test_no_more_connections_than_the_pool_allows() -> None:
    async with client_of(keep_alive, 3) as (http, accepted):
        answers = await asyncio.gather(*(http.get("/x") for _ in range(40)))
    assert {r.status_code for r in answers} == {200}
    assert 1 <= len(accepted) <= 3


async def test_an_idle_connection_the_server_closed_is_replaced() -> None:
    async def one_answer_then_close(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        # Answers as if keeping the connection alive, then closes it while the client idles.
        if await read_request(reader) is not None:
            writer.write(answer(b'{"n": 1}'))
            await writer.drain()

    async with client_of(one_answer_then_close, 1) as (http, accepted):
        assert (await http.get("/a")).json() == {"n": 1}
        await asyncio.sleep(0.05)  # the close reaches the client
        assert (await http.get("/b")).json() == {"n": 1}
    assert len(accepted) == 2


async def test_a_close_racing_the_next_request_is_retried_once_on_a_new_connection() -> None:
    async def close_without_answering_second(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if await read_request(reader) is not None:
            writer.write(answer(b'{"n": 1}'))
            await writer.drain()
        await read_request(reader)  # the second request on this connection: no answer

    async with client_of(close_without_answering_second, 1) as (http, accepted):
        assert (await http.get("/a")).json() == {"n": 1}
        assert (await http.get("/b")).json() == {"n": 1}
    assert len(accepted) == 2


async def test_a_fresh_connection_closed_without_an_answer_is_a_protocol_error() -> None:
    async def hang_up(reader: asyncio.StreamReader, _writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    async with client_of(hang_up, 1) as (http, _):
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            await http.get("/x")


async def test_connection_close_is_honoured() -> None:
    async def close_each(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if await read_request(reader) is not None:
            writer.write(answer(b"{}", "Connection: close"))
            await writer.drain()

    async with client_of(close_each, 1) as (http, accepted):
        for _ in range(3):
            assert (await http.get("/x")).status_code == 200
    assert len(accepted) == 3


async def test_chunked_and_gzip_bodies_are_decoded() -> None:
    payload = gzip.compress(b'{"zipped": "yes"}')

    async def chunked_gzip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await read_request(reader) is not None:
            half = len(payload) // 2
            chunks = b"".join(
                f"{len(part):x}\r\n".encode() + part + b"\r\n"
                for part in (payload[:half], payload[half:])
            )
            head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n"
            writer.write(head.encode() + b"\r\n" + chunks + b"0\r\n\r\n")
            await writer.drain()

    async with client_of(chunked_gzip, 1) as (http, accepted):
        for _ in range(2):
            assert (await http.get("/x")).json() == {"zipped": "yes"}
    assert len(accepted) == 1


async def test_a_slow_answer_is_a_read_timeout_and_the_connection_is_dropped() -> None:
    async def slow_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = True
        while await read_request(reader) is not None:
            if first:
                await asyncio.sleep(0.5)
                first = False
            writer.write(answer(b"{}"))
            await writer.drain()

    async with client_of(slow_first, 1) as (http, accepted):
        with pytest.raises(httpx.ReadTimeout):
            await http.get("/x", timeout=0.1)
        # The late answer must not be read as the next request's: a new connection.
        assert (await http.get("/y", timeout=2)).status_code == 200
    assert len(accepted) == 2


async def test_nothing_listening_is_a_connect_error() -> None:
    async with serve(keep_alive) as (url, _):
        pass  # closed again: the port refuses
    async with httpx.AsyncClient(base_url=url, transport=KeepAliveTransport(1)) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get("/x")


def test_a_proxy_in_the_environment_falls_back_to_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(make_transport(4), KeepAliveTransport)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert isinstance(make_transport(4), httpx.AsyncHTTPTransport)
