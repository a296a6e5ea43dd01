"""fulfill_checkout and the worker on both engines, with a fake Flex port."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from fulfillment_counts import count
from fulfillment_fakes import FakeFlex, event_body, store_event
from sqlalchemy import select

from flexfulfill.fulfillment.checkout import Outcome, fulfill_checkout
from flexfulfill.fulfillment.context import Services
from flexfulfill.fulfillment.worker import Worker
from flexfulfill.store import stock as stock_store
from flexfulfill.store.statuses import EventStatus, FulfilledVia
from flexfulfill.store.tables import order_lines, orders, outbox, webhook_events


def completed(session_id: str, event_type: str = "checkout.session.completed") -> bytes:
    return event_body(event_type, "checkout_session", {"checkout_session_id": session_id})


async def test_a_paid_session_becomes_one_order_with_lines_movements_and_a_receipt(
    services: Services, flex: FakeFlex
) -> None:
    """One call creates the order, a line and movement per line, and one receipt row."""
    session = flex.add_checkout([("fprod_a", 2, 500), ("fprod_b", 1, 300)])
    result = await fulfill_checkout(services, session)
    assert result.outcome is Outcome.CREATED
    engine = services.engine
    assert await count(engine, "orders") == 1
    assert await count(engine, "order_lines") == 2
    assert await count(engine, "stock_movements", reason="sale") == 2
    assert await count(engine, "outbox", kind="receipt", status="pending") == 1
    async with engine.connect() as conn:
        row = (await conn.execute(select(outbox))).one()
    assert row.key == f"receipt:{session}"
    assert row.message_id == f"<receipt.{result.order_id}.{session}@example.com>"
    assert row.recipient.startswith("buyer")


async def test_calling_fulfill_twice_returns_the_same_order(
    services: Services, flex: FakeFlex
) -> None:
    """The second call finds the order without asking Flex again."""
    session = flex.add_checkout([("fprod_a", 1, 500)])
    first = await fulfill_checkout(services, session)
    calls = flex.calls
    second = await fulfill_checkout(services, session, FulfilledVia.SUCCESS_PAGE)
    assert second.outcome is Outcome.EXISTING
    assert second.order_id == first.order_id
    assert flex.calls == calls


async def test_concurrent_callers_make_one_order(services: Services, flex: FakeFlex) -> None:
    """Ten concurrent calls for one session: one creates, the rest return its order."""
    session = flex.add_checkout([("fprod_a", 1, 500), ("fprod_b", 3, 100)])
    results = await asyncio.gather(*(fulfill_checkout(services, session) for _ in range(10)))
    assert [r.outcome for r in results].count(Outcome.CREATED) == 1
    assert len({r.order_id for r in results}) == 1
    assert await count(services.engine, "orders") == 1
    assert await count(services.engine, "stock_movements") == 2
    assert await count(services.engine, "outbox") == 1


async def test_an_unpaid_session_fulfills_nothing(services: Services, flex: FakeFlex) -> None:
    """A session Flex reports open is not fulfilled, whatever the caller claims."""
    session = flex.add_checkout([("fprod_a", 1, 500)], status="open")
    result = await fulfill_checkout(services, session, FulfilledVia.SUCCESS_PAGE)
    assert result.outcome is Outcome.NOT_PAID
    assert result.session_status == "open"
    assert await count(services.engine, "orders") == 0


async def test_selling_past_zero_flags_a_backorder_and_keeps_the_order(
    services: Services, flex: FakeFlex
) -> None:
    """Stock 1, sold 3: the order stands, the line is backordered, stock is -2."""
    async with services.engine.begin() as conn:
        await stock_store.set_level(conn, "fprod_a", 1, now=1.0)
    session = flex.add_checkout([("fprod_a", 3, 500)])
    await fulfill_checkout(services, session)
    async with services.engine.connect() as conn:
        line = (await conn.execute(select(order_lines))).one()
        level = await stock_store.level(conn, "fprod_a")
    assert line.backordered is True
    assert level is not None
    assert level.on_hand == -2


async def test_duplicate_and_alternate_spelling_webhooks_make_one_order(
    services: Services, flex: FakeFlex, make_worker: Callable[..., Worker]
) -> None:
    """The same event stored three times under different message ids, and the guide's spelling."""
    session = flex.add_checkout([("fprod_a", 1, 500)])
    for _ in range(3):
        await store_event(services.engine, completed(session))
    await store_event(services.engine, completed(session, "checkout_session.completed"))
    assert await make_worker().drain() == 4
    assert await count(services.engine, "orders") == 1
    assert await count(services.engine, "stock_movements") == 1
    assert await count(services.engine, "outbox") == 1
    assert await count(services.engine, "webhook_events", status="done") == 4


