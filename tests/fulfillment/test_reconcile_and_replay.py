"""The reconciler, replaying events, and the fulfillment pieces `serve` adds."""

from __future__ import annotations

from collections.abc import Callable

from fulfillment_counts import count
from fulfillment_fakes import FakeFlex, event_body, store_event
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.bootstrap import build_fulfillment_parts
from flexfulfill.config import Settings
from flexfulfill.fulfillment.context import Services
from flexfulfill.fulfillment.reconciler import Reconciler, ReconcilerConfig
from flexfulfill.fulfillment.worker import Worker
from flexfulfill.store import event_log
from flexfulfill.store.tables import orders, reconcile_runs, reconcile_state


async def test_the_reconciler_fulfills_completed_sessions_no_webhook_brought(
    services: Services, flex: FakeFlex
) -> None:
    """Two paid sessions and an open one, no events: two orders, and a second run adds none."""
    now = int(services.clock.now())
    paid = [flex.add_checkout([("fprod_a", 1, 500)], created_at=now - 60) for _ in range(2)]
    flex.add_checkout([("fprod_a", 1, 500)], status="open", created_at=now - 30)
    reconciler = Reconciler(services, ReconcilerConfig(created_filter=None))
    first = await reconciler.run_once(actor="test")
    second = await reconciler.run_once(actor="test")
    assert (first.sessions_seen, first.orders_created) == (2, 2)
    assert (second.sessions_seen, second.orders_created) == (2, 0)
    async with services.engine.connect() as conn:
        via = set((await conn.execute(select(orders.c.fulfilled_via))).scalars())
        cursor = (await conn.execute(select(reconcile_state.c.cursor))).scalar_one()
    assert via == {"reconciler"}
    assert cursor == now - 60
    assert await count(services.engine, "reconcile_runs") == 2
    assert await count(services.engine, "orders") == len(paid)


async def test_the_reconciler_looks_back_by_the_overlap_and_ignores_older_sessions(
    services: Services, flex: FakeFlex, clock: object
) -> None:
    """After a first run, a session created before the cursor minus the overlap is not listed."""
    now = int(services.clock.now())
    reconciler = Reconciler(services, ReconcilerConfig(created_filter=None, overlap=100))
    flex.add_checkout([("fprod_a", 1, 500)], created_at=now - 10)
    await reconciler.run_once()
    flex.add_checkout([("fprod_a", 1, 500)], created_at=now - 50)  # inside the overlap
    flex.add_checkout([("fprod_a", 1, 500)], created_at=now - 500)  # long before
    run = await reconciler.run_once()
    assert (run.sessions_seen, run.orders_created) == (2, 1)


async def test_a_reconcile_run_that_fails_keeps_its_cursor_and_says_why(
    services: Services, flex: FakeFlex
) -> None:
    """Flex failing mid-run: the run records the error and the cursor does not move."""
    from flexfulfill.flex import ServerError

    flex.failures = [ServerError("Flex answered 503", status=503)]
    run = await Reconciler(services, ReconcilerConfig(created_filter=None)).run_once()
    assert run.error is not None
    assert "ServerError" in run.error
    async with services.engine.connect() as conn:
        error = (await conn.execute(select(reconcile_runs.c.error))).scalar_one()
    assert "503" in error


async def test_replaying_dead_events_processes_them_once_more_without_double_effects(
    services: Services, flex: FakeFlex, make_worker: Callable[..., Worker], clock: object
) -> None:
    """A dead event (the session was unknown) replays after Flex knows it: one order."""
    from flexfulfill.fulfillment.retry import EventRetryPolicy

    session = flex.add_checkout([("fprod_a", 1, 500)])
    hidden = flex.sessions.pop(session)
    body = event_body(
        "checkout.session.completed", "checkout_session", {"checkout_session_id": session}
    )
    await store_event(services.engine, body)
    await store_event(services.engine, body)
    worker = make_worker(retry=EventRetryPolicy(max_attempts=1, jitter=lambda: 1.0))
    await worker.drain()
    assert await count(services.engine, "webhook_events", status="dead") == 2
    flex.sessions[session] = hidden
    async with services.engine.begin() as conn:
        replayed = await event_log.replay(conn, now=services.clock.now(), actor="test")
    assert replayed == 2
    await worker.drain()
    assert await count(services.engine, "orders") == 1
    assert await count(services.engine, "webhook_events", status="done") == 2
    assert await count(services.engine, "audit_log", action="events.replay") == 1
    async with services.engine.connect() as conn:
        found = await event_log.detail(conn, "1")
    assert found is not None
    assert [a["outcome"] for a in found.attempts] == ["dead", "done"]


async def test_serve_gets_the_success_page_worker_and_reconciler_only_with_an_api_key(
    engine: AsyncEngine, database_url: str
) -> None:
    """With a key: page, worker, reconciler; without: nothing; SERVE_WITH_WORKER=false: the page."""
    with_key = Settings(database_url=database_url, flex_api_key="fsk_test_x")
    routers, tasks = build_fulfillment_parts(with_key, engine)
    assert (len(routers), len(tasks)) == (1, 2)
    assert build_fulfillment_parts(Settings(database_url=database_url), engine) == ([], [])
    page_only = Settings(
        database_url=database_url, flex_api_key="fsk_test_x", run_worker_in_serve=False
    )
    routers, tasks = build_fulfillment_parts(page_only, engine)
    assert (len(routers), len(tasks)) == (1, 0)
