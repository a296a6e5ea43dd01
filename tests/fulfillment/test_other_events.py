"""Subscriptions, refunds, customers and merchant extensions, with a fake Flex port."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from fulfillment_counts import count
from fulfillment_fakes import FakeFlex, event_body, store_event
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from flexfulfill.flex import Customer, Event, Refund, Subscription
from flexfulfill.fulfillment.checkout import fulfill_checkout
from flexfulfill.fulfillment.context import Services
from flexfulfill.fulfillment.registry import Apply, FulfilledOrder
from flexfulfill.fulfillment.worker import Worker
from flexfulfill.store import stock as stock_store
from flexfulfill.store.tables import audit_log, customers, orders, subscriptions

SUB_EVENTS = [
    "customer.subscription.created",
    "customer.subscription.updated",
    "invoice.payment_succeeded",
    "customer.subscription.deleted",
]


def sub_event(event_type: str, sub_id: str) -> bytes:
    if event_type.startswith("invoice."):
        return event_body(event_type, "invoice", {"invoice_id": "finv_1", "subscription": sub_id})
    return event_body(event_type, "subscription", {"subscription_id": sub_id, "status": "stale"})


@pytest.mark.parametrize("order", list(itertools.permutations(range(4)))[::5])
async def test_subscription_events_in_any_order_converge_to_the_api_state(
    services: Services,
    flex: FakeFlex,
    make_worker: Callable[..., Worker],
    order: tuple[int, ...],
) -> None:
    """Whatever order the events arrive in, the row ends as the API reports the subscription."""
    flex.subscriptions["fsub_1"] = Subscription(
        subscription_id="fsub_1",
        status="canceled",
        customer="fcus_1",
        current_period_start="2026-01-01T00:00:00Z",
        current_period_end="2026-02-01T00:00:00Z",
        cancel_at_period_end=True,
    )
    for i in order:
        await store_event(services.engine, sub_event(SUB_EVENTS[i], "fsub_1"))
    await make_worker(concurrency=1).drain()
    async with services.engine.connect() as conn:
        row = (await conn.execute(select(subscriptions))).one()
    assert (row.status, row.cancel_at_period_end) == ("canceled", True)
    assert row.current_period_end == 1769904000.0


async def test_an_older_fetch_never_overwrites_a_newer_one(
    services: Services, flex: FakeFlex, make_worker: Callable[..., Worker], clock: object
) -> None:
    """Two handlers fetch at t1 < t2 and commit in reverse order: the t2 state stays."""
    from flexfulfill.fulfillment.handlers import on_subscription

    event = Event.model_validate_json(sub_event("customer.subscription.updated", "fsub_2"))
    flex.subscriptions["fsub_2"] = Subscription(subscription_id="fsub_2", status="active")
    old = await on_subscription(services, event)
    clock.advance(1)  # type: ignore[attr-defined]
    flex.subscriptions["fsub_2"] = Subscription(subscription_id="fsub_2", status="past_due")
    new = await on_subscription(services, event)
    for apply in (new, old):
        async with services.engine.begin() as conn:
            await apply(conn)
    async with services.engine.connect() as conn:
        status = (await conn.execute(select(subscriptions.c.status))).scalar_one()
    assert status == "past_due"


async def test_refunds_set_partly_refunded_then_refunded_and_restock_when_enabled(
    services: Services, flex: FakeFlex, make_worker: Callable[..., Worker]
) -> None:
    """A partial refund, then the rest (twice delivered): refunded, stock restocked once."""
    from dataclasses import replace

    services = replace(services, restock_on_refund=True)
    worker = Worker(services, make_worker().config)
    session = flex.add_checkout([("fprod_r", 2, 500)])
    await fulfill_checkout(services, session)
    pi = flex.sessions[session].payment_intent_ids[0]
    flex.refunds["fref_1"] = Refund(
        refund_id="fref_1", payment_intent_id=pi, amount=300, status="succeeded"
    )
    await store_event(
        services.engine, event_body("refund.created", "refund", {"refund_id": "fref_1"})
    )
    await worker.drain()
    async with services.engine.connect() as conn:
        assert (await conn.execute(select(orders.c.status))).scalar_one() == "partially_refunded"
    flex.refunds["fref_2"] = Refund(
        refund_id="fref_2", payment_intent_id=pi, amount=700, status="succeeded"
    )
    for _ in range(2):
        await store_event(
            services.engine, event_body("refund.updated", "refund", {"refund_id": "fref_2"})
        )
    await worker.drain()
    async with services.engine.connect() as conn:
        order = (await conn.execute(select(orders))).one()
        level = await stock_store.level(conn, "fprod_r")
    assert (order.status, order.amount_refunded) == ("refunded", 1000)
    assert level is not None
    assert level.on_hand == 0
    assert await count(services.engine, "stock_movements", reason="restock") == 1


async def test_refunds_do_not_restock_by_default(
    services: Services, flex: FakeFlex, make_worker: Callable[..., Worker]
) -> None:
    """With the default setting a full refund leaves stock alone."""
    session = flex.add_checkout([("fprod_s", 1, 500)])
    await fulfill_checkout(services, session)
    pi = flex.sessions[session].payment_intent_ids[0]
    flex.refunds["fref_3"] = Refund(
        refund_id="fref_3", payment_intent_id=pi, amount=500, status="succeeded"
    )
    await store_event(
        services.engine, event_body("refund.created", "refund", {"refund_id": "fref_3"})
    )
    await make_worker().drain()
    assert await count(services.engine, "orders", status="refunded") == 1
    assert await count(services.engine, "stock_movements", reason="restock") == 0


async def test_customer_events_upsert_the_api_copy(
    services: Services, flex: FakeFlex, make_worker: Callable[..., Worker]
) -> None:
    """created then updated (body stale): one row with the API's current email."""
    flex.customers["fcus_9"] = Customer(customer_id="fcus_9", email="new@example.com")
    for kind in ("customer.created", "customer.updated", "customer.created"):
        body = event_body(kind, "customer", {"customer_id": "fcus_9", "email": "old@example.com"})
        await store_event(services.engine, body)
    await make_worker().drain()
    async with services.engine.connect() as conn:
        emails = (await conn.execute(select(customers.c.email))).scalars().all()
    assert emails == ["new@example.com"]


