"""Four workers (each with its own engine, as on four machines) share one inbox: exact counts.

The Flex port is the in-memory fake here, so the test measures the claim protocol and the
UNIQUE constraints under contention rather than the sandbox's speed (the sandbox tests in
test_with_sandbox.py cover the same handlers over HTTP).
"""

from __future__ import annotations

import asyncio
import random

import pytest
from fulfillment_counts import count
from fulfillment_fakes import FakeFlex, event_body
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.clock import Clock
from flexfulfill.flex import Customer
from flexfulfill.fulfillment.context import Services
from flexfulfill.fulfillment.handlers import default_registry
from flexfulfill.fulfillment.worker import Worker, WorkerConfig
from flexfulfill.store.db import make_engine
from flexfulfill.store.statuses import EventStatus
from flexfulfill.store.tables import webhook_events

EVENTS = 2000
DUPLICATES = 600  # 30 %


def _checkout_events(flex: FakeFlex, k: int) -> list[bytes]:
    """A checkout's events: customer.created, payment_intent.succeeded (×2 split), completed."""
    split = k % 2 == 1
    lines = [("fprod_a", 1, 2500), ("fprod_b", 2, 300)] if split else [("fprod_a", 2, 2500)]
    session = flex.add_checkout(lines, split=split)
    customer = f"fcus_{k}"
    flex.customers[customer] = Customer(customer_id=customer, email=f"c{k}@example.com")
    bodies = [event_body("customer.created", "customer", {"customer_id": customer})]
    for pi in flex.sessions[session].payment_intent_ids:
        bodies.append(
            event_body("payment_intent.succeeded", "payment_intent", {"payment_intent_id": pi})
        )
    bodies.append(
        event_body(
            "checkout.session.completed", "checkout_session", {"checkout_session_id": session}
        )
    )
    return bodies


def _rows(bodies: list[bytes]) -> list[dict[str, object]]:
    return [
        {
            "message_id": f"msg_{i:06d}",
            "event_type": __import__("json").loads(body)["event_type"],
            "test_mode": True,
            "body": body,
            "headers": "{}",
            "received_at": 1.0,
            "status": EventStatus.PENDING,
            "attempts": 0,
            "next_attempt_at": 1.0,
        }
        for i, body in enumerate(bodies)
    ]


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_four_workers_process_2000_events_with_30_percent_duplicates_exactly_once(
    database_url: str, engine: AsyncEngine, flex: FakeFlex
) -> None:
    """1,400 distinct events of 280 checkouts plus 600 duplicates: every count is exact."""
    unique: list[bytes] = []
    carts = 0
    while len(unique) < EVENTS - DUPLICATES:
        unique += _checkout_events(flex, carts)
        carts += 1
    unique = unique[: EVENTS - DUPLICATES]
    carts = sum(1 for b in unique if b"checkout.session.completed" in b)
    sessions_done = {b for b in unique if b"checkout.session.completed" in b}
    bodies = unique + random.Random(3).choices(unique, k=DUPLICATES)
    random.Random(4).shuffle(bodies)
    async with engine.begin() as conn:
        await conn.execute(insert(webhook_events), _rows(bodies))
    engines = [make_engine(database_url, pool_size=4) for _ in range(4)]
    try:
        workers = [
            Worker(
                Services(e, flex, Clock(), default_registry()),
                WorkerConfig(name=f"w{i}", concurrency=8),
            )
            for i, e in enumerate(engines)
        ]
        claimed = await asyncio.gather(*(w.drain() for w in workers))
    finally:
        for e in engines:
            await e.dispose()
    assert sum(claimed) == EVENTS
    assert sum(1 for c in claimed if c > 0) >= 2
    assert len(sessions_done) == carts
    assert await count(engine, "webhook_events", status="done") == EVENTS
    assert await count(engine, "event_attempts") == EVENTS
    assert await count(engine, "orders") == carts
    assert await count(engine, "outbox") == carts
    lines = sum(len(flex.items[s]) for s in _completed_sessions(unique))
    assert await count(engine, "order_lines") == lines
    assert await count(engine, "stock_movements") == lines
    intents = {b for b in unique if b"payment_intent.succeeded" in b}
    order_intents = sum(
        len(flex.sessions[s].payment_intent_ids) for s in _completed_sessions(unique)
    )
    assert await count(engine, "payments") == len(intents | set()) + order_intents - _overlap(
        unique, flex
    )
    assert await count(engine, "customers") == sum(1 for b in unique if b"customer.created" in b)


def _completed_sessions(bodies: list[bytes]) -> list[str]:
    import json

    return [
        json.loads(b)["object"]["checkout_session"]["checkout_session_id"]
        for b in bodies
        if b"checkout.session.completed" in b
    ]


def _overlap(bodies: list[bytes], flex: FakeFlex) -> int:
    """Payment intents both announced by an event and listed on a completed session."""
    import json

    announced = {
        json.loads(b)["object"]["payment_intent"]["payment_intent_id"]
        for b in bodies
        if b"payment_intent.succeeded" in b
    }
    listed = {pi for s in _completed_sessions(bodies) for pi in flex.sessions[s].payment_intent_ids}
    return len(announced & listed)
