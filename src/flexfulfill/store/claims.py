"""Claiming inbox rows for the worker, and settling them: done, retry, dead, ignored.

A claimed row is ``processing`` with a lease (``lease_until``) and a claim token
(``locked_by``). The worker settles it in the same transaction as the handler's effects,
and only while its token still holds the row: a worker whose lease ran out and whose row was
claimed again by another worker commits nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from flexfulfill.store.statuses import AttemptOutcome, EventStatus
from flexfulfill.store.tables import QUEUED_STATUSES, event_attempts, webhook_events

E = webhook_events


@dataclass(frozen=True)
class ClaimedEvent:
    row_id: int
    message_id: str
    event_type: str | None
    test_mode: bool | None
    body: bytes
    attempts: int
    token: str
    attempt_id: int


def _due(now: float) -> Any:
    # The first term is implied by the rest; it is there so that PostgreSQL and SQLite both
    # see the partial index ix_webhook_events_queue applies (see store/tables.py).
    return and_(
        E.c.status.in_(QUEUED_STATUSES),
        or_(
            and_(
                E.c.status == EventStatus.PENDING,
                or_(E.c.next_attempt_at.is_(None), E.c.next_attempt_at <= now),
            ),
            and_(E.c.status == EventStatus.PROCESSING, E.c.lease_until < now),
        ),
    )


async def any_due(conn: AsyncConnection, now: float) -> bool:
    """A cheap read before claiming, so an idle worker never opens a write transaction."""
    row = await conn.execute(select(E.c.id).where(_due(now)).limit(1))
    return row.first() is not None


async def claim(
    conn: AsyncConnection, *, now: float, lease: float, token: str, worker: str, limit: int
) -> list[ClaimedEvent]:
    """Claim up to ``limit`` due rows (oldest first) for ``lease`` seconds.

    The one claim query. A row is due when it is pending and its ``next_attempt_at`` has come,
    or when it is processing under a lease that has expired (its worker died). On PostgreSQL
    ``FOR UPDATE SKIP LOCKED`` makes concurrent workers skip rows another transaction is
    claiming instead of waiting for it, so no two workers claim the same row and none block;
    the UPDATE then re-checks nothing because the locked rows cannot change under it. On SQLite
    the transaction is ``BEGIN IMMEDIATE`` (see store/db.py): one writer at a time, so the
    SELECT and the UPDATE see the same rows. The attempt counter rises at claim time, so a
    row whose handler kills its worker every time still ends ``dead``.
    """
    due = (
        select(E.c.id)
        .where(_due(now))
        .order_by(E.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    stmt = (
        update(E)
        .where(E.c.id.in_(due))
        .values(
            status=EventStatus.PROCESSING,
            lease_until=now + lease,
            locked_by=token,
            attempts=E.c.attempts + 1,
        )
        .returning(E.c.id, E.c.message_id, E.c.event_type, E.c.test_mode, E.c.body, E.c.attempts)
    )
    rows = sorted((await conn.execute(stmt)).all(), key=lambda r: r.id)
    if not rows:
        return []
    again = [row.id for row in rows if row.attempts > 1]
    if again:  # a retry, or a row whose worker died: close the attempt it left running
        await _expire_running_attempts(conn, again, now)
    attempt_ids = await _start_attempts(conn, rows, worker, now)
    return [
        ClaimedEvent(
            row_id=row.id,
            message_id=row.message_id,
            event_type=row.event_type,
            test_mode=row.test_mode,
            body=bytes(row.body),
            attempts=row.attempts,
            token=token,
            attempt_id=attempt_id,
        )
        for row, attempt_id in zip(rows, attempt_ids, strict=True)
    ]


async def _expire_running_attempts(conn: AsyncConnection, ids: list[int], now: float) -> None:
    await conn.execute(
        update(event_attempts)
        .where(
            event_attempts.c.event_row_id.in_(ids),
            event_attempts.c.outcome == AttemptOutcome.RUNNING,
        )
        .values(outcome=AttemptOutcome.LEASE_EXPIRED, finished_at=now, error="lease expired")
    )


async def _start_attempts(
    conn: AsyncConnection, rows: list[Any], worker: str, now: float
) -> list[int]:
    """One ``running`` attempt row per claimed row, in one statement; their ids in order."""
    values = [
        {
            "event_row_id": row.id,
            "attempt": row.attempts,
            "worker": worker,
            "started_at": now,
            "outcome": AttemptOutcome.RUNNING,
        }
        for row in rows
    ]
    stmt = event_attempts.insert().returning(event_attempts.c.id, sort_by_parameter_order=True)
    return list((await conn.execute(stmt, values)).scalars())


WRITER_LOCK = 0x66666C66  # "fflf": the advisory lock key of the workers' settle transactions


async def one_writer(conn: AsyncConnection) -> None:
    """Make this transaction the only workers' settle transaction until it ends.

    PostgreSQL: a transaction-level advisory lock (released by COMMIT or ROLLBACK). SQLite
    needs nothing: ``BEGIN IMMEDIATE`` already admits one writer at a time.
    """
    if conn.dialect.name == "postgresql":
        await conn.execute(select(func.pg_advisory_xact_lock(WRITER_LOCK)))


async def settle(
    conn: AsyncConnection,
    event: ClaimedEvent,
    *,
    status: EventStatus,
    now: float,
    error: str | None = None,
    next_attempt_at: float | None = None,
    order_id: int | None = None,
) -> bool:
    """Move a claimed row to ``status`` if this claim still holds it; False if it was lost."""
    result = await conn.execute(
        update(E)
        .where(E.c.id == event.row_id, E.c.locked_by == event.token)
        .where(E.c.status == EventStatus.PROCESSING)
        .values(
            status=status,
            lease_until=None,
            locked_by=None,
            last_error=error,
            next_attempt_at=next_attempt_at,
            processed_at=now if status in _FINAL else None,
        )
    )
    if result.rowcount != 1:
        return False
    await _finish_attempt(conn, event, _OUTCOME[status], now, error, order_id)
    return True


async def settle_done(
    conn: AsyncConnection, done: Sequence[tuple[ClaimedEvent, int | None]], *, now: float
) -> bool:
    """Mark claimed rows ``done`` (each with the order it touched), in two statements.

    All or nothing: False if any row is no longer held by its claim (the caller then rolls
    back and settles the rows one by one, so only the lost row commits nothing).
    """
    by_token: dict[str, list[int]] = {}
    for event, _ in done:
        by_token.setdefault(event.token, []).append(event.row_id)
    for token, ids in by_token.items():
        result = await conn.execute(_DONE, {"ids": ids, "token": token, "now": now})
        if result.rowcount != len(ids):
            return False
    rows = [{"attempt_id": e.attempt_id, "order_id": order_id} for e, order_id in done]
    await conn.execute(_ATTEMPTS_DONE.values(finished_at=now), rows)
    return True


_DONE = (
    update(E)
    .where(E.c.id.in_(bindparam("ids", expanding=True)), E.c.locked_by == bindparam("token"))
    .where(E.c.status == EventStatus.PROCESSING)
    .values(
        status=EventStatus.DONE,
        lease_until=None,
        locked_by=None,
        last_error=None,
        next_attempt_at=None,
        processed_at=bindparam("now"),
    )
)
_ATTEMPTS_DONE = (
    update(event_attempts)
    .where(event_attempts.c.id == bindparam("attempt_id"))
    .values(outcome=AttemptOutcome.DONE, error=None, order_id=bindparam("order_id"))
)

_FINAL = frozenset({EventStatus.DONE, EventStatus.IGNORED, EventStatus.DEAD})
_OUTCOME = {
    EventStatus.DONE: AttemptOutcome.DONE,
    EventStatus.IGNORED: AttemptOutcome.IGNORED,
    EventStatus.DEAD: AttemptOutcome.DEAD,
    EventStatus.PENDING: AttemptOutcome.RETRY,
}


async def _finish_attempt(
    conn: AsyncConnection,
    event: ClaimedEvent,
    outcome: AttemptOutcome,
    now: float,
    error: str | None,
    order_id: int | None,
) -> None:
    await conn.execute(
        update(event_attempts)
        .where(event_attempts.c.id == event.attempt_id)
        .values(outcome=outcome, finished_at=now, error=error, order_id=order_id)
    )


async def count_by_status(conn: AsyncConnection) -> dict[str, int]:
    """How many inbox rows are in each status."""
    rows = await conn.execute(select(E.c.status, func.count()).group_by(E.c.status))
    return {status: count for status, count in rows.all()}