async def test_merchant_handlers_and_hooks_commit_with_the_order_or_not_at_all(
    services: Services, flex: FakeFlex, make_worker: Callable[..., Worker]
) -> None:
    """A hook that fails rolls the order back and the event retries; once fixed, both commit."""
    broken = {"now": True}

    @services.registry.after_fulfilled
    async def note_order(conn: AsyncConnection, order: FulfilledOrder) -> None:
        await conn.execute(
            audit_log.insert().values(
                at=0, actor="merchant", action="fulfilled", target=str(order.order_id)
            )
        )
        if broken["now"]:
            raise RuntimeError("merchant bug")

    @services.registry.on("checkout.session.completed")
    async def tag(_services: Services, event: Event) -> Apply:
        async def apply(conn: AsyncConnection) -> int | None:
            await conn.execute(audit_log.insert().values(at=0, actor="merchant", action="tagged"))
            return None

        return apply

    session = flex.add_checkout([("fprod_h", 1, 500)])
    await store_event(
        services.engine,
        event_body(
            "checkout.session.completed", "checkout_session", {"checkout_session_id": session}
        ),
    )
    worker = make_worker()
    await worker.run_once()
    assert await count(services.engine, "orders") == 0
    assert await count(services.engine, "audit_log") == 0
    broken["now"] = False
    from flexfulfill.store.tables import webhook_events

    async with services.engine.begin() as conn:
        await conn.execute(webhook_events.update().values(next_attempt_at=0))
    await worker.run_once()
    assert await count(services.engine, "orders") == 1
    assert await count(services.engine, "audit_log", action="fulfilled") == 1
    assert await count(services.engine, "audit_log", action="tagged") == 1
