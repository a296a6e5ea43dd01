"""A scripted HTTP server on loopback: the honest edge for the client's retry and error tests.

It answers each request with the next scripted reply (then repeats the last one) and records
what it received, so tests can see attempts, headers and bodies exactly as they crossed the wire.
"""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

API_KEY = "fsk_test_SECRETkey0123456789abcdef"


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    raw: bytes | None = None


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    raw_path: bytes = b""


class ScriptedServer:
    """An ASGI app that plays back :class:`Reply` objects and records :class:`Seen` requests."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.seen: list[Seen] = []
        self.url = ""

    def script(self, *replies: Reply) -> None:
        self.replies = list(replies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        raw = await request.body()
        self.seen.append(
            Seen(
                request.method,
                request.url.path,
                dict(request.query_params),
                {k.lower(): v for k, v in request.headers.items()},
                json.loads(raw) if raw else None,
                scope.get("raw_path") or b"",
            )
        )
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if reply.delay:
            await asyncio.sleep(reply.delay)
        content = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
        response = Response(content, reply.status, reply.headers, "application/json")
        await response(scope, receive, send)


def free_port() -> int:
    """A loopback port with nothing listening on it (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
