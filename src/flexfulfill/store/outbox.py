"""The outbox: effects outside the database (receipt emails), claimed with a lease and marked.

Fulfillment inserts a row in the order's own transaction; a sender claims due rows (one commit),
does the external work with no transaction open, then records the outcome in a new
transaction. A sender that dies mid-send leaves its row ``sending`` with a lease that runs out,
after which any sender claims it again: delivery is at least once, and the row's precomputed
``message_id`` makes the second delivery the same message, not a different one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from flexfulfill.domain.receipts import (
    OUTBOX_KIND_RECEIPT,
    Receipt,
    receipt_key,
    receipt_message_id,
)
from flexfulfill.store.statuses import OutboxStatus
from flexfulfill.store.tables import audit_log, orders, outbox


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One outbox row as stored."""

    id: int
    kind: str
    key: str
    order_id: int | None
    payload: str
    status: OutboxStatus
    attempts: int
    next_attempt_at: float | None
    lease_until: float | None
    locked_by: str | None
    last_error: str | None
    message_id: str | None
    recipient: str | None
    created_at: float
    sent_at: float | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> OutboxRow:
        data = dict(row._mapping)
        data["status"] = OutboxStatus(data["status"])
        return cls(**data)


class NoReceiptError(LookupError):
    """The order is unknown or has no receipt snapshot to send again."""


def _due(now: float) -> Any:
    return or_(
        and_(
            outbox.c.status == OutboxStatus.PENDING.value,
            or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= now),
        ),
        # A sender died (or stalled) mid-send: its lease ran out, so the row is anyone's again.
        and_(outbox.c.status == OutboxStatus.SENDING.value, outbox.c.lease_until < now),
    )


async def claim_due(
    engine: AsyncEngine,
    *,
    worker: str,
    now: float,
    lease_seconds: float,
    limit: int,
    kinds: Sequence[str] = (OUTBOX_KIND_RECEIPT,),
) -> list[OutboxRow]:
    """Claim up to ``limit`` due rows for ``worker`` in one short transaction.

    Safe under concurrency: on PostgreSQL the inner SELECT takes row locks with
    ``FOR UPDATE SKIP LOCKED``, so two senders claiming at once get disjoint rows and neither
    waits; on SQLite the transaction is ``BEGIN IMMEDIATE`` (one writer at a time), so the
    select-then-update cannot interleave. The attempt is counted here, at the claim, so a
    sender that crashes mid-send still uses one up.
    """
    candidates = (
        select(outbox.c.id)
        .where(outbox.c.kind.in_(list(kinds)), _due(now))
        .order_by(outbox.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)  # rendered on PostgreSQL only
    )
    claim = (
        update(outbox)
        .where(outbox.c.id.in_(candidates.scalar_subquery()))
        .values(
            status=OutboxStatus.SENDING.value,
            lease_until=now + lease_seconds,
            locked_by=worker,
            attempts=outbox.c.attempts + 1,
        )
        .returning(*outbox.c)
    )
    async with engine.begin() as conn:
        rows = (await conn.execute(claim)).all()
    return sorted((OutboxRow.from_row(r) for r in rows), key=lambda r: r.id)


async def mark_sent(engine: AsyncEngine, row_ids: Sequence[int], *, now: float) -> None:
    """Record acceptance by the server, whoever holds the lease: a sent message is sent.

    Takes several rows so a sender can record a run of deliveries in one commit.
    """
    stmt = (
        update(outbox)
        .where(outbox.c.id.in_(list(row_ids)), outbox.c.status != OutboxStatus.SENT.value)
        .values(status=OutboxStatus.SENT.value, sent_at=now, lease_until=None, locked_by=None)
    )
    async with engine.begin() as conn:
        await conn.execute(stmt)


async def mark_retry(
    engine: AsyncEngine, row_id: int, *, worker: str, error: str, next_attempt_at: float
) -> bool:
    """Put a row back to pending until ``next_attempt_at``; False if the lease was lost."""
    return await _release(
        engine, row_id, worker, status=OutboxStatus.PENDING, error=error, due=next_attempt_at
    )


async def mark_failed(engine: AsyncEngine, row_id: int, *, worker: str, error: str) -> bool:
    """Give up on a row (permanent failure); False if the lease was lost meanwhile."""
    return await _release(engine, row_id, worker, status=OutboxStatus.FAILED, error=error, due=None)


