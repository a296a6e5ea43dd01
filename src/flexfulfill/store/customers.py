"""Customers and subscriptions, kept as the Flex API last reported them."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from flexfulfill.domain.subscriptions import SubscriptionState
from flexfulfill.flex import Customer
from flexfulfill.store.conflicts import insert_or_ignore
from flexfulfill.store.tables import customers, subscriptions


async def upsert_customer(conn: AsyncConnection, customer: Customer, now: float) -> None:
    """Insert or refresh a customer from the API's copy."""
    await upsert_customers(conn, [customer], now)


async def upsert_customers(conn: AsyncConnection, fetched: Sequence[Customer], now: float) -> None:
    """:func:`upsert_customer` for several customers in one statement (the last copy of a
    customer listed twice wins, as one upsert after another would leave it)."""
    latest = {customer.customer_id: customer for customer in fetched}
    if not latest:
        return
    rows = [
        {
            "customer_id": customer.customer_id,
            "email": customer.email,
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "phone": customer.phone,
            "test_mode": customer.test_mode,
            "created_at": now,
            "updated_at": now,
        }
        for customer in latest.values()
    ]
    await conn.execute(_upsert_customers(conn.dialect.name), rows)


@cache
def _upsert_customers(dialect: str) -> Any:
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(customers)
    fields = ("email", "first_name", "last_name", "phone", "test_mode", "updated_at")
    changes = {name: getattr(insert.excluded, name) for name in fields}
    return insert.on_conflict_do_update(index_elements=["customer_id"], set_=changes)


async def save_subscription(
    conn: AsyncConnection,
    state: SubscriptionState,
    *,
    fetched_at: float,
    now: float,
    order_id: int | None = None,
) -> bool:
    """Store a fetched state unless a later fetch is already stored; True if it was stored.

    The guard is in the UPDATE's WHERE clause, so two workers committing fetches in the
    opposite order of their start still leave the later fetch in place.
    """
    values = {**state.__dict__, "fetched_at": fetched_at, "order_id": order_id}
    new_id = await insert_or_ignore(
        conn, subscriptions, {**values, "created_at": now, "updated_at": now}, ["subscription_id"]
    )
    if new_id is not None:
        return True
    del values["order_id"]
    result = await conn.execute(
        update(subscriptions)
        .where(subscriptions.c.subscription_id == state.subscription_id)
        .where(or_(subscriptions.c.fetched_at.is_(None), subscriptions.c.fetched_at <= fetched_at))
        .values(**values, updated_at=now)
    )
    return result.rowcount == 1


async def link_subscription(conn: AsyncConnection, subscription_id: str, order_id: int) -> None:
    """Point a subscription at the order that started it."""
    await conn.execute(
        update(subscriptions)
        .where(subscriptions.c.subscription_id == subscription_id)
        .where(subscriptions.c.order_id.is_(None))
        .values(order_id=order_id)
    )


async def subscription_status(conn: AsyncConnection, subscription_id: str) -> str | None:
    stmt = select(subscriptions.c.status).where(subscriptions.c.subscription_id == subscription_id)
    return (await conn.execute(stmt)).scalar_one_or_none()
