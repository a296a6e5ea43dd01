"""Reading the inbox and its attempts for operators, and putting events back in the queue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from flexfulfill.store.statuses import EventStatus
from flexfulfill.store.tables import audit_log, event_attempts, webhook_events

E = webhook_events
SUMMARY = (
    E.c.id,
    E.c.message_id,
    E.c.event_id,
    E.c.event_type,
    E.c.status,
    E.c.attempts,
    E.c.received_at,
    E.c.next_attempt_at,
    E.c.last_error,
)


@dataclass(frozen=True)
class EventDetail:
    row: dict[str, Any]
    attempts: list[dict[str, Any]]


async def recent(
    conn: AsyncConnection,
    *,
    status: str | None = None,
    event_type: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """The newest inbox rows, optionally of one status and type."""
    stmt = select(*SUMMARY).order_by(E.c.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(E.c.status == status)
    if event_type:
        stmt = stmt.where(E.c.event_type == event_type)
    return [dict(row._mapping) for row in (await conn.execute(stmt)).all()]


async def detail(conn: AsyncConnection, ref: str) -> EventDetail | None:
    """One row by its id, message id (``msg_…``) or event id, with every attempt."""
    where = E.c.id == int(ref) if ref.isdigit() else (E.c.message_id == ref) | (E.c.event_id == ref)
    row = (await conn.execute(select(E).where(where).order_by(E.c.id).limit(1))).first()
    if row is None:
        return None
    stmt = (
        select(event_attempts)
        .where(event_attempts.c.event_row_id == row.id)
        .order_by(event_attempts.c.id)
    )
    attempts = [dict(a._mapping) for a in (await conn.execute(stmt)).all()]
    values = dict(row._mapping)
    values["body"] = bytes(values["body"]).decode("utf-8", "replace")
    return EventDetail(values, attempts)


async def replay(
    conn: AsyncConnection, *, now: float, actor: str, row_ids: list[int] | None = None
) -> int:
    """Put rows back to pending, due now, with a fresh attempt count (all dead ones if no ids).

    Rows being processed are left alone; a replayed row is handled again by the same
    idempotent handlers, so replaying a done event changes nothing that already happened.
    """
    stmt = update(E).where(E.c.status != EventStatus.PROCESSING)
    stmt = (
        stmt.where(E.c.id.in_(row_ids)) if row_ids else stmt.where(E.c.status == EventStatus.DEAD)
    )
    stmt = stmt.values(
        status=EventStatus.PENDING, attempts=0, next_attempt_at=now, lease_until=None
    )
    result = await conn.execute(stmt.returning(E.c.id))
    ids = list(result.scalars())
    if ids:
        detail_text = ",".join(str(i) for i in ids[:200])
        await conn.execute(
            audit_log.insert().values(
                at=now, actor=actor, action="events.replay", detail=detail_text
            )
        )
    return len(ids)
