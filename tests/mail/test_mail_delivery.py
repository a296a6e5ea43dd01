"""Receipts delivered over SMTP on loopback into the local mailbox, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from mail_harness import (
    DOMAIN,
    ScriptedHandler,
    SenderFactory,
    outbox_rows,
    parts,
    plain_receipt,
    seed,
    split_receipt,
    subscription_receipt,
)
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.clock import ManualClock
from flexfulfill.domain.receipts import Receipt, receipt_message_id
from flexfulfill.mail import Outcome, SmtpServer, list_mail
from flexfulfill.store.statuses import OutboxStatus
from flexfulfill.store.tables import outbox


async def _deliver_one(
    engine: AsyncEngine, server: SmtpServer, make_sender: SenderFactory, receipt: Receipt
) -> tuple[str, str, dict[str, str]]:
    await seed(engine, receipt)
    report = await make_sender(server.port).run_once()
    assert report[Outcome.SENT] == 1
    [stored] = await list_mail(engine)
    message = stored.parsed()
    assert message.get_content_type() == "multipart/alternative"
    assert stored.rcpt_to == receipt.email
    assert stored.mail_from == "receipts@shop.example"
    text, html = parts(message)
    return text, html, {k: str(v) for k, v in message.items()}


def _expected_id(receipt: Receipt) -> str:
    return receipt_message_id(receipt.order_id, receipt.checkout_session_id, DOMAIN)


async def test_a_plain_cart_receipt_arrives_with_its_headers_lines_and_amounts(
    engine: AsyncEngine, local_mailbox: SmtpServer, make_sender: SenderFactory
) -> None:
    """Headers from the row and settings; every line and total in both parts."""
    receipt = plain_receipt()
    text, html, headers = await _deliver_one(engine, local_mailbox, make_sender, receipt)
    assert headers["From"] == "Acme Health <receipts@shop.example>"
    assert headers["To"] == "shopper1@example.com"
    assert headers["Reply-To"] == "help@shop.example"
    assert headers["Subject"] == "Your receipt from Acme Health — order FF-000001"
    assert headers["Date"] == "Thu, 26 Nov 2026 00:00:00 +0000"
    assert headers["Message-ID"] == _expected_id(receipt)
    assert headers["Auto-Submitted"] == "auto-generated"
    assert "Digital thermometer (HSA/FSA eligible)\n    1 × $19.99 = $19.99" in text
    assert "Bandages (box of 40) (HSA/FSA eligible)\n    3 × $4.50 = $13.50" in text
    for total in ("Subtotal: $33.49", "Tax: $2.68", "Shipping: $5.00", "Total: $41.17"):
        assert total in text
    assert "HSA/FSA card •••• 4242: $41.17" in text
    for amount in ("$19.99", "$4.50", "$13.50", "$33.49", "$2.68", "$5.00", "$41.17"):
        assert amount in html
    assert "Discount" not in text + html


async def test_a_split_cart_receipt_shows_what_each_card_paid(
    engine: AsyncEngine, local_mailbox: SmtpServer, make_sender: SenderFactory
) -> None:
    """The HSA/FSA card's share and the other card's share, and the discount as negative."""
    text, html, headers = await _deliver_one(engine, local_mailbox, make_sender, split_receipt())
    assert headers["To"] == "split2@example.com"
    assert "Blood pressure monitor (HSA/FSA eligible)\n    1 × $59.99 = $59.99" in text
    assert "Scented candle\n    2 × $12.50 = $25.00" in text
    for total in ("Subtotal: $84.99", "Discount: -$5.00", "Total: $79.99"):
        assert total in text
    assert "HSA/FSA card •••• 1881: $54.99" in text
    assert "Other card •••• 0005: $25.00" in text
    assert "Your cart was split" in text
    assert "Your cart was split" in html
    for amount in ("$59.99", "$12.50", "$25.00", "$84.99", "-$5.00", "$79.99", "$54.99"):
        assert amount in html
    assert "HSA/FSA card •••• 1881" in html
    assert "Other card •••• 0005" in html


async def test_a_subscription_receipt_shows_the_period_and_the_next_renewal(
    engine: AsyncEngine, local_mailbox: SmtpServer, make_sender: SenderFactory
) -> None:
    """Period and renewal dates in both parts."""
    text, html, _ = await _deliver_one(engine, local_mailbox, make_sender, subscription_receipt())
    for part in (text, html):
        assert "Vitamin D, monthly" in part
        assert "$25.00" in part
        assert "Billed every month" in part
        assert "Current period: November 26, 2026 – December 27, 2026" in part
        assert "Next renewal: December 27, 2026" in part


async def test_a_sent_row_records_when_and_is_not_sent_again(
    engine: AsyncEngine, local_mailbox: SmtpServer, make_sender: SenderFactory, clock: ManualClock
) -> None:
    """After the server accepted it the row is sent, once; later runs find nothing due."""
    await seed(engine, plain_receipt(), split_receipt())
    sender = make_sender(local_mailbox.port)
    assert (await sender.run_once())[Outcome.SENT] == 2
    clock.advance(86_400)
    assert (await sender.run_once()).claimed == 0
    rows = await outbox_rows(engine)
    assert [(r.status, r.attempts, r.sent_at) for r in rows] == [
        (OutboxStatus.SENT, 1, clock.current - 86_400)
    ] * 2
    assert len(await list_mail(engine)) == 2


class LockProbe(ScriptedHandler):
    """While the message is being delivered, try to lock the row being sent, without waiting."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__()
        self.engine = engine
        self.locked: list[bool] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.locked.append(await self._try_lock())
        return await super().handle_DATA(server, session, envelope)

    async def _try_lock(self) -> bool:
        try:
            async with asyncio.timeout(2), self.engine.begin() as conn:  # SQLite: BEGIN IMMEDIATE
                query = select(outbox).where(outbox.c.id == 1).with_for_update(nowait=True)
                await conn.execute(query)
        except (TimeoutError, DBAPIError):
            return False
        return True


async def test_the_smtp_exchange_happens_with_no_database_transaction_open(
    engine: AsyncEngine, make_sender: SenderFactory
) -> None:
    """During DATA the row is lockable at once: the claim has committed, the mark comes after."""
    await seed(engine, plain_receipt())
    probe = LockProbe(engine)
    async with SmtpServer(probe) as server:
        assert (await make_sender(server.port).run_once())[Outcome.SENT] == 1
    assert probe.locked == [True]


async def test_a_lease_shorter_than_the_safety_margin_still_sends(
    engine: AsyncEngine, local_mailbox: SmtpServer, make_sender: SenderFactory
) -> None:
    """WORKER_LEASE_SECONDS=10 (below the 15 s margin) must not skip every row forever."""
    await seed(engine, plain_receipt())
    report = await make_sender(local_mailbox.port, lease_seconds=10.0).run_once()
    assert report[Outcome.SENT] == 1
    assert len(await list_mail(engine)) == 1
