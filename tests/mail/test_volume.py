"""Many orders: one message each, each with its own Message-ID, also with senders racing."""

from __future__ import annotations

import asyncio

from mail_harness import (
    ScriptedHandler,
    SenderFactory,
    outbox_rows,
    plain_receipt,
    seed,
    split_receipt,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.mail import Outcome, SmtpServer
from flexfulfill.store.statuses import OutboxStatus


def _handler(server: SmtpServer) -> ScriptedHandler:
    assert isinstance(server.handler, ScriptedHandler)
    return server.handler


async def test_a_thousand_orders_make_a_thousand_messages_with_distinct_message_ids(
    engine: AsyncEngine, scripted: SmtpServer, make_sender: SenderFactory
) -> None:
    """1,000 pending receipts: 1,000 accepted messages, 1,000 Message-IDs, all rows sent."""
    receipts = [(plain_receipt if i % 2 else split_receipt)(i) for i in range(1, 1001)]
    await seed(engine, *receipts)
    report = await make_sender(scripted.port, batch_size=100).drain()
    assert report[Outcome.SENT] == 1000
    ids = _handler(scripted).message_ids()
    assert len(ids) == len(set(ids)) == 1000
    rows = await outbox_rows(engine)
    assert {r.status for r in rows} == {OutboxStatus.SENT}
    assert sorted(ids) == sorted(r.message_id for r in rows)


async def test_racing_senders_deliver_each_receipt_exactly_once(
    engine: AsyncEngine, scripted: SmtpServer, make_sender: SenderFactory
) -> None:
    """Four senders draining one outbox at once never send a receipt twice."""
    await seed(engine, *(plain_receipt(i) for i in range(1, 201)))
    senders = [make_sender(scripted.port, batch_size=10) for _ in range(4)]
    reports = await asyncio.gather(*(s.drain() for s in senders))
    assert sum(r[Outcome.SENT] for r in reports) == 200
    ids = _handler(scripted).message_ids()
    assert len(ids) == len(set(ids)) == 200
