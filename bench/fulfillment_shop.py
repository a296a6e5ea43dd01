"""The sandbox side of the fulfillment benchmark: the sandbox process and a shop in it."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.fulfillment_drain import KEY
from flexfulfill.store.tables import orders

CONTACT = {"email": "ada@example.com", "first_name": "Ada"}
CARD = {"number": "4242424242424242"}


@asynccontextmanager
async def sandbox_process(tmp: Path) -> AsyncIterator[httpx.AsyncClient]:
    """``flexfulfill sandbox`` on a free port; yields an API client for it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exe = Path(sys.executable).with_name("flexfulfill")
    args = [str(exe), "sandbox", "--port", str(port), "--time-scale", "0.001"]
    proc = subprocess.Popen([*args, "--database", str(tmp / "sandbox.sqlite3")])
    headers = {"authorization": f"Bearer {KEY}"}
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
            await until_up(client)
            yield client
    finally:
        proc.terminate()
        proc.wait(10)


async def until_up(client: httpx.AsyncClient) -> None:
    async with asyncio.timeout(30):
        while True:
            try:
                if (await client.get("/v1/products")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)


async def post(client: httpx.AsyncClient, path: str, body: Any) -> Any:
    response = await client.post(path, json=body)
    response.raise_for_status()
    return response.json()


async def catalog(client: httpx.AsyncClient) -> list[str]:
    prices = []
    for k, kind in enumerate(["auto_substantiation", "auto_substantiation", "not_eligible"]):
        body = {"product": {"name": f"item {k}", "hsa_fsa_eligibility": kind}}
        product = (await post(client, "/v1/products", body))["product"]
        price = {"price": {"product": product["product_id"], "unit_amount": 1000 + k}}
        prices.append((await post(client, "/v1/prices", price))["price"]["price_id"])
    return prices


async def open_session(client: httpx.AsyncClient, prices: list[str], k: int) -> str:
    lines = [{"price": prices[k % 2], "quantity": 1}, {"price": prices[2], "quantity": 1 + k % 3}]
    success = "http://127.0.0.1/s?session_id={CHECKOUT_SESSION_ID}"
    body = {"checkout_session": {"line_items": lines, "mode": "payment", "success_url": success}}
    created = await post(client, "/v1/checkout/sessions", body)
    return str(created["checkout_session"]["checkout_session_id"])


async def pay(client: httpx.AsyncClient, session_id: str) -> None:
    path = f"/v1/test_helpers/checkout_sessions/{session_id}/complete"
    await post(client, path, {"contact": CONTACT, "card": CARD})


async def paid_sessions(client: httpx.AsyncClient, prices: list[str], count: int) -> list[str]:
    sessions: list[str] = []
    while len(sessions) < count:
        batch = await asyncio.gather(
            *(open_session(client, prices, len(sessions) + k) for k in range(20))
        )
        await asyncio.gather(*(pay(client, s) for s in batch))
        sessions += batch
    return sessions[:count]


async def count_orders(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(orders))).scalar_one())
