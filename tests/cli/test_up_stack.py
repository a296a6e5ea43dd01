"""The stack `flexfulfill up` runs, in-process: a checkout paid like on the hosted page."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.cli.up_stack import local_stack
from flexfulfill.store.tables import orders, outbox

pytestmark = pytest.mark.slow


async def _receipt_of(engine: AsyncEngine, session_id: str) -> tuple[str | None, str | None]:
    stmt = (
        select(outbox.c.recipient, outbox.c.status)
        .select_from(outbox.join(orders, orders.c.id == outbox.c.order_id))
        .where(orders.c.checkout_session_id == session_id)
    )
    async with asyncio.timeout(60):
        while True:
            async with engine.connect() as conn:
                found = (await conn.execute(stmt)).first()
            if found is not None and found.status in ("sent", "failed"):
                return found.recipient, found.status
            await asyncio.sleep(0.2)


async def test_a_checkout_without_prefilled_email_gets_its_receipt(tmp_path: Path) -> None:
    """The shopper's email typed at checkout (no defaults on the session) receives the receipt."""
    async with local_stack(
        tmp_path, host="127.0.0.1", port=0, sandbox_port=0, time_scale=0.01
    ) as stack:
        session = await stack.new_session(["thermometer"])
        contact = {"email": "walk-in@example.com", "first_name": "Walk"}
        await stack.sandbox.complete_checkout(session["checkout_session_id"], contact=contact)
        recipient, status = await _receipt_of(stack.engine, session["checkout_session_id"])
    assert (recipient, status) == ("walk-in@example.com", "sent")