async def test_split_cart_payments_sum_to_the_order_in_any_order(
    services: Services, flex: FakeFlex, make_worker: Callable[..., Worker]
) -> None:
    """Two payment_intent.succeeded (one twice) around the completion: paid is their sum."""
    session = flex.add_checkout([("fprod_a", 1, 700), ("fprod_b", 1, 300)], split=True)
    pis = flex.sessions[session].payment_intent_ids
    pi_event = lambda pi: event_body(  # noqa: E731
        "payment_intent.succeeded", "payment_intent", {"payment_intent_id": pi}
    )
    await store_event(services.engine, pi_event(pis[1]))
    worker = make_worker()
    await worker.drain()
    assert await count(services.engine, "orders") == 0
    await store_event(services.engine, completed(session))
    await store_event(services.engine, pi_event(pis[0]))
    await store_event(services.engine, pi_event(pis[0]))
    await worker.drain()
    async with services.engine.connect() as conn:
        order = (await conn.execute(select(orders))).one()
    assert await count(services.engine, "payments") == 2
    assert order.amount_paid == 1000 == order.amount_total


async def test_a_flex_outage_retries_with_backoff_then_succeeds(
    services: Services, flex: FakeFlex, make_worker: Callable[..., Worker], clock: object
) -> None:
    """Three 503s: the row waits (attempts recorded), then the order is made once."""
    from flexfulfill.flex import ServerError

    session = flex.add_checkout([("fprod_a", 1, 500)])
    await store_event(services.engine, completed(session))
    # Each attempt reads the session and its line items at once: two 503s per attempt.
    flex.failures = [ServerError("Flex answered 503", status=503) for _ in range(6)]
    worker = make_worker()
    for expected_wait in (2.0, 4.0, 8.0):
        assert await worker.run_once() == 1
        assert await worker.run_once() == 0  # not due yet
        async with services.engine.connect() as conn:
            row = (await conn.execute(select(webhook_events))).one()
        assert row.status == EventStatus.PENDING
        assert "ServerError" in row.last_error
        assert row.next_attempt_at == services.clock.now() + expected_wait
        clock.advance(expected_wait)  # type: ignore[attr-defined]
    assert await worker.run_once() == 1
    assert await count(services.engine, "orders") == 1
    assert await count(services.engine, "event_attempts", outcome="retry") == 3
    assert await count(services.engine, "event_attempts", outcome="done") == 1


async def test_an_event_that_keeps_failing_ends_dead(
    services: Services, flex: FakeFlex, make_worker: Callable[..., Worker], clock: object
) -> None:
    """After max_attempts failures the row is dead with the last error."""
    from flexfulfill.fulfillment.retry import EventRetryPolicy

    await store_event(services.engine, completed("fcs_unknown"))
    worker = make_worker(retry=EventRetryPolicy(max_attempts=3, jitter=lambda: 1.0))
    for _ in range(3):
        await worker.run_once()
        clock.advance(1000)  # type: ignore[attr-defined]
    async with services.engine.connect() as conn:
        row = (await conn.execute(select(webhook_events))).one()
    assert row.status == EventStatus.DEAD
    assert "NotFoundError" in row.last_error
    assert row.attempts == 3


async def test_a_live_event_under_a_test_key_is_stored_and_ignored(
    services: Services, flex: FakeFlex, make_worker: Callable[..., Worker]
) -> None:
    """Test and live never mix: the event is ignored with a warning, no order, no stock."""
    session = flex.add_checkout([("fprod_a", 1, 500)])
    body = event_body(
        "checkout.session.completed",
        "checkout_session",
        {"checkout_session_id": session},
        test_mode=False,
    )
    await store_event(services.engine, body)
    await make_worker().drain()
    async with services.engine.connect() as conn:
        row = (await conn.execute(select(webhook_events))).one()
    assert row.status == EventStatus.IGNORED
    assert "live-mode event" in row.last_error
    assert await count(services.engine, "orders") == 0


async def test_an_expired_lease_returns_the_row_and_the_late_worker_commits_nothing(
    services: Services, flex: FakeFlex, make_worker: Callable[..., Worker], clock: object
) -> None:
    """Worker A claims and stalls; after the lease B processes; A's commit is refused."""
    from flexfulfill.store import claims

    session = flex.add_checkout([("fprod_a", 1, 500)])
    await store_event(services.engine, completed(session))
    a, b = make_worker(name="a"), make_worker(name="b")
    async with services.engine.begin() as conn:
        [stalled] = await claims.claim(
            conn, now=services.clock.now(), lease=30, token="a/1", worker="a", limit=5
        )
    assert await b.run_once() == 0  # leased to A
    clock.advance(31)  # type: ignore[attr-defined]
    assert await b.run_once() == 1
    await a.process(stalled)  # A wakes up late
    assert await count(services.engine, "orders") == 1
    assert await count(services.engine, "event_attempts", outcome="lease_expired") == 1
    assert await count(services.engine, "event_attempts", outcome="done") == 1


async def test_the_receipt_goes_to_the_customer_when_the_session_only_names_them(
    services: Services, flex: FakeFlex
) -> None:
    """No contact defaults on the session: the customer is fetched, stored, and addressed."""
    from flexfulfill.flex import Customer

    session = flex.add_checkout([("fprod_a", 1, 500)])
    flex.customers["fcus_77"] = Customer(customer_id="fcus_77", email="grace@example.com")
    flex.sessions[session] = flex.sessions[session].model_copy(
        update={"defaults": None, "customer": "fcus_77"}
    )
    await fulfill_checkout(services, session)
    async with services.engine.connect() as conn:
        recipient = (await conn.execute(select(outbox.c.recipient))).scalar_one()
    assert recipient == "grace@example.com"
    assert await count(services.engine, "customers", customer_id="fcus_77") == 1
