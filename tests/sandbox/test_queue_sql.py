"""The delivery queue's claim leaves in-flight messages out, and one-round-trip writes count."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from flexfulfill.clock import ManualClock
from flexfulfill.sandbox import messages as q
from flexfulfill.sandbox import run_sandbox
from flexfulfill.sandbox import tables as t
from flexfulfill.sandbox.faults import Faults


@pytest.mark.parametrize("few", [64, 0], ids=["filtered-in-python", "filtered-in-sql"])
async def test_claims_skip_messages_in_flight_and_say_when_the_next_is_due(
    few: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(q, "FEW_IN_FLIGHT", few)
    clock = ManualClock()
    # extra_delay: nothing is due before the test claims it, so delivery does not take them.
    async with run_sandbox(clock=clock, faults=Faults(extra_delay=100)) as sandbox:
        await sandbox.create_webhook("http://127.0.0.1:9/webhook")
        async with sandbox.state.transaction() as tx:
            for i in range(5):
                await tx.emit("customer.created", "customer", {"customer_id": f"fcus_{i}"})
        engine = sandbox.state.store.engine
        async with engine.connect() as conn:
            rows = await conn.execute(select(t.messages.c.message_id).order_by(t.messages.c.seq))
            ids = [mid for (mid,) in rows]
            now = clock.now() + 100
            assert await q.claim_due(conn, now - 1, (), 10) == []
            assert await q.next_due_at(conn, ()) == now
            claimed = await q.claim_due(conn, now, {ids[0], ids[2]}, 2)
            assert [job.message_id for job in claimed] == [ids[1], ids[3]]
            assert claimed[0].url == "http://127.0.0.1:9/webhook"
            assert claimed[0].body.startswith(b'{"event_id":')
            assert await q.claim_due(conn, now, set(ids), 10) == []
            assert await q.next_due_at(conn, set(ids)) is None
            assert await q.next_due_at(conn, set(ids[:4])) == now


@pytest.mark.parametrize("few", [64, 0], ids=["filtered-in-python", "filtered-in-sql"])
async def test_a_message_released_while_the_claim_runs_is_not_claimed(
    few: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine's in-flight set changes while a claim's query runs (an attempt recorded and
    released meanwhile); the claim must judge by the set as it was, or it sends twice."""
    monkeypatch.setattr(q, "FEW_IN_FLIGHT", few)
    clock = ManualClock()
    async with run_sandbox(clock=clock, faults=Faults(extra_delay=100)) as sandbox:
        await sandbox.create_webhook("http://127.0.0.1:9/webhook")
        async with sandbox.state.transaction() as tx:
            for i in range(3):
                await tx.emit("customer.created", "customer", {"customer_id": f"fcus_{i}"})
        async with sandbox.state.store.engine.connect() as conn:
            rows = await conn.execute(select(t.messages.c.message_id).order_by(t.messages.c.seq))
            ids = [mid for (mid,) in rows]
            in_flight = {ids[0]}
            asyncio.get_running_loop().call_soon(in_flight.discard, ids[0])  # during the query
            claimed = await q.claim_due(conn, clock.now() + 100, in_flight, 10)
    assert in_flight == set()
    assert [job.message_id for job in claimed] == ids[1:]


async def test_an_endpoints_failing_streak_ends_with_a_success(sandbox: Any) -> None:
    hook = await sandbox.create_webhook("http://127.0.0.1:9/webhook")
    webhooks = t.webhooks
    async with sandbox.state.store.engine.begin() as conn:
        query = webhooks.update().where(webhooks.c.webhook_id == hook["webhook_id"])
        await conn.execute(query.values(failing_since=5.0))
    job = q.Job("msg_x", "fevt_x", hook["webhook_id"], 0, 0, "http://x", ("k",), b"{}")
    ok = q.Result(job, 10.0, t.AttemptOutcome.SUCCEEDED, 200, 1.0, "")
    async with sandbox.state.store.engine.begin() as conn:
        await q.record_results(conn, [ok], sandbox.state.policy, sandbox.state.faults.rng)
        since = select(webhooks.c.failing_since).where(webhooks.c.webhook_id == hook["webhook_id"])
        assert (await conn.execute(since)).scalar_one() is None
