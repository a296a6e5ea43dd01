"""Four workers (each with its own engine, as on four machines) share one inbox: exact counts."""

from __future__ import annotations

import asyncio
import random

from conftest import count
from sandbox_shop import shop
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.bootstrap import build_services
from flexfulfill.config import Settings
from flexfulfill.fulfillment.worker import Worker
from flexfulfill.store.db import make_engine
from flexfulfill.store.tables import webhook_events

EVENTS = 2000
DUPLICATE_SHARE = 0.3


async def _add_duplicates(engine: AsyncEngine, total: int, seed: int = 5) -> int:
    """Copy random stored events under new message ids until there are ``total`` rows."""
    async with engine.begin() as conn:
        rows = (await conn.execute(select(webhook_events))).all()
        extra = total - len(rows)
        copies = random.Random(seed).choices(rows, k=extra)
        values = [
            {**row._mapping, "id": None, "message_id": f"{row.message_id}-dup{i}"}
            for i, row in enumerate(copies)
        ]
        for value in values:
            del value["id"]
        await conn.execute(insert(webhook_events), values)
    return extra


async def test_four_workers_process_2000_events_with_30_percent_duplicates_exactly_once(
    database_url: str, engine: AsyncEngine
) -> None:
    """Checkouts through the sandbox, their events stored with 30 % duplicates, four workers."""
    async with shop(database_url, engine) as s:
        await s.product("thermometer", 2500)
        await s.product("candy", 300, eligibility="not_eligible")
        unique_target = int(EVENTS * (1 - DUPLICATE_SHARE))
        carts = 0
        while await count(s.engine, "webhook_events") < unique_target:
            batch = [s.buy({"thermometer": 1, "candy": 1} if k % 2 else {"thermometer": 2}) for k in range(20)]
            await asyncio.gather(*batch)
            carts += len(batch)
            await s.sandbox.wait_idle()
        extra = await _add_duplicates(s.engine, EVENTS)
        assert extra >= EVENTS * DUPLICATE_SHARE
        engines = [make_engine(database_url) for _ in range(4)]
        try:
            settings = Settings(database_url=database_url, flex_api_key=s.sandbox.api_key)
            workers = [
                Worker(build_services(settings, e, s.flex), s.worker().config) for e in engines
            ]
            claimed = await asyncio.gather(*(w.drain() for w in workers))
        finally:
            for e in engines:
                await e.dispose()
        assert sum(claimed) == EVENTS
        assert all(c > 0 for c in claimed)
        lines = carts // 2 * 2 + carts // 2
        assert await count(s.engine, "orders") == carts
        assert await count(s.engine, "order_lines") == lines
        assert await count(s.engine, "stock_movements") == lines
        assert await count(s.engine, "outbox") == carts
        assert await count(s.engine, "payments") == carts // 2 * 2 + carts // 2
        assert await count(s.engine, "event_attempts") == EVENTS
