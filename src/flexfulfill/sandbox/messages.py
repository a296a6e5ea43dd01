"""The delivery queue's SQL: due messages, recorded attempts, endpoint health.

The sandbox runs one delivery engine per database. Messages in flight are held out of claims
by the engine's in-memory set (not by a lease), so after a crash or restart every pending
message whose time has come is simply due again — deliveries resume, at least once.
"""

from __future__ import annotations

import json
import random
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from flexfulfill.sandbox import tables as t
from flexfulfill.sandbox.ids import new_id
from flexfulfill.sandbox.retry import RetryPolicy
from flexfulfill.sandbox.sql import execute_many, fetch_all

M, W, E = t.messages, t.webhooks, t.events

INSERT_ATTEMPTS = insert(t.attempts)
# Only a still-pending message moves on: one canceled meanwhile (its endpoint disabled or
# deleted while this attempt was on the wire) stays canceled.
MESSAGE_MOVES_ON = (
    update(M)
    .where(M.c.message_id == bindparam("mid"), M.c.status == t.MessageStatus.PENDING)
    .values(status=bindparam("st"), failures=bindparam("f"), next_attempt_at=bindparam("n"))
    .values(attempts=bindparam("a"))
)


@dataclass(frozen=True)
class Job:
    """One message to send now: where, with which secrets (current first), which bytes."""

    message_id: str
    event_id: str
    webhook_id: str
    attempts: int
    failures: int
    url: str
    secrets: tuple[str, ...]
    body: bytes


@dataclass
class Result:
    """What one attempt did."""

    job: Job
    attempted_at: float
    outcome: t.AttemptOutcome
    status_code: int | None
    duration_ms: float
    excerpt: str
    retry_after: float | None = None
    duplicate: bool = False

    @property
    def ok(self) -> bool:
        return self.outcome is t.AttemptOutcome.SUCCEEDED


def _due(now: float, exclude: Collection[str]) -> list[object]:
    conditions: list[object] = [M.c.status == t.MessageStatus.PENDING, M.c.next_attempt_at <= now]
    if exclude:
        conditions.append(M.c.message_id.not_in(list(exclude)))
    return conditions


# A success ends its endpoint's failing streak (rows already clear are left alone).
CLEAR_STREAK = (
    update(W)
    .where(W.c.webhook_id == bindparam("wid"), W.c.failing_since.is_not(None))
    .values(failing_since=None)
)
# Due messages, oldest due first, with what sending them needs. While few messages are in
# flight they are left out in Python, not in SQL: the statement keeps one shape (compiled once,
# one round trip: sql.fetch_all) and asks for that many more rows.
FEW_IN_FLIGHT = 64
CLAIM = (
    select(
        M.c.message_id,
        M.c.event_id,
        M.c.webhook_id,
        M.c.attempts,
        M.c.failures,
        W.c.url,
        W.c.secret,
        W.c.previous_secret,
        W.c.previous_until,
        E.c.body,
    )
    .join(W, W.c.webhook_id == M.c.webhook_id)
    .join(E, E.c.event_id == M.c.event_id)
    .where(M.c.status == t.MessageStatus.PENDING, M.c.next_attempt_at <= bindparam("now"))
    .order_by(M.c.next_attempt_at, M.c.seq)
    .limit(bindparam("limit"))
)
# The earliest pending messages by due time (the first not in flight is the next due).
UPCOMING = (
    select(M.c.message_id, M.c.next_attempt_at)
    .where(M.c.status == t.MessageStatus.PENDING, M.c.next_attempt_at.is_not(None))
    .order_by(M.c.next_attempt_at)
    .limit(bindparam("limit"))
)


async def claim_due(
    conn: AsyncConnection, now: float, exclude: Collection[str], limit: int
) -> list[Job]:
    """Due messages not in ``exclude``, oldest due first, with what sending them needs."""
    # A copy taken before the query: the engine's in-flight set changes while it runs, and a
    # message released meanwhile (its attempt just recorded) may still be pending in what the
    # query read — judged by the live set it would be sent twice.
    exclude = frozenset(exclude)
    if len(exclude) <= FEW_IN_FLIGHT:
        rows = await fetch_all(conn, CLAIM, {"now": now, "limit": limit + len(exclude)})
        fresh = [row for row in rows if row[0] not in exclude][:limit]
    else:  # a burst: fetching (and joining the bodies of) every in-flight row would cost more
        query = CLAIM.where(M.c.message_id.not_in(list(exclude)))
        fresh = [tuple(row) for row in await conn.execute(query, {"now": now, "limit": limit})]
    return [
        Job(mid, event_id, webhook_id, attempts, failures, url, _secrets(row, now), body.encode())
        for row in fresh
        for (mid, event_id, webhook_id, attempts, failures, url, *_, body) in [row]
    ]


