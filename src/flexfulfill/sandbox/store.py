"""The sandbox's storage: Flex objects as documents, events and their messages, in transactions.

One :class:`Tx` is one database transaction. An API call does all its work in one, so a state
change, the event it records and the messages that deliver it commit together (the outbox
pattern): a crash can lose neither the event nor a delivery.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from flexfulfill.sandbox import tables as t
from flexfulfill.sandbox.errors import invalid, not_found
from flexfulfill.sandbox.ids import new_id
from flexfulfill.sandbox.present import ID_FIELDS, Doc, iso

# (first-due delay for a new message) — fault injection decides it; no delay by default.
DueDelay = Callable[[], float]


def _dumps(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":"), sort_keys=False)


class SandboxStore:
    """The engine plus the schema; hands out transactions."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create_all(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(t.metadata.create_all)

    @asynccontextmanager
    async def transaction(self, now: float, due_delay: DueDelay) -> AsyncIterator[Tx]:
        async with self.engine.begin() as conn:
            yield Tx(conn, now, due_delay)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        """A read-only connection (a plain deferred transaction on SQLite)."""
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(readonly=True)
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def read(self, now: float) -> AsyncIterator[Tx]:
        """A :class:`Tx` for reads only."""
        async with self.reading() as conn:
            yield Tx(conn, now, lambda: 0.0)


class Tx:
    """Reads and writes inside one transaction; ``emitted`` counts new messages."""

    def __init__(self, conn: AsyncConnection, now: float, due_delay: DueDelay) -> None:
        self.conn = conn
        self.now = now
        self._due_delay = due_delay
        self._subscribers: dict[str, list[str]] = {}  # event type → endpoints, per transaction
        self.emitted = 0

    async def get(self, kind: str, object_id: str) -> Doc | None:
        query = select(t.objects.c.data).where(
            t.objects.c.id == object_id, t.objects.c.kind == kind
        )
        raw = (await self.conn.execute(query)).scalar_one_or_none()
        return None if raw is None else dict(json.loads(raw))

    async def get_many(self, kind: str, object_ids: list[str]) -> dict[str, Doc]:
        """The objects of ``kind`` among ``object_ids`` that exist, by id (one query)."""
        if not object_ids:
            return {}
        query = select(t.objects.c.id, t.objects.c.data).where(
            t.objects.c.id.in_(set(object_ids)), t.objects.c.kind == kind
        )
        return {oid: dict(json.loads(raw)) for oid, raw in await self.conn.execute(query)}

    async def require(
        self, kind: str, object_id: str, loc: tuple[str, ...] = ("path", "id")
    ) -> Doc:
        doc = await self.get(kind, object_id)
        if doc is None:
            raise not_found(kind, object_id, loc)
        return doc

    async def reference(self, kind: str, object_id: str, loc: tuple[str, ...]) -> Doc:
        """An object named in a request body: 422 ``<kind>_not_found`` if unknown."""
        doc = await self.get(kind, object_id)
        if doc is None:
            label = kind.replace("_", " ")
            raise invalid(f"{kind}_not_found", f"No such {label}: {object_id!r}", loc)
        return doc

    async def insert(self, kind: str, doc: Doc) -> Doc:
        row = {
            "id": doc[ID_FIELDS[kind]],
            "kind": kind,
            "created_at": self.now,
            "data": _dumps(doc),
        }
        await self.conn.execute(insert(t.objects).values(row))
        return doc

    async def save(self, kind: str, doc: Doc) -> Doc:
        query = update(t.objects).where(t.objects.c.id == doc[ID_FIELDS[kind]])
        await self.conn.execute(query.values(data=_dumps(doc)))
        return doc

    async def all(self, kind: str) -> list[Doc]:
        """Every object of ``kind``, newest first (Stripe's list order)."""
        query = select(t.objects.c.data).where(t.objects.c.kind == kind)
        rows = await self.conn.execute(query.order_by(t.objects.c.seq.desc()))
        return [dict(json.loads(raw)) for (raw,) in rows]

    async def emit(self, event_type: str, resource_key: str, resource: Doc) -> Doc:
        """Record an event and queue one message per enabled, subscribed endpoint."""
        event_id = new_id("event")
        event = {
            "event_id": event_id,
            "event_type": event_type,
            "event_dt": int(self.now),
            "created_at": iso(self.now),
            "test_mode": True,
            "object": {resource_key: resource},
        }
        row = {
            "event_id": event_id,
            "event_type": event_type,
            "created_at": self.now,
            "body": _dumps(event),
        }
        await self.conn.execute(insert(t.events).values(row))
        for webhook_id in await self.subscribers(event_type):
            await self.queue_message(event_id, webhook_id)
        return event

    async def subscribers(self, event_type: str) -> list[str]:
        if event_type not in self._subscribers:
            query = select(t.webhooks.c.webhook_id, t.webhooks.c.events).where(t.webhooks.c.enabled)
            rows = await self.conn.execute(query.order_by(t.webhooks.c.seq))
            found = [wid for wid, raw in rows if subscribed(json.loads(raw), event_type)]
            self._subscribers[event_type] = found
        return self._subscribers[event_type]

    async def queue_message(self, event_id: str, webhook_id: str) -> str:
        message_id = new_id("message")
        row = {
            "message_id": message_id,
            "event_id": event_id,
            "webhook_id": webhook_id,
            "status": t.MessageStatus.PENDING,
            "failures": 0,
            "attempts": 0,
            "next_attempt_at": self.now + self._due_delay(),
            "created_at": self.now,
        }
        await self.conn.execute(insert(t.messages).values(row))
        self.emitted += 1
        return message_id


def subscribed(event_types: list[str], event_type: str) -> bool:
    """An endpoint with no event types, or with ``*``, receives every event (as on Svix)."""
    return not event_types or "*" in event_types or event_type in event_types
