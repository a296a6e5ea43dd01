"""The dashboard's read queries: lists of orders, customers, subscriptions, stock, inbox, outbox.

Every function takes an open connection and returns plain mappings the templates render. The
order page (with its webhook timeline) lives in :mod:`flexfulfill.web.dashboard.order_view`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from flexfulfill.store.statuses import EventStatus, OutboxStatus
from flexfulfill.store.tables import (
    audit_log,
    customers,
    event_attempts,
    order_lines,
    orders,
    outbox,
    reconcile_runs,
    reconcile_state,
    stock,
    subscriptions,
    webhook_events,
)

Row = dict[str, Any]
PAGE = 100


async def _rows(conn: AsyncConnection, stmt: Any) -> list[Row]:
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


def _order_filter(q: str, status: str) -> list[Any]:
    conditions: list[Any] = []
    if q:
        like = f"%{q.strip().lower()}%"
        conditions.append(
            or_(
                func.lower(orders.c.email).like(like),
                func.lower(customers.c.email).like(like),
                func.lower(orders.c.checkout_session_id).like(like),
                func.lower(orders.c.client_reference_id).like(like),
                func.lower(orders.c.customer_name).like(like),
            )
        )
    if status:
        conditions.append(orders.c.status == status)
    return conditions


# An order whose session did not carry the email still shows (and finds) its customer's.
_WITH_CUSTOMER = orders.outerjoin(customers, customers.c.customer_id == orders.c.customer_id)


async def list_orders(conn: AsyncConnection, *, q: str = "", status: str = "") -> list[Row]:
    """The newest orders matching ``q`` (email, session id, client reference, name)."""
    email = func.coalesce(orders.c.email, customers.c.email).label("email")
    columns = [c for c in orders.c if c.name != "email"]
    stmt = (
        select(*columns, email)
        .select_from(_WITH_CUSTOMER)
        .where(*_order_filter(q, status))
        .order_by(orders.c.id.desc())
        .limit(PAGE)
    )
    return await _rows(conn, stmt)


async def order_totals(conn: AsyncConnection, *, q: str = "", status: str = "") -> Row:
    """Count, total paid and total refunded over every order the filter matches."""
    stmt = (
        select(
            func.count().label("count"),
            func.coalesce(func.sum(orders.c.amount_total), 0).label("amount_total"),
            func.coalesce(func.sum(orders.c.amount_refunded), 0).label("amount_refunded"),
        )
        .select_from(_WITH_CUSTOMER)
        .where(*_order_filter(q, status))
    )
    return dict((await conn.execute(stmt)).mappings().one())


async def list_customers(conn: AsyncConnection, *, q: str = "") -> list[Row]:
    """Customers with their number of orders and total spent."""
    spent = (
        select(
            orders.c.customer_id,
            func.count().label("order_count"),
            func.sum(orders.c.amount_total).label("spent"),
        )
        .group_by(orders.c.customer_id)
        .subquery()
    )
    stmt = select(customers, spent.c.order_count, spent.c.spent).outerjoin(
        spent, spent.c.customer_id == customers.c.customer_id
    )
    if q:
        like = f"%{q.strip().lower()}%"
        stmt = stmt.where(
            or_(func.lower(customers.c.email).like(like), customers.c.customer_id.like(like))
        )
    return await _rows(conn, stmt.order_by(customers.c.id.desc()).limit(PAGE))


async def list_subscriptions(conn: AsyncConnection, *, status: str = "") -> list[Row]:
    stmt = select(subscriptions, customers.c.email).outerjoin(
        customers, customers.c.customer_id == subscriptions.c.customer_id
    )
    if status:
        stmt = stmt.where(subscriptions.c.status == status)
    return await _rows(conn, stmt.order_by(subscriptions.c.id.desc()).limit(PAGE))


async def list_stock(conn: AsyncConnection) -> list[Row]:
    """Stock per product with ``low`` and ``backorder`` marks (backordered lines counted)."""
    backordered = (
        select(order_lines.c.product_id, func.count().label("backordered"))
        .where(order_lines.c.backordered.is_(True))
        .group_by(order_lines.c.product_id)
        .subquery()
    )
    stmt = (
        select(stock, func.coalesce(backordered.c.backordered, 0).label("backordered"))
        .outerjoin(backordered, backordered.c.product_id == stock.c.product_id)
        .order_by(stock.c.product_id)
    )
    rows = await _rows(conn, stmt)
    return [_stock_marks(row) for row in rows]


def _stock_marks(row: Row) -> Row:
    on_hand = int(row["on_hand"])
    return {
        **row,
        "low": 0 <= on_hand <= int(row["low_stock_threshold"]),
        "backorder": on_hand < 0 or int(row["backordered"]) > 0,
    }


async def list_events(conn: AsyncConnection, *, status: str = "", type_: str = "") -> list[Row]:
    """Inbox rows (without their bodies), newest first."""
    cols = [c for c in webhook_events.c if c.name not in ("body", "headers")]
    stmt = select(*cols)
    if status:
        stmt = stmt.where(webhook_events.c.status == status)
    if type_:
        stmt = stmt.where(webhook_events.c.event_type == type_)
    return await _rows(conn, stmt.order_by(webhook_events.c.id.desc()).limit(PAGE))


async def event_types(conn: AsyncConnection) -> list[str]:
    stmt = select(webhook_events.c.event_type).distinct().order_by(webhook_events.c.event_type)
    return [t for t in (await conn.execute(stmt)).scalars() if t]


async def event_detail(conn: AsyncConnection, row_id: int) -> Row | None:
    """One inbox row with its body decoded for display and its processing attempts."""
    row = (await conn.execute(select(webhook_events).where(webhook_events.c.id == row_id))).first()
    if row is None:
        return None
    attempts = await attempts_for(conn, [row_id])
    event = dict(row._mapping)
    event["body_text"] = bytes(event["body"]).decode("utf-8", errors="replace")
    return {**event, "attempts": attempts.get(row_id, [])}


async def attempts_for(conn: AsyncConnection, row_ids: Sequence[int]) -> dict[int, list[Row]]:
    """Processing attempts per inbox row, oldest first."""
    if not row_ids:
        return {}
    stmt = (
        select(event_attempts)
        .where(event_attempts.c.event_row_id.in_(list(row_ids)))
        .order_by(event_attempts.c.event_row_id, event_attempts.c.id)
    )
    grouped: dict[int, list[Row]] = {}
    for row in await _rows(conn, stmt):
        grouped.setdefault(int(row["event_row_id"]), []).append(row)
    return grouped


async def list_outbox(conn: AsyncConnection, *, status: str = "") -> list[Row]:
    cols = [c for c in outbox.c if c.name != "payload"]
    stmt = select(*cols)
    if status:
        stmt = stmt.where(outbox.c.status == status)
    return await _rows(conn, stmt.order_by(outbox.c.id.desc()).limit(PAGE))


async def list_reconcile_runs(conn: AsyncConnection) -> list[Row]:
    stmt = select(reconcile_runs).order_by(reconcile_runs.c.id.desc()).limit(PAGE)
    return await _rows(conn, stmt)


async def reconcile_cursors(conn: AsyncConnection) -> list[Row]:
    return await _rows(conn, select(reconcile_state).order_by(reconcile_state.c.name))


async def list_audit(conn: AsyncConnection) -> list[Row]:
    return await _rows(conn, select(audit_log).order_by(audit_log.c.id.desc()).limit(PAGE))


async def attention_counts(conn: AsyncConnection) -> Row:
    """What the navigation flags: dead events and failed receipts."""
    dead = select(func.count()).where(webhook_events.c.status == EventStatus.DEAD.value)
    failed = select(func.count()).where(and_(outbox.c.status == OutboxStatus.FAILED.value))
    return {
        "dead": (await conn.execute(dead)).scalar_one(),
        "failed": (await conn.execute(failed)).scalar_one(),
    }
