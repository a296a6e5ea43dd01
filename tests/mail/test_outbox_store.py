"""Outbox rows: claims with a lease, fenced outcomes, and resends on purpose (both engines)."""

from __future__ import annotations

import asyncio
import json

import pytest
from mail_harness import T0, outbox_rows, plain_receipt, seed, split_receipt
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.store import outbox
from flexfulfill.store.outbox import NoReceiptError
from flexfulfill.store.statuses import OutboxStatus
from flexfulfill.store.tables import audit_log

NOW = T0 + 7200


async def _claim(engine: AsyncEngine, worker: str, now: float = NOW, limit: int = 10) -> list[int]:
    rows = await outbox.claim_due(engine, worker=worker, now=now, lease_seconds=60, limit=limit)
    return [r.id for r in rows]


async def test_a_leased_row_is_not_claimed_again_until_its_lease_runs_out(
    engine: AsyncEngine,
) -> None:
    """A second sender finds nothing while the lease holds, and the row after it expires."""
    await seed(engine, plain_receipt())
    assert await _claim(engine, "a") == [1]
    assert await _claim(engine, "b", NOW + 59) == []
    assert await _claim(engine, "b", NOW + 61) == [1]
    [row] = await outbox_rows(engine)
    assert (row.status, row.locked_by, row.attempts) == (OutboxStatus.SENDING, "b", 2)


async def test_a_sender_that_lost_its_lease_cannot_undo_its_successors_claim(
    engine: AsyncEngine,
) -> None:
    """Retry and failure marks are fenced by locked_by; a late sent mark still counts."""
    await seed(engine, plain_receipt())
    await _claim(engine, "a")
    await _claim(engine, "b", NOW + 61)
    assert not await outbox.mark_retry(engine, 1, worker="a", error="x", next_attempt_at=NOW)
    assert not await outbox.mark_failed(engine, 1, worker="a", error="x")
    await outbox.mark_sent(engine, [1], now=NOW + 62)
    [row] = await outbox_rows(engine)
    assert (row.status, row.sent_at) == (OutboxStatus.SENT, NOW + 62)


async def test_concurrent_claims_get_disjoint_rows(engine: AsyncEngine) -> None:
    """Two senders claiming at once never get the same row (SKIP LOCKED / one SQLite writer)."""
    await seed(engine, *(plain_receipt(i) for i in range(1, 41)))
    batches = await asyncio.gather(*(_claim(engine, f"w{i}", limit=7) for i in range(6)))
    claimed = [row_id for batch in batches for row_id in batch]
    assert len(claimed) == len(set(claimed)) == 40


async def test_rows_not_yet_due_and_finished_rows_are_not_claimed(engine: AsyncEngine) -> None:
    """Only pending rows whose time has come (or expired leases) are due."""
    await seed(engine, plain_receipt(1), split_receipt(2), plain_receipt(3))
    await _claim(engine, "a", limit=3)
    await outbox.mark_retry(engine, 1, worker="a", error="451", next_attempt_at=NOW + 100)
    await outbox.mark_failed(engine, 2, worker="a", error="550")
    await outbox.mark_sent(engine, [3], now=NOW)
    assert await _claim(engine, "b", NOW + 99) == []
    assert await _claim(engine, "b", NOW + 100) == [1]


async def test_a_resend_is_a_new_row_with_its_own_message_id_and_an_audit_entry(
    engine: AsyncEngine,
) -> None:
    """receipt:{session}:resend:{n}, Message-ID with .resend{n}, same snapshot, audited."""
    await seed(engine, split_receipt(2))
    first = await outbox.enqueue_resend(engine, 2, actor="ops@cli", now=NOW)
    second = await outbox.enqueue_resend(engine, 2, actor="ops@cli", now=NOW + 1)
    original = (await outbox_rows(engine))[0]
    assert (first.key, second.key) == (
        "receipt:fcs_split_2:resend:1",
        "receipt:fcs_split_2:resend:2",
    )
    assert first.message_id == "<receipt.2.fcs_split_2.resend1@shop.example>"
    assert second.message_id == "<receipt.2.fcs_split_2.resend2@shop.example>"
    assert first.payload == original.payload
    assert first.recipient == original.recipient
    assert (first.status, first.next_attempt_at) == (OutboxStatus.PENDING, NOW)
    async with engine.connect() as conn:
        audits = (await conn.execute(select(audit_log).order_by(audit_log.c.id))).all()
    assert [(a.actor, a.action, a.target) for a in audits] == [
        ("ops@cli", "receipt.resend", "order:2")
    ] * 2
    assert json.loads(audits[0].detail)["message_id"] == first.message_id


async def test_resending_an_order_without_a_receipt_says_so(engine: AsyncEngine) -> None:
    """No snapshot, no resend: the error names the order."""
    with pytest.raises(NoReceiptError, match="order 99 has no receipt"):
        await outbox.enqueue_resend(engine, 99, actor="ops", now=NOW)


async def test_an_order_is_found_by_id_number_or_checkout_session(engine: AsyncEngine) -> None:
    """The CLI's ORDER argument accepts what an operator has at hand."""
    await seed(engine, split_receipt(2))
    for ref in ("2", "FF-000002", "ff-2", " fcs_split_2 "):
        assert await outbox.resolve_order(engine, ref) == 2, ref
    for ref in ("nope", "FF-000003", "3"):
        assert await outbox.resolve_order(engine, ref) is None, ref
