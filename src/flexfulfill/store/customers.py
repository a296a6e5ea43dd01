"""Customers and subscriptions, kept as the Flex API last reported them."""

from __future__ import annotations

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from flexfulfill.domain.subscriptions import SubscriptionState
from flexfulfill.flex import Customer
from flexfulfill.store.conflicts import excluded, insert_or_ignore, upsert
from flexfulfill.store.tables import customers, subscriptions


async def upsert_customer(conn: AsyncConnection, customer: Customer, now: float) -> None:
    """Insert or refresh a customer from the API's copy."""
    values = {
        "customer_id": customer.customer_id,
        "email": customer.email,
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "phone": customer.phone,
        "test_mode": customer.test_mode,
        "created_at": now,
        "updated_at": now,
    }
    fields = ("email", "first_name", "last_name", "phone", "test_mode")
    changes = {name: excluded(conn, customers, name) for name in fields}
    await upsert(conn, customers, values, ["customer_id"], {**changes, "updated_at": now})


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
