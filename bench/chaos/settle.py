"""Waiting for quiet after the storm, then reading both databases and checking them."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from bench.chaos import verify
from bench.chaos.driver import Catalog, Purchase
from bench.chaos.procs import Fleet
from bench.chaos.storm import StormLog
from flexfulfill.store.db import make_engine

if TYPE_CHECKING:
    from bench.chaos.run import ChaosConfig


async def settle(
    merchant_url: str, sandbox_url: str, purchases: list[Purchase], timeout: float
) -> tuple[verify.Facts, float | None]:
    """Wait for quiet (at most ``timeout`` s), then read everything the checks need."""
    merchant = make_engine(merchant_url)
    sandbox = make_engine(sandbox_url)
    try:
        paid = sum(p.paid for p in purchases)
        quiet_s = await wait_quiet(merchant, sandbox, paid, timeout)
        facts = verify.Facts()
        await verify.read_sandbox(sandbox, facts)
        await verify.read_merchant(merchant, facts)
    finally:
        await merchant.dispose()
        await sandbox.dispose()
    return facts, quiet_s


def final_checks(
    fleet: Fleet,
    storm: StormLog,
    facts: verify.Facts,
    purchases: list[Purchase],
    catalog: Catalog,
    quiet_s: float | None,
    config: ChaosConfig,
    smtp_cuts: list[float],
) -> list[verify.Check]:
    crashed = fleet.exits()
    return [
        *verify.order_checks(facts, purchases, catalog.start_stock),
        *verify.receipt_checks(facts, storm.sender_kill_times, smtp_cuts),
        *verify.inbox_checks(facts, storm.poisoned, storm.outages),
        verify.check(
            "quiet within the time limit",
            f"≤ {config.quiet_timeout:.0f} s",
            "never" if quiet_s is None else f"{quiet_s:.0f} s",
            quiet_s is not None,
        ),
        verify.check(
            "no process died on its own", 0, len(crashed), not crashed, "; ".join(crashed)
        ),
    ]


async def wait_quiet(
    merchant: AsyncEngine, sandbox: AsyncEngine, paid: int, timeout: float
) -> float | None:
    """Seconds until nothing is left to do (three calm polls in a row); None at the limit."""
    began, calm = time.monotonic(), 0
    while time.monotonic() - began < timeout:
        calm = calm + 1 if await _calm(merchant, sandbox, paid) else 0
        if calm >= 3:
            return time.monotonic() - began
        await asyncio.sleep(1.0)
    return None


async def _calm(merchant: AsyncEngine, sandbox: AsyncEngine, paid: int) -> bool:
    pending = "SELECT count(*) FROM sandbox_messages WHERE status = 'pending'"
    work = """SELECT (SELECT count(*) FROM webhook_events WHERE status IN ('pending', 'processing'))
                   + (SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending'))"""
    orders = "SELECT count(*) FROM orders"
    try:
        (left,) = (await verify.rows(sandbox, pending))[0]
        (busy,) = (await verify.rows(merchant, work))[0]
        (made,) = (await verify.rows(merchant, orders))[0]
    except Exception:
        return False
    return bool(left == 0 and busy == 0 and made >= paid)
