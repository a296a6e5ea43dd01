"""Orders, their lines, payments, refunds and the receipt's outbox row."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from flexfulfill.domain import refunds as refund_rules
from flexfulfill.domain.orders import LineDraft, OrderDraft, PaymentDraft
from flexfulfill.domain.receipts import OUTBOX_KIND_RECEIPT, Receipt, receipt_key
from flexfulfill.store.conflicts import excluded, insert_or_ignore, upsert
from flexfulfill.store.statuses import FulfilledVia, OrderStatus, OutboxStatus
from flexfulfill.store.tables import order_lines, orders, outbox, payments, refunds


@dataclass(frozen=True)
class OrderRef:
    """The few facts about an existing order that callers need."""

    order_id: int
    checkout_session_id: str
    status: str
    amount_total: int
    email: str | None
    fulfilled_via: str


async def find_order(conn: AsyncConnection, session_id: str) -> OrderRef | None:
    """The order of a checkout session, if there is one."""
    row = (
        await conn.execute(
            select(
                orders.c.id,
                orders.c.checkout_session_id,
                orders.c.status,
                orders.c.amount_total,
                orders.c.email,
                orders.c.fulfilled_via,
            ).where(orders.c.checkout_session_id == session_id)
        )
    ).first()
    return OrderRef(*row) if row else None


async def sessions_with_orders(conn: AsyncConnection, session_ids: list[str]) -> set[str]:
    """Which of these checkout sessions already have an order."""
    if not session_ids:
        return set()
    stmt = select(orders.c.checkout_session_id).where(orders.c.checkout_session_id.in_(session_ids))
    return set((await conn.execute(stmt)).scalars())


async def insert_order(
    conn: AsyncConnection, draft: OrderDraft, via: FulfilledVia, now: float
) -> int | None:
    """Insert the order; None when the session already has one (UNIQUE decides the race)."""
    values = {
        "checkout_session_id": draft.checkout_session_id,
        "status": OrderStatus.PAID,
        "mode": draft.mode,
        "customer_id": draft.customer_id,
        "email": draft.email,
        "customer_name": draft.customer_name,
        "client_reference_id": draft.client_reference_id,
        "subscription_id": draft.subscription_id,
        "amount_subtotal": draft.amount_subtotal,
        "amount_tax": draft.amount_tax,
        "amount_shipping": draft.amount_shipping,
        "amount_discount": draft.amount_discount,
        "amount_total": draft.amount_total,
        "amount_refunded": 0,
        "amount_paid": 0,
        "test_mode": draft.test_mode,
        "fulfilled_via": via,
        "metadata": json.dumps(draft.metadata, sort_keys=True, default=str),
        "created_at": now,
        "updated_at": now,
    }
    return await insert_or_ignore(conn, orders, values, ["checkout_session_id"])


async def insert_lines(
    conn: AsyncConnection, order_id: int, lines: Sequence[LineDraft]
) -> list[tuple[int, LineDraft]]:
    """Insert a new order's lines in one statement; each line's id with it, in order.

    A line item id the API listed twice is inserted once (the first), as the UNIQUE
    (order, line item) key would have it.
    """
    first: dict[str, LineDraft] = {}
    for line in lines:
        first.setdefault(line.line_item_id, line)
    unique = list(first.values())
    if not unique:
        return []
    rows = [{"order_id": order_id, "backordered": False, **line.__dict__} for line in unique]
    stmt = order_lines.insert().returning(order_lines.c.id, sort_by_parameter_order=True)
    ids = list((await conn.execute(stmt, rows)).scalars())
    return list(zip(ids, unique, strict=True))


async def mark_backordered(conn: AsyncConnection, line_ids: Sequence[int]) -> None:
    """Flag these lines as sold below zero stock (one statement for all of them)."""
    if line_ids:
        await conn.execute(
            update(order_lines).where(order_lines.c.id.in_(line_ids)).values(backordered=True)
        )


async def record_payment(
    conn: AsyncConnection,
    payment: PaymentDraft,
    *,
    now: float,
    order_id: int | None = None,
    session_id: str | None = None,
) -> None:
    """Insert or update a payment by its intent id; an order link, once set, is kept."""
    values = {
        **payment.__dict__,
        "checkout_session_id": session_id,
        "order_id": order_id,
        "created_at": now,
        "updated_at": now,
    }
    keep = func.coalesce
    changes = {
        "amount": excluded(conn, payments, "amount"),
        "amount_received": excluded(conn, payments, "amount_received"),
        "status": excluded(conn, payments, "status"),
        "payment_card_type": excluded(conn, payments, "payment_card_type"),
        "order_id": keep(payments.c.order_id, excluded(conn, payments, "order_id")),
        "checkout_session_id": keep(
            payments.c.checkout_session_id, excluded(conn, payments, "checkout_session_id")
        ),
        "updated_at": now,
    }
    await upsert(conn, payments, values, ["payment_intent_id"], changes)


async def order_of_payment(conn: AsyncConnection, payment_intent_id: str) -> int | None:
    """The order a payment belongs to, once known."""
    stmt = select(payments.c.order_id).where(payments.c.payment_intent_id == payment_intent_id)
    return (await conn.execute(stmt)).scalar_one_or_none()


async def record_refund(
    conn: AsyncConnection, refund: dict[str, Any], order_id: int | None, now: float
) -> None:
    """Insert or update a refund by its id."""
    values = {**refund, "order_id": order_id, "created_at": now, "updated_at": now}
    changes = {
        "status": excluded(conn, refunds, "status"),
        "amount": excluded(conn, refunds, "amount"),
        "reason": excluded(conn, refunds, "reason"),
        "order_id": func.coalesce(refunds.c.order_id, excluded(conn, refunds, "order_id")),
        "updated_at": now,
    }
    await upsert(conn, refunds, values, ["refund_id"], changes)


async def refresh_amounts(conn: AsyncConnection, order_id: int, now: float) -> OrderStatus:
    """Recompute paid (sum of payments), refunded (sum of counted refunds) and the status.

    One UPDATE with subqueries, so concurrent payment and refund events each see the other's
    committed rows and the last writer leaves the sums right.
    """
    paid = (
        select(func.coalesce(func.sum(payments.c.amount_received), 0))
        .where(payments.c.order_id == order_id)
        .scalar_subquery()
    )
    intents = select(payments.c.payment_intent_id).where(payments.c.order_id == order_id)
    refunded = (
        select(func.coalesce(func.sum(refunds.c.amount), 0))
        .where(
            refunds.c.payment_intent_id.in_(intents),
            refunds.c.status.in_(refund_rules.COUNTED),
        )
        .scalar_subquery()
    )
    result = await conn.execute(
        update(orders)
        .where(orders.c.id == order_id)
        .values(amount_paid=paid, amount_refunded=refunded, updated_at=now)
        .returning(orders.c.amount_total, orders.c.amount_refunded, orders.c.status)
    )
    total, amount_refunded, current = result.one()
    status = refund_rules.order_status(int(total), int(amount_refunded))
    if status != current:
        await conn.execute(update(orders).where(orders.c.id == order_id).values(status=status))
    return status


async def insert_receipt(
    conn: AsyncConnection, receipt: Receipt, *, message_id: str, now: float
) -> int | None:
    """The receipt's outbox row (pending), one per order by UNIQUE (kind, key)."""
    values = {
        "kind": OUTBOX_KIND_RECEIPT,
        "key": receipt_key(receipt.checkout_session_id),
        "order_id": receipt.order_id,
        "payload": receipt.to_json(),
        "status": OutboxStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "message_id": message_id,
        "recipient": receipt.email or None,
        "created_at": now,
    }
    return await insert_or_ignore(conn, outbox, values, ["kind", "key"])


async def order_lines_of(conn: AsyncConnection, order_id: int) -> list[Any]:
    """The lines of an order (id, product_id, quantity), for restocking."""
    stmt = select(order_lines.c.id, order_lines.c.product_id, order_lines.c.quantity).where(
        order_lines.c.order_id == order_id
    )
    return list((await conn.execute(stmt)).all())
