"""Against the real sandbox over loopback HTTP, on SQLite and PostgreSQL: one order per checkout."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from fulfillment_counts import count
from sandbox_shop import shop
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.fulfillment.reconciler import Reconciler
from flexfulfill.store.tables import orders


async def test_duplicates_reordering_drops_redirects_and_the_reconciler_make_one_order_each(
    database_url: str, engine: AsyncEngine
) -> None:
    """Every fault at once, the success page and the reconciler racing the webhooks."""
    async with shop(database_url, engine) as s:
        await s.product("thermometer", 2500)
        await s.product("candy", 300, eligibility="not_eligible")
        s.sandbox.set_faults(duplicate_rate=0.5, reorder_window=0.05, drop_first_attempt_rate=0.3)
        worker = s.worker(concurrency=8)
        stop = asyncio.Event()
        running_worker = asyncio.create_task(worker.run(stop))
        carts = [{"thermometer": 2}, {"thermometer": 1, "candy": 2}] * 3
        sessions = []
        for cart in carts:
            session_id = await s.buy(cart)
            sessions.append(session_id)
            pages = [s.visit_success(session_id) for _ in range(2)]
            reconcile = Reconciler(s.services).run_once()
            results = await asyncio.gather(*pages, reconcile)
            assert all(r.status_code == 200 for r in results[:2])
        await s.sandbox.wait_idle()
        await asyncio.sleep(0.1)
        stop.set()
        await running_worker
        await worker.drain()
        e = s.engine
        assert await count(e, "orders") == 6
        assert await count(e, "order_lines") == 9
        assert await count(e, "stock_movements", reason="sale") == 9
        assert await count(e, "outbox", kind="receipt") == 6
        assert await count(e, "payments") == 9  # three split carts pay with two cards
        assert await count(e, "webhook_events", status="pending") == 0
        assert await count(e, "webhook_events", status="dead") == 0
        async with e.connect() as conn:
            rows = (await conn.execute(select(orders.c.amount_paid, orders.c.amount_total))).all()
        assert all(paid == total for paid, total in rows)


async def test_forged_success_visits_fulfill_nothing_and_say_so(
    database_url: str, engine: AsyncEngine
) -> None:
    """An unknown session is 404, an unpaid one 402; neither creates anything."""
    async with shop(database_url, engine) as s:
        await s.product("thermometer", 2500)
        unpaid = await s.open_session({"thermometer": 1})
        forged = await s.visit_success("fcs_01HW5KTQQAAQ66WV19MFW4DTT4")
        early = await s.visit_success(unpaid)
        empty = await s.visit_success("")
        assert (forged.status_code, forged.json()["result"]) == (404, "unknown_session")
        assert (early.status_code, early.json()["result"]) == (402, "not_paid")
        assert "nothing was ordered" in early.json()["message"]
        assert empty.status_code == 400
        assert await count(s.engine, "orders") == 0
        assert await count(s.engine, "outbox") == 0


async def test_subscription_events_in_shuffled_order_converge_to_the_api_state(
    database_url: str, engine: AsyncEngine
) -> None:
    """A subscription bought, set to cancel, then cancelled now: the row matches the API."""
    from flexfulfill.store.tables import subscriptions

    async with shop(database_url, engine) as s:
        await s.product("letter", 1500, "letter_of_medical_necessity", recurring=True)
        s.sandbox.set_faults(duplicate_rate=0.3, reorder_window=0.1)
        session_id = await s.buy({"letter": 1}, mode="subscription")
        session = await s.flex.get_checkout_session(session_id)
        sub_id = session.subscription
        assert sub_id
        await s.sandbox.request("DELETE", f"/v1/subscriptions/{sub_id}")
        await s.sandbox.request("DELETE", f"/v1/subscriptions/{sub_id}?at_period_end=false")
        await s.until_delivered(s.worker())
        api = await s.flex.get_subscription(sub_id)
        async with s.engine.connect() as conn:
            row = (await conn.execute(select(subscriptions))).one()
            order_id = (await conn.execute(select(orders.c.id))).scalar_one()
        assert (row.status, row.cancel_at_period_end) == (api.status, api.cancel_at_period_end)
        assert api.status == "canceled"
        assert row.order_id == order_id


async def test_a_flex_outage_of_5xx_and_429_delays_events_without_losing_or_doubling_any(
    database_url: str, engine: AsyncEngine
) -> None:
    """Flex fails the next 12 API calls: events go back with backoff, then all succeed once."""
    from flexfulfill.flex import RetryPolicy

    async with shop(database_url, engine, client_retry=RetryPolicy.never()) as s:
        await s.product("thermometer", 2500)
        await s.product("candy", 300, eligibility="not_eligible")
        sessions = [await s.buy({"thermometer": 1, "candy": 1}) for _ in range(3)]
        await s.sandbox.wait_idle()
        s.sandbox.set_faults(api_5xx={"next_n": 8}, api_429={"next_n": 4, "retry_after": 0})
        worker = s.worker()
        assert await worker.run_once() > 0
        assert await count(s.engine, "webhook_events", status="pending") > 0
        assert await count(s.engine, "event_attempts", outcome="retry") > 0
        for _ in range(50):
            await asyncio.sleep(0.06)
            await worker.drain()
            if await count(s.engine, "webhook_events", status="pending") == 0:
                break
        assert await count(s.engine, "orders") == len(sessions)
        assert await count(s.engine, "payments") == 6
        assert await count(s.engine, "stock_movements") == 6
        assert await count(s.engine, "webhook_events", status="dead") == 0


async def test_a_worker_killed_between_claim_and_commit_is_replaced_without_double_effects(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    """kill -9 inside the order's transaction: nothing commits; after the lease, one order."""
    async with shop(database_url, engine) as s:
        await s.product("thermometer", 2500)
        await s.product("candy", 300, eligibility="not_eligible")
        await s.buy({"thermometer": 1, "candy": 3})
        await s.sandbox.wait_idle()
        marker = tmp_path / "inside"
        script = Path(__file__).with_name("killable_worker.py")
        args = [database_url, s.sandbox.base_url, s.sandbox.api_key, str(marker)]
        proc = await asyncio.create_subprocess_exec(sys.executable, str(script), *args)
        try:
            async with asyncio.timeout(30):
                while not marker.exists():
                    await asyncio.sleep(0.02)
        finally:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
        assert await count(s.engine, "orders") == 0
        assert await count(s.engine, "webhook_events", status="processing") >= 1
        await asyncio.sleep(1.1)  # the killed worker's lease (1 s) runs out
        await s.worker().drain()
        assert await count(s.engine, "orders") == 1
        assert await count(s.engine, "stock_movements") == 2
        assert await count(s.engine, "outbox") == 1
        assert await count(s.engine, "event_attempts", outcome="lease_expired") >= 1
        assert await count(s.engine, "webhook_events", status="done") == await count(
            s.engine, "webhook_events"
        ) - await count(s.engine, "webhook_events", status="ignored")