async def _release(
    engine: AsyncEngine,
    row_id: int,
    worker: str,
    *,
    status: OutboxStatus,
    error: str,
    due: float | None,
) -> bool:
    # Fenced by the lease: a sender whose lease ran out must not undo its successor's work.
    stmt = (
        update(outbox)
        .where(
            outbox.c.id == row_id,
            outbox.c.status == OutboxStatus.SENDING.value,
            outbox.c.locked_by == worker,
        )
        .values(status=status.value, last_error=error[:2000], next_attempt_at=due)
        .values(lease_until=None, locked_by=None)
    )
    async with engine.begin() as conn:
        result = await conn.execute(stmt)
    return result.rowcount == 1


async def list_rows(
    engine: AsyncEngine,
    *,
    status: OutboxStatus | None = None,
    order_id: int | None = None,
    limit: int = 50,
) -> list[OutboxRow]:
    """The newest rows first, optionally of one status or one order."""
    query = select(outbox).order_by(outbox.c.id.desc()).limit(limit)
    if status is not None:
        query = query.where(outbox.c.status == status.value)
    if order_id is not None:
        query = query.where(outbox.c.order_id == order_id)
    async with engine.connect() as conn:
        return [OutboxRow.from_row(r) for r in (await conn.execute(query)).all()]


async def count_by_status(engine: AsyncEngine) -> dict[OutboxStatus, int]:
    """How many rows are in each status (every status present, zero when none)."""
    query = select(outbox.c.status, func.count()).group_by(outbox.c.status)
    async with engine.connect() as conn:
        found = {OutboxStatus(s): n for s, n in (await conn.execute(query)).all()}
    return {status: found.get(status, 0) for status in OutboxStatus}


async def resolve_order(engine: AsyncEngine, ref: str) -> int | None:
    """The order id for ``ref``: an id (``12``), an order number (``FF-000012``) or a session."""
    text = ref.strip()
    digits = text.upper().removeprefix("FF-")
    where = orders.c.id == int(digits) if digits.isdigit() else orders.c.checkout_session_id == text
    async with engine.connect() as conn:
        found: int | None = (await conn.execute(select(orders.c.id).where(where))).scalar()
    return found


async def enqueue_resend(
    engine: AsyncEngine,
    order_id: int,
    *,
    actor: str,
    now: float,
    recipient: str | None = None,
) -> OutboxRow:
    """Queue the order's receipt again on purpose: a new row, a new Message-ID, an audit entry.

    The n-th resend gets key ``receipt:{session}:resend:{n}`` and the Message-ID of
    :func:`receipt_message_id` with ``resend=n``, in the original message's domain.
    Two concurrent resends race on UNIQUE (kind, key): one wins, the other raises.
    """
    async with engine.begin() as conn:
        original = await _original_receipt(conn, order_id)
        session_id = Receipt.from_json(original.payload).checkout_session_id
        count = await _receipt_count(conn, order_id)
        row = _resend_values(original, session_id, count, now, recipient)
        inserted = (await conn.execute(insert(outbox).values(row).returning(*outbox.c))).one()
        await conn.execute(insert(audit_log).values(_audit(actor, order_id, row, now)))
    return OutboxRow.from_row(inserted)


async def _original_receipt(conn: AsyncConnection, order_id: int) -> OutboxRow:
    query = (
        select(outbox)
        .where(outbox.c.kind == OUTBOX_KIND_RECEIPT, outbox.c.order_id == order_id)
        .order_by(outbox.c.id)
        .limit(1)
    )
    row = (await conn.execute(query)).first()
    if row is None:
        raise NoReceiptError(f"order {order_id} has no receipt in the outbox to send again")
    return OutboxRow.from_row(row)


async def _receipt_count(conn: AsyncConnection, order_id: int) -> int:
    query = select(func.count()).where(
        outbox.c.kind == OUTBOX_KIND_RECEIPT, outbox.c.order_id == order_id
    )
    return int((await conn.execute(query)).scalar_one())


def _resend_values(
    original: OutboxRow, session_id: str, resend: int, now: float, recipient: str | None
) -> dict[str, Any]:
    domain = (original.message_id or "").rstrip(">").rpartition("@")[2] or "flexfulfill.local"
    return {
        "kind": OUTBOX_KIND_RECEIPT,
        "key": f"{receipt_key(session_id)}:resend:{resend}",
        "order_id": original.order_id,
        "payload": original.payload,
        "status": OutboxStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "message_id": receipt_message_id(original.order_id or 0, session_id, domain, resend),
        "recipient": recipient or original.recipient,
        "created_at": now,
    }


def _audit(actor: str, order_id: int, row: dict[str, Any], now: float) -> dict[str, Any]:
    detail = {"key": row["key"], "message_id": row["message_id"], "recipient": row["recipient"]}
    return {
        "at": now,
        "actor": actor,
        "action": "receipt.resend",
        "target": f"order:{order_id}",
        "detail": json.dumps(detail, sort_keys=True),
    }
