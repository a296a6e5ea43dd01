"""Fulfillment benchmark: orders committed per second, and event-to-order latency.

    .venv/bin/python -m bench fulfillment

The sandbox runs as its own process on this machine (``flexfulfill sandbox``), serving the Flex
API over loopback HTTP as Flex would. Throughput: the sandbox holds paid checkouts; their
``checkout.session.completed`` events are put in the inbox at once and the worker(s) turn them
into orders, each re-fetching the session, line items and payment intents from the sandbox and
committing order, lines, stock movements, payments, receipt row and inbox ``done`` together.
Measured on SQLite (one worker) and PostgreSQL (one, then four workers, each with its own
engine, in this one process). Latency: the merchant server (receiver + worker) on SQLite gets
the sandbox's signed webhooks while checkouts complete at a fixed rate; latency runs from the
receiver storing ``checkout.session.completed`` to the order's commit (one machine clock).
"""

from __future__ import annotations

import asyncio
import json
import pickle
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.fulfillment_drain import KEY, run_workers
from bench.report import machine, write_section
from flexfulfill.bootstrap import build_worker
from flexfulfill.config import Settings
from flexfulfill.flex import (
    CheckoutSession,
    Customer,
    FlexClient,
    LineItem,
    PaymentIntent,
    RetryPolicy,
)
from flexfulfill.fulfillment.checkout import EXPAND
from flexfulfill.store.db import make_engine
from flexfulfill.store.migrate import upgrade
from flexfulfill.store.statuses import EventStatus
from flexfulfill.store.tables import orders, webhook_events
from flexfulfill.web.app import build_app
from flexfulfill.web.server import running

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
ORDERS = 200
RATES = ((50.0, 4.0), (10.0, 4.0))  # checkouts per second, for how many seconds
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
            await _until_up(client)
            yield client
    finally:
        proc.terminate()
        proc.wait(10)


async def _until_up(client: httpx.AsyncClient) -> None:
    async with asyncio.timeout(30):
        while True:
            try:
                if (await client.get("/v1/products")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)


async def _post(client: httpx.AsyncClient, path: str, body: Any) -> Any:
    response = await client.post(path, json=body)
    response.raise_for_status()
    return response.json()


async def _catalog(client: httpx.AsyncClient) -> list[str]:
    prices = []
    for k, kind in enumerate(["auto_substantiation", "auto_substantiation", "not_eligible"]):
        body = {"product": {"name": f"item {k}", "hsa_fsa_eligibility": kind}}
        product = (await _post(client, "/v1/products", body))["product"]
        price = {"price": {"product": product["product_id"], "unit_amount": 1000 + k}}
        prices.append((await _post(client, "/v1/prices", price))["price"]["price_id"])
    return prices


async def _open(client: httpx.AsyncClient, prices: list[str], k: int) -> str:
    lines = [{"price": prices[k % 2], "quantity": 1}, {"price": prices[2], "quantity": 1 + k % 3}]
    success = "http://127.0.0.1/s?session_id={CHECKOUT_SESSION_ID}"
    body = {"checkout_session": {"line_items": lines, "mode": "payment", "success_url": success}}
    created = await _post(client, "/v1/checkout/sessions", body)
    return str(created["checkout_session"]["checkout_session_id"])


async def _pay(client: httpx.AsyncClient, session_id: str) -> None:
    path = f"/v1/test_helpers/checkout_sessions/{session_id}/complete"
    await _post(client, path, {"contact": CONTACT, "card": CARD})


async def _paid_sessions(client: httpx.AsyncClient, prices: list[str], count: int) -> list[str]:
    sessions: list[str] = []
    while len(sessions) < count:
        batch = await asyncio.gather(*(_open(client, prices, len(sessions) + k) for k in range(20)))
        await asyncio.gather(*(_pay(client, s) for s in batch))
        sessions += batch
    return sessions[:count]


def _inbox_rows(sessions: list[str]) -> list[dict[str, Any]]:
    now = time.time()
    rows = []
    for i, session_id in enumerate(sessions):
        body = {
            "event_id": f"fevt_b{i}",
            "event_type": "checkout.session.completed",
            "test_mode": True,
            "object": {"checkout_session": {"checkout_session_id": session_id}},
        }
        rows.append(
            {
                "message_id": f"msg_bench_{uuid.uuid4().hex}",
                "event_type": body["event_type"],
                "test_mode": True,
                "body": json.dumps(body).encode(),
                "headers": "{}",
                "received_at": now,
                "status": EventStatus.PENDING,
                "attempts": 0,
                "next_attempt_at": now,
            }
        )
    return rows


async def _count_orders(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(orders))).scalar_one())


