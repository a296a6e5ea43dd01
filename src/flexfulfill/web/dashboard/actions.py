"""What an operator can change from the dashboard, each recorded in ``audit_log`` with who did it.

Each action and its audit row commit in one transaction, so the log never claims an action that
did not happen, nor misses one that did. Reconciliation needs the Flex API and so is passed in
(:data:`Reconcile`) by whoever composes the app.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from flexfulfill.store import event_log
from flexfulfill.store import outbox as outbox_store
from flexfulfill.store import stock as stock_store
from flexfulfill.store.statuses import EventStatus, MovementReason
from flexfulfill.store.tables import audit_log, webhook_events

# Runs one reconciliation pass for ``actor`` and returns a one-line summary to show.
Reconcile = Callable[[str], Awaitable[str]]

REPLAYABLE = (EventStatus.DEAD, EventStatus.IGNORED, EventStatus.DONE)


class ActionError(Exception):
    """The action cannot be done as asked; the message says why and what to do."""


async def audit(
    conn: AsyncConnection, *, now: float, actor: str, action: str, target: str, detail: Any = None
) -> None:
    """Record one operator action (call inside the action's own transaction)."""
    text = None if detail is None else json.dumps(detail, sort_keys=True, default=str)
    values = {"at": now, "actor": actor, "action": action, "target": target, "detail": text}
    await conn.execute(insert(audit_log).values(**values))


async def replay_event(engine: AsyncEngine, row_id: int, *, actor: str, now: float) -> None:
    """Put a dead, ignored or done inbox row back in the queue (fulfillment's ``replay``).

    Handlers are idempotent, so replaying a done event changes nothing that is already right;
    its earlier attempts stay in ``event_attempts`` as history. ``replay`` writes the audit row.
    """
    async with engine.begin() as conn:
        status = await conn.scalar(
            select(webhook_events.c.status).where(webhook_events.c.id == row_id)
        )
        if status not in REPLAYABLE:
            raise ActionError(f"event {row_id} is unknown or already queued; refresh the inbox")
        await event_log.replay(conn, now=now, actor=actor, row_ids=[row_id])


async def resend_receipt(engine: AsyncEngine, order_id: int, *, actor: str, now: float) -> str:
    """Queue the order's receipt again (the mail area's ``enqueue_resend``: a new outbox row
    with its own Message-ID, and the audit row); returns the recipient."""
    try:
        row = await outbox_store.enqueue_resend(engine, order_id, actor=actor, now=now)
    except outbox_store.NoReceiptError as exc:
        raise ActionError(str(exc)) from None
    except IntegrityError:
        raise ActionError("another resend of this receipt was just queued; refresh") from None
    return row.recipient or "the customer"


async def adjust_stock(
    engine: AsyncEngine, product_id: str, delta: int, *, note: str, actor: str, now: float
) -> int:
    """Add ``delta`` (negative to remove) to a product's stock; returns the new on-hand count."""
    if delta == 0:
        raise ActionError("enter a non-zero change, e.g. 10 to add or -3 to remove")
    async with engine.begin() as conn:
        if await stock_store.level(conn, product_id) is None:
            raise ActionError(f"unknown product {product_id}; add it with `flexfulfill stock set`")
        moved = await stock_store.move(
            conn,
            product_id=product_id,
            delta=delta,
            reason=MovementReason.ADJUST,
            now=now,
            actor=actor,
            note=note or None,
        )
        assert moved is not None  # an adjustment has no order line, so it never collides
        detail = {"delta": delta, "on_hand_after": moved.on_hand_after, "note": note}
        target = f"product:{product_id}"
        await audit(conn, now=now, actor=actor, action="stock.adjust", target=target, detail=detail)
    return int(moved.on_hand_after)


async def record(
    engine: AsyncEngine, *, actor: str, action: str, target: str, detail: Any, now: float
) -> None:
    """An audit row on its own, for actions whose effects live elsewhere (reconciliation)."""
    async with engine.begin() as conn:
        await audit(conn, now=now, actor=actor, action=action, target=target, detail=detail)
