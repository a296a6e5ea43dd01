"""Helpers for the sandbox's tests: a real loopback webhook endpoint and catalog builders."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import svix.webhooks

from flexfulfill.clock import Clock


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0  # real seconds before answering (to test timeouts)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A loopback HTTP/1.1 server (keep-alive) that records requests and answers per ``script``."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.requests: list[Received] = []
        self.script: Callable[[Received], Reply] = lambda _r: Reply()
        self.clock = clock or Clock()
        self.arrived = asyncio.Event()
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 1)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                headers = dict(_header(line) for line in head[1:] if ":" in line)
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = Received(head[0].split(" ")[1], headers, body, self.clock.now())
                self.requests.append(request)
                self.arrived.set()
                await self._answer(writer, self.script(request))
        writer.close()

    async def _answer(self, writer: asyncio.StreamWriter, reply: Reply) -> None:
        if reply.delay:
            await asyncio.sleep(reply.delay)
        lines = [f"HTTP/1.1 {reply.status} X", f"content-length: {len(reply.body)}"]
        lines += [f"{k}: {v}" for k, v in reply.headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + reply.body)
        await writer.drain()

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait until ``count`` requests have arrived (real seconds)."""
        async with asyncio.timeout(timeout):
            while len(self.requests) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.requests


def _header(line: str) -> tuple[str, str]:
    name, _, value = line.partition(":")
    return name.strip().lower(), value.strip()


def svix_verify(secret: str, request: Received) -> None:
    """Verify with the ``svix`` package (it expects ``whsec_``; Flex's secret says ``fwhsec_``)."""
    svix.webhooks.Webhook("whsec_" + secret.split("_", 1)[1]).verify(request.body, request.headers)


async def make_price(
    flex: Any,
    name: str = "Thermometer",
    eligibility: str = "auto_substantiation",
    amount: int = 2500,
    recurring: dict[str, Any] | None = None,
) -> str:
    """A product and a price for it; returns the price id."""
    product = await flex.post(
        "/v1/products", json={"product": {"name": name, "hsa_fsa_eligibility": eligibility}}
    )
    price: dict[str, Any] = {
        "product": product.json()["product"]["product_id"],
        "unit_amount": amount,
    }
    if recurring:
        price["recurring"] = recurring
    response = await flex.post("/v1/prices", json={"price": price})
    return str(response.json()["price"]["price_id"])


async def make_session(flex: Any, prices: list[str], **fields: Any) -> dict[str, Any]:
    body = {
        "line_items": [{"price": p, "quantity": 1} for p in prices],
        "success_url": "http://127.0.0.1/success?session_id={CHECKOUT_SESSION_ID}",
        **fields,
    }
    response = await flex.post("/v1/checkout/sessions", json={"checkout_session": body})
    assert response.status_code == 200, response.text
    return dict(response.json()["checkout_session"])


async def event_types(flex: Any) -> list[str]:
    """Every recorded event type, oldest first."""
    events = (await flex.get("/v1/events", params={"limit": 100})).json()["events"]
    return [e["event_type"] for e in reversed(events)]
