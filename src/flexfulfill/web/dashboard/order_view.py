"""One order as an operator needs to see it: lines, payments per card, stock movements, the
receipt as sent, and the timeline of every webhook that touched it.

A webhook "touched" an order when a processing attempt recorded the order's id, or when its raw
body mentions the order's checkout session, one of its payment intents or its subscription (a
``payment_intent.succeeded`` that arrived before the order existed still belongs to its story).
The body search scans the inbox; it is an operator's page, not a hot path.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

from sqlalchemy import ColumnElement, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from flexfulfill.store.tables import (
    customers,
    event_attempts,
    mailbox,
    order_lines,
    orders,
    outbox,
    payments,
    refunds,
    stock_movements,
    subscriptions,
    webhook_events,
)
from flexfulfill.web.dashboard.queries import Row, _rows, attempts_for

# Renders an outbox payload (the receipt snapshot) to {"subject", "text", "html"}, or None.
Preview = Callable[[str], dict[str, Any] | None]


async def order_page(
    conn: AsyncConnection, order_id: int, *, preview: Preview | None = None
) -> Row | None:
    """Everything the order page shows, or None for an unknown order."""
    found = (await conn.execute(select(orders).where(orders.c.id == order_id))).first()
    if found is None:
        return None
    order = dict(found._mapping)
    lines = await _rows(conn, select(order_lines).where(order_lines.c.order_id == order_id))
    pays = await _payments(conn, order)
    return {
        "order": order,
        "lines": lines,
        "payments": pays,
        "refunds": await _rows(conn, select(refunds).where(refunds.c.order_id == order_id)),
        "movements": await _movements(conn, [int(line["id"]) for line in lines]),
        "customer": await _customer(conn, order.get("customer_id")),
        "subscription": await _subscription(conn, order.get("subscription_id")),
        "receipts": await receipts_for(conn, order_id, preview),
        "timeline": await timeline(conn, order, [p["payment_intent_id"] for p in pays]),
    }


async def _payments(conn: AsyncConnection, order: Row) -> list[Row]:
    stmt = select(payments).where(
        or_(
            payments.c.order_id == order["id"],
            payments.c.checkout_session_id == order["checkout_session_id"],
        )
    )
    return await _rows(conn, stmt.order_by(payments.c.id))


async def _movements(conn: AsyncConnection, line_ids: list[int]) -> list[Row]:
    if not line_ids:
        return []
    stmt = select(stock_movements).where(stock_movements.c.order_line_id.in_(line_ids))
    return await _rows(conn, stmt.order_by(stock_movements.c.id))


async def _customer(conn: AsyncConnection, customer_id: str | None) -> Row | None:
    if not customer_id:
        return None
    stmt = select(customers).where(customers.c.customer_id == customer_id)
    found = (await conn.execute(stmt)).first()
    return dict(found._mapping) if found else None


async def _subscription(conn: AsyncConnection, subscription_id: str | None) -> Row | None:
    if not subscription_id:
        return None
    stmt = select(subscriptions).where(subscriptions.c.subscription_id == subscription_id)
    found = (await conn.execute(stmt)).first()
    return dict(found._mapping) if found else None


async def receipts_for(
    conn: AsyncConnection, order_id: int, preview: Preview | None = None
) -> list[Row]:
    """The order's outbox rows, each with the message as the local SMTP server received it or,
    with a real SMTP server, as rendered from the row's snapshot (exactly what the sender sends)."""
    stmt = select(outbox).where(outbox.c.order_id == order_id).order_by(outbox.c.id)
    rows = await _rows(conn, stmt)
    for row in rows:
        row["delivered"] = await _delivered(conn, row.get("message_id"))
        if row["delivered"] is None and preview is not None:
            row["rendered"] = preview(str(row["payload"]))
    return rows


async def _delivered(conn: AsyncConnection, message_id: str | None) -> Row | None:
    if not message_id:
        return None
    stmt = select(mailbox).where(mailbox.c.message_id == message_id).order_by(mailbox.c.id)
    found = (await conn.execute(stmt.limit(1))).first()
    if found is None:
        return None
    return {**dict(found._mapping), **parse_message(bytes(found.raw))}


def parse_message(raw: bytes) -> dict[str, Any]:
    """Subject, plain-text part and HTML part of a stored message."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return {
        "subject": str(message.get("Subject", "")),
        "text": _part(message, "plain"),
        "html": _part(message, "html"),
    }


def _part(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return None
    content = part.get_content()
    return content if isinstance(content, str) else None


async def timeline(conn: AsyncConnection, order: Row, payment_intents: list[str]) -> list[Row]:
    """Every inbox row that touched the order, oldest first, each with its attempts."""
    needles = [order["checkout_session_id"], *payment_intents]
    if order.get("subscription_id"):
        needles.append(order["subscription_id"])
    by_attempt = select(event_attempts.c.event_row_id).where(
        event_attempts.c.order_id == order["id"]
    )
    mentions = [_mentions(conn, needle) for needle in needles if needle]
    cols = [c for c in webhook_events.c if c.name not in ("body", "headers")]
    stmt = select(*cols).where(or_(webhook_events.c.id.in_(by_attempt), *mentions, false()))
    events = await _rows(conn, stmt.order_by(webhook_events.c.received_at, webhook_events.c.id))
    attempts = await attempts_for(conn, [int(e["id"]) for e in events])
    return [{**e, "attempts": attempts.get(int(e["id"]), [])} for e in events]


def _mentions(conn: AsyncConnection, needle: str) -> ColumnElement[bool]:
    """The raw body contains ``needle`` (ids are ASCII, so a byte search is exact)."""
    if conn.dialect.name == "postgresql":
        # encode(..., 'escape') turns any bytes into text and leaves ASCII as it is.
        return func.strpos(func.encode(webhook_events.c.body, "escape"), needle) > 0
    return func.instr(webhook_events.c.body, needle.encode()) > 0
