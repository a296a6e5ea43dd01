"""Orders, their lines, payments, refunds and the receipt's outbox row."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from flexfulfill.domain import refunds as refund_rules
from flexfulfill.domain.orders import LineDraft, OrderDraft, PaymentDraft
from flexfulfill.domain.receipts import OUTBOX_KIND_RECEIPT, Receipt, receipt_key
from flexfulfill.store.conflicts import excluded, upsert
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


async def find_orders(conn: AsyncConnection, session_ids: Sequence[str]) -> dict[str, int]:
    """Session id → order id, for those of these sessions that have an order."""
    if not session_ids:
        return {}
    stmt = select(orders.c.checkout_session_id, orders.c.id).where(
        orders.c.checkout_session_id.in_(list(session_ids))
    )
    return {session_id: order_id for session_id, order_id in (await conn.execute(stmt)).all()}


async def insert_orders(
    conn: AsyncConnection, drafts: Sequence[OrderDraft], via: FulfilledVia, now: float
) -> dict[str, int]:
    """Insert the orders in one statement; session id → id of each order inserted.

    A session that already has an order is skipped (the UNIQUE session id decides the race:
    of two concurrent transactions exactly one inserts), so it is absent from the result. The
    drafts' session ids must be distinct.
    """
    if not drafts:
        return {}
    stmt = _insert_orders(conn.dialect.name)
    result = await conn.execute(stmt, [_order_values(draft, via, now) for draft in drafts])
    return {session_id: order_id for order_id, session_id in result.all()}


@cache
def _insert_orders(dialect: str) -> Any:
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(orders)
    return insert.on_conflict_do_nothing(index_elements=["checkout_session_id"]).returning(
        orders.c.id, orders.c.checkout_session_id
    )


def _order_values(draft: OrderDraft, via: FulfilledVia, now: float) -> dict[str, Any]:
    return {
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


async def insert_lines_of(
    conn: AsyncConnection, new_orders: Sequence[tuple[int, Sequence[LineDraft]]]
) -> list[list[tuple[int, LineDraft]]]:
    """Insert the lines of new orders in one statement; per order, each line's id with it.

    A line item id the API listed twice for one order is inserted once (the first), as the
    UNIQUE (order, line item) key would have it.
    """
    per_order: list[list[LineDraft]] = []
    rows: list[dict[str, Any]] = []
    for order_id, lines in new_orders:
        first: dict[str, LineDraft] = {}
        for line in lines:
            first.setdefault(line.line_item_id, line)
        per_order.append(list(first.values()))
        rows += [
            {"order_id": order_id, "backordered": False, **ln.__dict__} for ln in first.values()
        ]
    if not rows:
        return [[] for _ in new_orders]
    stmt = order_lines.insert().returning(order_lines.c.id, sort_by_parameter_order=True)
    ids = iter(list((await conn.execute(stmt, rows)).scalars()))
    return [[(next(ids), line) for line in lines] for lines in per_order]


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
    await record_payments(conn, [(payment, order_id, session_id)], now=now)


async def record_payments(
    conn: AsyncConnection,
    items: Sequence[tuple[PaymentDraft, int | None, str | None]],
    *,
    now: float,
) -> None:
    """:func:`record_payment` for several (payment, order id, session id) in one statement.

    The intent ids must be distinct (one upsert statement cannot touch a row twice).
    """
    if not items:
        return
    rows = [
        {
            **payment.__dict__,
            "checkout_session_id": session_id,
            "order_id": order_id,
            "created_at": now,
            "updated_at": now,
        }
        for payment, order_id, session_id in items
    ]
    await conn.execute(_upsert_payments(conn.dialect.name), rows)


@cache
def _upsert_payments(dialect: str) -> Any:
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(payments)
    new = insert.excluded
    keep = func.coalesce
    changes = {
        "amount": new.amount,
        "amount_received": new.amount_received,
        "status": new.status,
        "payment_card_type": new.payment_card_type,
        "order_id": keep(payments.c.order_id, new.order_id),
        "checkout_session_id": keep(payments.c.checkout_session_id, new.checkout_session_id),
        "updated_at": new.updated_at,
    }
    return insert.on_conflict_do_update(index_elements=["payment_intent_id"], set_=changes)


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
    """Recompute an order's paid and refunded sums and its status (:func:`refresh_amounts_of`)."""
    return (await refresh_amounts_of(conn, [order_id], now))[order_id]


async def refresh_amounts_of(
    conn: AsyncConnection, order_ids: Sequence[int], now: float
) -> dict[int, OrderStatus]:
    """Recompute paid (sum of payments), refunded (sum of counted refunds) and the status.

    One UPDATE with correlated subqueries for all the orders, so concurrent payment and refund
    events each see the other's committed rows and the last writer leaves the sums right; then
    one UPDATE per status that changed.
    """
    if not order_ids:
        return {}
    rows = (await conn.execute(_REFRESH, {"ids": list(order_ids), "now": now})).all()
    statuses: dict[int, OrderStatus] = {}
    changed: dict[OrderStatus, list[int]] = {}
    for order_id, total, amount_refunded, current in rows:
        status = refund_rules.order_status(int(total), int(amount_refunded))
        statuses[order_id] = status
        if status != current:
            changed.setdefault(status, []).append(order_id)
    for status, ids in changed.items():
        await conn.execute(update(orders).where(orders.c.id.in_(ids)).values(status=status))
    return statuses


_PAID = (
    select(func.coalesce(func.sum(payments.c.amount_received), 0))
    .where(payments.c.order_id == orders.c.id)
    .scalar_subquery()
)
_INTENTS = (
    select(payments.c.payment_intent_id).where(payments.c.order_id == orders.c.id).correlate(orders)
)
_REFUNDED = (
    select(func.coalesce(func.sum(refunds.c.amount), 0))
    .where(refunds.c.payment_intent_id.in_(_INTENTS), refunds.c.status.in_(refund_rules.COUNTED))
    .correlate(orders)
    .scalar_subquery()
)
# Built once, run with parameters (no per-call statement building on the hot path).
_REFRESH = (
    update(orders)
    .where(orders.c.id.in_(bindparam("ids", expanding=True)))
    .values(amount_paid=_PAID, amount_refunded=_REFUNDED, updated_at=bindparam("now"))
    .returning(orders.c.id, orders.c.amount_total, orders.c.amount_refunded, orders.c.status)
)


async def insert_receipts(
    conn: AsyncConnection, receipts: Sequence[tuple[Receipt, str]], *, now: float
) -> None:
    """Receipts' outbox rows (pending), one per order by UNIQUE (kind, key); one statement."""
    if not receipts:
        return
    rows = [
        {
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
        for receipt, message_id in receipts
    ]
    await conn.execute(_insert_receipts(conn.dialect.name), rows)


@cache
def _insert_receipts(dialect: str) -> Any:
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(outbox)
    return insert.on_conflict_do_nothing(index_elements=["kind", "key"])


async def order_lines_of(conn: AsyncConnection, order_id: int) -> list[Any]:
    """The lines of an order (id, product_id, quantity), for restocking."""
    stmt = select(order_lines.c.id, order_lines.c.product_id, order_lines.c.quantity).where(
        order_lines.c.order_id == order_id
    )
    return list((await conn.execute(stmt)).all())