class RecordedFlex:
    """The same sessions, line items and intents, answered from memory (no HTTP, no sandbox)."""

    def __init__(self) -> None:
        self.sessions: dict[str, CheckoutSession] = {}
        self.items: dict[str, list[LineItem]] = {}
        self.intents: dict[str, PaymentIntent] = {}
        self.customers: dict[str, Customer] = {}

    @classmethod
    async def record(cls, flex: FlexClient, sessions: list[str]) -> RecordedFlex:
        recorded = cls()
        for session_id in sessions:
            session = await flex.get_checkout_session(session_id, **EXPAND)
            recorded.sessions[session_id] = session
            recorded.items[session_id] = await flex.list_line_items(session_id)
            for pi in session.payment_intent_ids:
                recorded.intents[pi] = await flex.get_payment_intent(pi)
            if session.customer_id:
                recorded.customers[session.customer_id] = await flex.get_customer(
                    session.customer_id
                )
        return recorded

    async def get_checkout_session(self, session_id: str, **flags: Any) -> CheckoutSession:
        return self.sessions[session_id]

    async def list_line_items(self, session_id: str, /) -> list[LineItem]:
        return self.items[session_id]

    async def get_payment_intent(self, payment_intent_id: str, /) -> PaymentIntent:
        return self.intents[payment_intent_id]

    async def get_customer(self, customer_id: str, /) -> Customer:
        return self.customers[customer_id]


async def _throughput(url: str, source: str, sessions: list[str], workers: int) -> float:
    """Orders per second: ``workers`` processes drain the inbox (see bench/fulfillment_drain.py)."""
    engine = make_engine(url)
    await upgrade(engine)
    async with engine.begin() as conn:
        await conn.execute(insert(webhook_events), _inbox_rows(sessions))
    elapsed = run_workers(url, source, workers)
    made = await _count_orders(engine)
    await engine.dispose()
    if made != len(sessions):
        raise AssertionError(f"{made} orders for {len(sessions)} sessions")
    return made / elapsed


async def _pg_database() -> str:
    name = f"ff_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


