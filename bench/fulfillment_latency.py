"""Event-to-order latency for the fulfillment benchmark (see bench/fulfillment.py)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.fulfillment_drain import ROOT
from bench.fulfillment_shop import count_orders, open_session, pay, post
from flexfulfill.store.db import make_engine
from flexfulfill.store.migrate import upgrade
from flexfulfill.store.tables import orders, webhook_events


async def latency(
    client: httpx.AsyncClient, prices: list[str], tmp: Path, rate: float, seconds: float
) -> tuple[tuple[list[float], list[float]], float]:
    url = f"sqlite+aiosqlite:///{tmp / f'latency{rate:.0f}.sqlite3'}"
    engine = make_engine(url)
    await upgrade(engine)
    body = {
        "webhook": {"url": "http://127.0.0.1:9/webhook", "events": ["checkout.session.completed"]}
    }
    hook = (await post(client, "/v1/webhooks", body))["webhook"]
    secret, api_base = hook["signing_secret"], str(client.base_url).rstrip("/")
    count = int(rate * seconds)
    sessions = [await open_session(client, prices, k) for k in range(count)]
    args = [sys.executable, "-m", "bench.fulfillment_serve", url, secret, api_base]
    with subprocess.Popen(args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as proc:
        assert proc.stdin is not None
        assert proc.stdout is not None
        base = proc.stdout.readline().decode().strip()
        hook_url = {"webhook": {"url": f"{base}/webhook"}}
        await post(client, f"/v1/webhooks/{hook['webhook_id']}", hook_url)
        achieved = await _paced(client, sessions, rate)
        async with asyncio.timeout(120):
            while await count_orders(engine) < count:
                await asyncio.sleep(0.05)
        proc.stdin.close()
    await post(client, f"/v1/webhooks/{hook['webhook_id']}", {"webhook": {"enabled": False}})
    gaps = await _gaps(engine, tmp / "sandbox.sqlite3")
    await engine.dispose()
    return gaps, achieved


async def _paced(client: httpx.AsyncClient, sessions: list[str], rate: float) -> float:
    """Complete the sessions at ``rate`` per second; the rate the sandbox actually sustained."""
    started = time.perf_counter()
    tasks = []
    for k, session_id in enumerate(sessions):
        await asyncio.sleep(max(0.0, started + k / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(pay(client, session_id)))
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


def latency_row(rate: float, gaps: tuple[list[float], list[float]], achieved: float) -> str:
    sent, stored = gaps
    cells = [f"{_pct(sent, q):.0f} ms" for q in (0.5, 0.9, 0.99)] + [f"{sent[-1] * 1000:.0f} ms"]
    cells += [f"{_pct(stored, q):.0f} ms" for q in (0.5, 0.99)]
    return f"| {rate:.0f}/s ({achieved:.0f}/s) | {len(sent)} | " + " | ".join(cells) + " |"