def _secrets(row: tuple[Any, ...], now: float) -> tuple[str, ...]:
    """The current secret, then the previous one while its rotation grace lasts."""
    secret, previous, until = row[6:9]
    if previous and (until or 0) > now:
        return (secret, previous)
    return (secret,)


async def next_due_at(conn: AsyncConnection, exclude: Collection[str]) -> float | None:
    """When the earliest pending message not in ``exclude`` is due (None: there is none)."""
    exclude = frozenset(exclude)  # as in claim_due: the set as it was when the query ran
    rows = await fetch_all(conn, UPCOMING, {"limit": len(exclude) + 1})
    return next((float(due) for mid, due in rows if mid not in exclude), None)


async def record_results(
    conn: AsyncConnection, results: list[Result], policy: RetryPolicy, rng: random.Random
) -> int:
    """Store every attempt and each message's next step; returns how many were rescheduled."""
    attempt_rows, message_rows = [], []
    for result in results:
        next_at, status, failures = _next_step(result, policy, rng)
        attempt_rows.append(_attempt_row(result, next_at))
        if not result.duplicate:
            message_rows.append(
                {
                    "mid": result.job.message_id,
                    "st": status,
                    "f": failures,
                    "n": next_at,
                    "a": result.job.attempts + 1,
                }
            )
    await execute_many(conn, INSERT_ATTEMPTS, attempt_rows)
    if message_rows:
        await execute_many(conn, MESSAGE_MOVES_ON, message_rows)
    await _update_endpoint_health(conn, results, policy)
    return sum(1 for row in message_rows if row["st"] == t.MessageStatus.PENDING)


def _next_step(
    result: Result, policy: RetryPolicy, rng: random.Random
) -> tuple[float | None, str, int]:
    if result.ok:
        return None, t.MessageStatus.SUCCEEDED, 0
    failures = result.job.failures + 1
    delay = policy.delay(failures, result.outcome, result.retry_after, rng)
    if delay is None:
        return None, t.MessageStatus.FAILED, failures
    return result.attempted_at + delay, t.MessageStatus.PENDING, failures


def _attempt_row(result: Result, next_at: float | None) -> dict[str, object]:
    return {
        "attempt_id": new_id("attempt"),
        "message_id": result.job.message_id,
        "event_id": result.job.event_id,
        "webhook_id": result.job.webhook_id,
        "attempted_at": result.attempted_at,
        "status_code": result.status_code,
        "duration_ms": result.duration_ms,
        "outcome": result.outcome,
        "response_excerpt": result.excerpt,
        "duplicate": result.duplicate,
        "next_attempt_at": None if result.duplicate else next_at,
    }


async def _update_endpoint_health(
    conn: AsyncConnection, results: list[Result], policy: RetryPolicy
) -> None:
    """A success clears an endpoint's failing streak; a long enough streak disables it."""
    latest: dict[str, Result] = {}
    first_failure: dict[str, float] = {}
    for r in sorted(results, key=lambda r: r.attempted_at):
        latest[r.job.webhook_id] = r
        if not r.ok:
            first_failure.setdefault(r.job.webhook_id, r.attempted_at)
        else:
            first_failure.pop(r.job.webhook_id, None)
    healthy = [{"wid": wid} for wid, last in latest.items() if last.ok]
    if healthy:
        await execute_many(conn, CLEAR_STREAK, healthy)
    for webhook_id, last in latest.items():
        if not last.ok:
            await _note_failure(
                conn, webhook_id, first_failure[webhook_id], last.attempted_at, policy
            )


async def _note_failure(
    conn: AsyncConnection, webhook_id: str, first: float, now: float, policy: RetryPolicy
) -> None:
    row = (
        await conn.execute(select(W.c.failing_since).where(W.c.webhook_id == webhook_id))
    ).first()
    if row is None:
        return
    since = row.failing_since if row.failing_since is not None else first
    if policy.should_disable(since, now):
        await disable_endpoint(conn, webhook_id)
        return
    await conn.execute(update(W).where(W.c.webhook_id == webhook_id).values(failing_since=since))


async def disable_endpoint(conn: AsyncConnection, webhook_id: str) -> None:
    """Disable an endpoint and cancel what it still had pending."""
    await conn.execute(update(W).where(W.c.webhook_id == webhook_id).values(enabled=False))
    pending = and_(M.c.webhook_id == webhook_id, M.c.status == t.MessageStatus.PENDING)
    await conn.execute(
        update(M).where(pending).values(status=t.MessageStatus.CANCELED, next_attempt_at=None)
    )


async def count_due(conn: AsyncConnection, now: float) -> int:
    query = select(func.count()).select_from(M).where(and_(*_due(now, ())))  # type: ignore[arg-type]
    return int((await conn.execute(query)).scalar_one())


def attempt_view(row: object) -> dict[str, object]:
    """An attempt as the attempts API lists it."""
    data = dict(row._mapping)  # type: ignore[attr-defined]
    data.pop("seq", None)
    return data


def decode_events(raw: str) -> list[str]:
    return list(json.loads(raw))
