"""A batch settles in one transaction; a failing row is undone alone; expanded reads save calls."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fulfillment_counts import count
from fulfillment_fakes import FakeFlex, event_body, store_event
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from flexfulfill.flex import CheckoutSession, Customer
from flexfulfill.fulfillment.checkout import fulfill_checkout
from flexfulfill.fulfillment.context import Services
from flexfulfill.fulfillment.registry import FulfilledOrder
from flexfulfill.fulfillment.worker import Worker
from flexfulfill.store.statuses import EventStatus
from flexfulfill.store.tables import webhook_events


def completed(session_id: str) -> bytes:
    body = {"checkout_session_id": session_id}
    return event_body("checkout.session.completed", "checkout_session", body)


async def test_a_failing_row_in_a_batch_is_undone_alone_while_the_others_commit(
    services: Services, flex: FakeFlex, make_worker: Callable[..., Worker]
) -> None:
    """Three rows in one batch, a hook fails for the middle one: two orders, one retry."""
    sessions = [flex.add_checkout([("fprod_a", 1, 500)]) for _ in range(3)]
    for session in sessions:
        await store_event(services.engine, completed(session))

    @services.registry.after_fulfilled
    async def refuse(_conn: AsyncConnection, order: FulfilledOrder) -> None:
        if order.draft.checkout_session_id == sessions[1]:
            raise RuntimeError("the warehouse hook failed")

    assert await make_worker().run_once() == 3
    assert await count(services.engine, "orders") == 2
    assert await count(services.engine, "stock_movements") == 2
    assert await count(services.engine, "outbox") == 2
    async with services.engine.connect() as conn:
        statuses = (await conn.execute(select(webhook_events.c.status))).scalars().all()
    assert sorted(statuses) == [EventStatus.DONE, EventStatus.DONE, EventStatus.PENDING]


async def test_running_workers_keep_two_batches_in_flight_and_fulfill_every_event(
    services: Services, flex: FakeFlex, make_worker: Callable[..., Worker]
) -> None:
    """``run`` with batches of 2 and 7 events: every event done, one order each."""
    sessions = [flex.add_checkout([("fprod_a", 1, 500)]) for _ in range(7)]
    for session in sessions:
        await store_event(services.engine, completed(session))
    stop = asyncio.Event()
    task = asyncio.create_task(make_worker(concurrency=2).run(stop))
    async with asyncio.timeout(60):
        while await count(services.engine, "webhook_events", status="done") < 7:
            await asyncio.sleep(0.02)
    stop.set()
    await task
    assert await count(services.engine, "orders") == 7


class ExpandingFlex(FakeFlex):
    """Answers ``expand_payment_intent`` / ``expand_customer`` as Flex documents them."""

    async def get_checkout_session(self, session_id: str, /, **flags: Any) -> CheckoutSession:
        session = await super().get_checkout_session(session_id)
        update: dict[str, Any] = {}
        if flags.get("expand_payment_intent"):
            update["payment_intents"] = [self.intents[p] for p in session.payment_intent_ids]
        if flags.get("expand_customer") and session.customer_id in self.customers:
            update["customer"] = self.customers[session.customer_id]
        return session.model_copy(update=update)


async def test_an_expanded_session_needs_only_two_calls_for_an_order(engine: Any) -> None:
    """Session (intents and customer expanded) and line items: nothing fetched on its own."""
    from flexfulfill.clock import ManualClock
    from flexfulfill.fulfillment.handlers import default_registry

    flex = ExpandingFlex()
    services = Services(engine, flex, ManualClock().as_clock(), default_registry())
    session = flex.add_checkout([("fprod_a", 1, 500), ("fprod_b", 2, 100)], split=True)
    flex.customers["fcus_9"] = Customer(customer_id="fcus_9", email="grace@example.com")
    flex.sessions[session] = flex.sessions[session].model_copy(
        update={"defaults": None, "customer": "fcus_9"}
    )
    result = await fulfill_checkout(services, session)
    assert result.fulfilled
    assert flex.calls == 2
    assert await count(engine, "payments") == 2
    assert await count(engine, "customers", customer_id="fcus_9") == 1