async def _drop(url: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


async def _latency(
    client: httpx.AsyncClient, prices: list[str], tmp: Path, rate: float, seconds: float
) -> tuple[tuple[list[float], list[float]], float]:
    url = f"sqlite+aiosqlite:///{tmp / f'latency{rate:.0f}.sqlite3'}"
    engine = make_engine(url)
    await upgrade(engine)
    body = {
        "webhook": {"url": "http://127.0.0.1:9/webhook", "events": ["checkout.session.completed"]}
    }
    hook = (await _post(client, "/v1/webhooks", body))["webhook"]
    settings = Settings(
        database_url=url,
        webhook_secrets=(hook["signing_secret"],),
        flex_api_key=KEY,
        flex_api_base=str(client.base_url).rstrip("/"),
    )
    count = int(rate * seconds)
    sessions = [await _open(client, prices, k) for k in range(count)]
    async with FlexClient(KEY, settings.flex_api_base, retry=RetryPolicy.testing()) as flex:
        worker = build_worker(settings, engine, flex)
        app = build_app(settings, engine, background=[worker.run])
        async with running(app) as base:
            hook_url = {"webhook": {"url": f"{base}/webhook"}}
            await _post(client, f"/v1/webhooks/{hook['webhook_id']}", hook_url)
            achieved = await _paced(client, sessions, rate)
            async with asyncio.timeout(120):
                while await _count_orders(engine) < count:
                    await asyncio.sleep(0.05)
    await _post(client, f"/v1/webhooks/{hook['webhook_id']}", {"webhook": {"enabled": False}})
    gaps = await _gaps(engine, tmp / "sandbox.sqlite3")
    await engine.dispose()
    return gaps, achieved


async def _paced(client: httpx.AsyncClient, sessions: list[str], rate: float) -> float:
    """Complete the sessions at ``rate`` per second; the rate the sandbox actually sustained."""
    started = time.perf_counter()
    tasks = []
    for k, session_id in enumerate(sessions):
        await asyncio.sleep(max(0.0, started + k / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(_pay(client, session_id)))
    await asyncio.gather(*tasks)
    return len(sessions) / (time.perf_counter() - started)


async def _gaps(engine: AsyncEngine, sandbox_db: Path) -> tuple[list[float], list[float]]:
    """Per order, seconds from the sandbox's first POST of its ``checkout.session.completed``
    (sandbox_attempts.attempted_at) and from the receiver storing it (received_at) to the
    order row (written in the transaction that commits it)."""
    async with engine.connect() as conn:
        made = dict(
            (await conn.execute(select(orders.c.checkout_session_id, orders.c.created_at))).all()
        )
        stored = (
            await conn.execute(
                select(
                    webhook_events.c.message_id, webhook_events.c.body, webhook_events.c.received_at
                ).where(webhook_events.c.event_type == "checkout.session.completed")
            )
        ).all()
    with sqlite3.connect(sandbox_db) as sandbox:
        query = "SELECT message_id, MIN(attempted_at) FROM sandbox_attempts GROUP BY message_id"
        sent = dict(sandbox.execute(query).fetchall())
    from_send, from_receipt = {}, {}
    for message_id, raw, received in stored:
        session_id = json.loads(raw)["object"]["checkout_session"]["checkout_session_id"]
        from_send[session_id] = max(0.0, made[session_id] - sent[message_id])
        from_receipt[session_id] = max(0.0, made[session_id] - received)
    return sorted(from_send.values()), sorted(from_receipt.values())


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


async def _engines(name: str, source: str, sessions: list[str], tmp: Path) -> dict[str, float]:
    results = {}
    for workers in (1, 2):
        url = f"sqlite+aiosqlite:///{tmp / f'{name}{workers}.sqlite3'}"
        results[f"SQLite, {workers} worker{'s' if workers > 1 else ''}"] = await _throughput(
            url, source, sessions, workers
        )
    for workers in (1, 2, 4):
        url = await _pg_database()
        try:
            label = f"PostgreSQL, {workers} worker{'s' if workers > 1 else ''}"
            results[label] = await _throughput(url, source, sessions, workers)
        finally:
            await _drop(url)
    return results


def _load() -> str:
    """The load average now (other work on this shared machine skews every figure)."""
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


async def _main() -> str:
    loads = [_load()]
    with tempfile.TemporaryDirectory(prefix="bench-fulfillment-") as scratch:
        tmp = Path(scratch)
        async with sandbox_process(tmp) as client:
            base = str(client.base_url).rstrip("/")
            prices = await _catalog(client)
            sessions = await _paid_sessions(client, prices, ORDERS)
            over_http = await _engines("http", base, sessions, tmp)
            async with FlexClient(KEY, base, retry=RetryPolicy.testing()) as flex:
                recorded = await RecordedFlex.record(flex, sessions)
            (tmp / "recorded.pkl").write_bytes(pickle.dumps(recorded))
            in_memory = await _engines("memory", str(tmp / "recorded.pkl"), sessions, tmp)
            loads.append(_load())
            latency = [
                (rate, *await _latency(client, prices, tmp, rate, seconds))
                for rate, seconds in RATES
            ]
    loads.append(_load())
    return _report(over_http, in_memory, latency, loads)


Latency = tuple[float, tuple[list[float], list[float]], float]


def _latency_row(rate: float, gaps: tuple[list[float], list[float]], achieved: float) -> str:
    sent, stored = gaps
    cells = [f"{_pct(sent, q):.0f} ms" for q in (0.5, 0.9, 0.99)] + [f"{sent[-1] * 1000:.0f} ms"]
    cells += [f"{_pct(stored, q):.0f} ms" for q in (0.5, 0.99)]
    return f"| {rate:.0f}/s ({achieved:.0f}/s) | {len(sent)} | " + " | ".join(cells) + " |"


def _report(
    results: dict[str, float],
    memory: dict[str, float],
    latency: list[Latency],
    loads: list[str],
) -> str:
    first = results["SQLite, 1 worker"]
    rows = "\n".join(
        f"| {k} | {v:.0f} | {v / first:.2f}× | {memory[k]:.0f} | {memory[k] / first:.2f}× |"
        for k, v in results.items()
    )
    latency_rows = "\n".join(_latency_row(*row) for row in latency)
    load_lines = "\n".join(f"    {line}" for line in loads)
    return f"""## Fulfillment

Command: `.venv/bin/python -m bench fulfillment` — {machine()}

`uptime` at the start, after the throughput runs and at the end (this 2-core machine is
shared; every figure below moves with the load):

{load_lines}

Orders committed per second: {ORDERS} paid checkouts in the sandbox (its own process on this
machine, loopback HTTP); their `checkout.session.completed` events in the inbox, drained by
worker processes (bench/fulfillment_drain.py; several workers = several processes). Each
order makes 2 API calls (the session with its payment intents and customer expanded, then its
line items), then the batch (32 rows) commits in ONE transaction: per order the order, lines
(one INSERT), payments, amounts, customer, receipt outbox row, one stock UPDATE per line, the
movements (one INSERT), backorder flags (one UPDATE) and inbox `done`. Batches of different
workers write one at a time (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: an advisory lock), the API
reads run in every worker at once. Goal: ≥ 500/s on SQLite, more with several workers on
PostgreSQL.

| Engine | Orders/s, Flex = sandbox over HTTP | × | Orders/s, Flex answers from memory | × |
|---|---|---|---|---|
{rows}

The right-hand columns replay the same API answers from memory (recorded from the sandbox
first): the merchant side's own ceiling on this machine, without the sandbox's share of the two
cores. Ratios are to the first cell.

Event-to-order latency, SQLite, receiver + worker in one server (in the bench's process), with
checkouts completed in the sandbox at a requested rate (in brackets: the rate the sandbox
sustained). Measured from the sandbox's first POST of `checkout.session.completed`
(`sandbox_attempts.attempted_at`) and, last two columns, from the receiver storing it, to the
order row (written in the batch transaction that commits it; same machine clock). Goal: p99
< 100 ms at 50 checkouts/s.

| Checkouts/s | n | p50 | p90 | p99 | max | stored→order p50 | stored→order p99 |
|---|---|---|---|---|---|---|---|
{latency_rows}
"""


def main() -> None:
    report = asyncio.run(_main())
    print(report)
    write_section("fulfillment", report)


if __name__ == "__main__":
    main()
