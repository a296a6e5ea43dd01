"""Test harness for receipt mail: a scripted SMTP handler and orders seeded as fulfillment does."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.domain.receipts import (
    OUTBOX_KIND_RECEIPT,
    Receipt,
    ReceiptLine,
    ReceiptPayment,
    ReceiptSubscription,
    receipt_key,
    receipt_message_id,
)
from flexfulfill.mail import OutboxSender, Sender
from flexfulfill.store.outbox import OutboxRow
from flexfulfill.store.statuses import OutboxStatus
from flexfulfill.store.tables import orders, outbox

DOMAIN = "shop.example"
SENDER = Sender("receipts@shop.example", "Acme Health", reply_to="help@shop.example")
T0 = 1_795_651_200.0  # 2026-11-26 00:00 UTC

SenderFactory = Callable[..., OutboxSender]  # (port, timeout=…, **SenderPolicy fields)


@dataclass
class ScriptedHandler:
    """An SMTP server's handler that answers RCPT and DATA from scripts, then 250.

    ``accepted`` holds every message the server said 250 to, parsed; the counters show how
    often the client tried, which is how the tests see a retry storm (or its absence).
    """

    rcpt_replies: deque[str] = field(default_factory=deque)
    data_replies: deque[str] = field(default_factory=deque)
    raw: list[bytes] = field(default_factory=list)
    rcpt_attempts: int = 0
    data_attempts: int = 0

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.rcpt_attempts += 1
        if self.rcpt_replies:
            return self.rcpt_replies.popleft()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.data_attempts += 1
        if self.data_replies:
            return self.data_replies.popleft()
        self.raw.append(envelope.original_content or b"")
        return "250 2.0.0 Queued"

    def accepted(self) -> list[EmailMessage]:
        """The accepted messages, parsed on demand (a method: aiosmtpd reads every attribute)."""
        parsed = [BytesParser(policy=policy.default).parsebytes(raw) for raw in self.raw]
        assert all(isinstance(m, EmailMessage) for m in parsed)
        return parsed  # type: ignore[return-value]

    def message_ids(self) -> list[str]:
        headers = [BytesHeaderParser().parsebytes(raw) for raw in self.raw]
        return [str(h["Message-ID"]) for h in headers]


def plain_receipt(order_id: int = 1) -> Receipt:
    """One eligible item on one HSA/FSA card."""
    return Receipt(
        order_id=order_id,
        checkout_session_id=f"fcs_plain_{order_id}",
        email=f"shopper{order_id}@example.com",
        created_at=T0,
        lines=(
            ReceiptLine("Digital thermometer", 1, 1999, 1999, "auto_substantiation"),
            ReceiptLine("Bandages (box of 40)", 3, 450, 1350, "auto_substantiation"),
        ),
        amount_subtotal=3349,
        amount_tax=268,
        amount_shipping=500,
        amount_discount=0,
        amount_total=4117,
        payments=(ReceiptPayment(f"fpi_{order_id}", 4117, hsa_fsa=True, card_last4="4242"),),
        test_mode=False,
    )


def split_receipt(order_id: int = 2) -> Receipt:
    """An eligible and an ineligible item, paid by the HSA/FSA card and another card."""
    return Receipt(
        order_id=order_id,
        checkout_session_id=f"fcs_split_{order_id}",
        email=f"split{order_id}@example.com",
        created_at=T0 + 3600,
        customer_name="Grace Hopper",
        lines=(
            ReceiptLine("Blood pressure monitor", 1, 5999, 5999, "auto_substantiation"),
            ReceiptLine("Scented candle", 2, 1250, 2500, "not_eligible"),
        ),
        amount_subtotal=8499,
        amount_tax=0,
        amount_shipping=0,
        amount_discount=500,
        amount_total=7999,
        payments=(
            ReceiptPayment(f"fpi_{order_id}_a", 5499, hsa_fsa=True, card_last4="1881"),
            ReceiptPayment(f"fpi_{order_id}_b", 2500, hsa_fsa=False, card_last4="0005"),
        ),
    )


def subscription_receipt(order_id: int = 3) -> Receipt:
    """A monthly subscription with its period and next renewal."""
    return Receipt(
        order_id=order_id,
        checkout_session_id=f"fcs_sub_{order_id}",
        email=f"sub{order_id}@example.com",
        created_at=T0,
        lines=(ReceiptLine("Vitamin D, monthly", 1, 2500, 2500, "auto_substantiation"),),
        amount_subtotal=2500,
        amount_tax=0,
        amount_shipping=0,
        amount_discount=0,
        amount_total=2500,
        payments=(ReceiptPayment(f"fpi_{order_id}", 2500, hsa_fsa=True, card_last4="4242"),),
        subscription=ReceiptSubscription(
            f"fsub_{order_id}",
            "active",
            period_start=T0,
            period_end=T0 + 31 * 86_400,  # 2026-12-27
            next_renewal=T0 + 31 * 86_400,
            interval="month",
        ),
    )


def order_row(receipt: Receipt) -> dict[str, object]:
    return {
        "id": receipt.order_id,
        "checkout_session_id": receipt.checkout_session_id,
        "status": "paid",
        "mode": "subscription" if receipt.subscription else "payment",
        "email": receipt.email,
        "amount_total": receipt.amount_total,
        "test_mode": receipt.test_mode,
        "fulfilled_via": "webhook",
        "created_at": receipt.created_at,
        "updated_at": receipt.created_at,
    }


def outbox_row(receipt: Receipt) -> dict[str, object]:
    """The receipt row exactly as fulfillment writes it in the order's transaction."""
    return {
        "kind": OUTBOX_KIND_RECEIPT,
        "key": receipt_key(receipt.checkout_session_id),
        "order_id": receipt.order_id,
        "payload": receipt.to_json(),
        "status": OutboxStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": receipt.created_at,
        "message_id": receipt_message_id(receipt.order_id, receipt.checkout_session_id, DOMAIN),
        "recipient": receipt.email,
        "created_at": receipt.created_at,
    }


async def seed(engine: AsyncEngine, *receipts: Receipt) -> None:
    """Orders and their pending receipt rows, in one transaction (as fulfillment commits them)."""
    async with engine.begin() as conn:
        await conn.execute(insert(orders), [order_row(r) for r in receipts])
        await conn.execute(insert(outbox), [outbox_row(r) for r in receipts])


async def outbox_rows(engine: AsyncEngine) -> list[OutboxRow]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(outbox).order_by(outbox.c.id))).all()
    return [OutboxRow.from_row(r) for r in rows]


def parts(message: EmailMessage) -> tuple[str, str]:
    """The plain-text and HTML bodies of a received receipt."""
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    return _lf(text.get_content()), _lf(html.get_content())


def _lf(content: object) -> str:
    return str(content).replace("\r\n", "\n")
