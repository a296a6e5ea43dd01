"""The sandbox's storage: Flex objects as documents, events and their messages, in transactions.

One :class:`Tx` is one database transaction. An API call does all its work in one, so a state
change, the event it records and the messages that deliver it commit together (the outbox
pattern): a crash can lose neither the event nor a delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from flexfulfill.sandbox import tables as t
from flexfulfill.sandbox.errors import invalid, not_found
from flexfulfill.sandbox.ids import new_id
from flexfulfill.sandbox.present import ID_FIELDS, Doc, iso
from flexfulfill.sandbox.sql import execute_many, fetch_all

# (first-due delay for a new message) — fault injection decides it; no delay by default.
DueDelay = Callable[[], float]


def _dumps(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":"), sort_keys=False)


INSERT_OBJECTS = insert(t.objects)
UPDATE_OBJECTS = update(t.objects).where(t.objects.c.id == bindparam("oid"))
UPDATE_OBJECTS = UPDATE_OBJECTS.values(data=bindparam("text"))
INSERT_EVENTS = insert(t.events)
INSERT_MESSAGES = insert(t.messages)
ENABLED_WEBHOOKS = (
    select(t.webhooks.c.webhook_id, t.webhooks.c.events)
    .where(t.webhooks.c.enabled)
    .order_by(t.webhooks.c.seq)
)

DOC_CACHE_SIZE = 50_000  # documents kept in memory; beyond it the oldest are dropped


class DocCache:
    """Committed documents by (kind, id), as their stored JSON text, kept by this process.

    Why: the hot reads (a session with its intents and customer, its line items with their
    prices and products) otherwise cost a connection, a transaction and a statement per
    document on every request. The sandbox is one process per database (as delivery already
    requires), and every write of ``sandbox_objects`` goes through :class:`Tx`, so:

    - a committed write transaction puts what it wrote here (write-through), before its
      request answers and before delivery is woken, so no client can see a write and then read
      older data;
    - a miss reads the database and keeps the row only if no object-writing transaction
      committed since the reading transaction began (``generation``, bumped by each such
      commit): a read from an older snapshot never overwrites a newer document.

    Texts are immutable; every read parses a fresh dict, so callers may change what they get.
    """

    def __init__(self, size: int = DOC_CACHE_SIZE) -> None:
        self.size = size
        self.generation = 0
        self._docs: dict[tuple[str, str], str] = {}

    def get(self, kind: str, object_id: str) -> str | None:
        return self._docs.get((kind, object_id))

    def remember(self, kind: str, object_id: str, text: str, generation: int) -> None:
        """Keep a row read from the database, unless a write committed since ``generation``."""
        if generation == self.generation:
            self._put((kind, object_id), text)

    def committed(
        self, written: dict[tuple[str, str], str], uncached: set[tuple[str, str]]
    ) -> None:
        """A transaction that wrote these documents has committed: they replace what is here
        (``uncached``: drop instead), and rows read before now are refused."""
        self.generation += 1
        for key, text in written.items():
            if key in uncached:
                self._docs.pop(key, None)
            else:
                self._put(key, text)

    def _put(self, key: tuple[str, str], text: str) -> None:
        self._docs.pop(key, None)  # re-inserted last: the oldest-first order is eviction order
        self._docs[key] = text
        if len(self._docs) > self.size:
            del self._docs[next(iter(self._docs))]


class SandboxStore:
    """The engine plus the schema; hands out transactions."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.cache = DocCache()
        # Object-writing transactions run one at a time in this process. SQLite serializes
        # writers anyway (BEGIN IMMEDIATE, whose busy handler polls with sleeps; a queue here
        # hands over at once); it also means a write transaction reading the cache sees every
        # earlier commit, since each applies its writes to the cache before releasing this.
        self._writer = asyncio.Lock()

    async def create_all(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(t.metadata.create_all)

    @asynccontextmanager
    async def transaction(self, now: float, due_delay: DueDelay) -> AsyncIterator[Tx]:
        async with self._writer:
            generation = self.cache.generation
            async with self.engine.begin() as conn:
                tx = Tx(conn, now, due_delay, self.cache, generation)
                yield tx
                await tx.flush()
            # Committed (and the connection back in its pool). A read that ran meanwhile could
            # only have been concurrent with this request, and whatever it cached for these
            # documents is overwritten now, before the request is answered.
            self.cache.committed(tx.written, tx.uncached)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        """A read-only connection (a plain deferred transaction on SQLite)."""
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(readonly=True)
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def read(self, now: float) -> AsyncIterator[Tx]:
        """A :class:`Tx` for reads only; it opens a connection only if the cache cannot answer."""
        generation = self.cache.generation  # before any snapshot this Tx may take
        async with contextlib.AsyncExitStack() as stack:

            async def connect() -> AsyncConnection:
                return await stack.enter_async_context(self.reading())

            yield Tx(None, now, lambda: 0.0, self.cache, generation, connect)


class Tx:
    """Reads and writes inside one transaction; ``emitted`` counts new messages.

    Writes (documents, events, messages) are kept in order and sent at the end as one
    multi-row statement per table (:meth:`flush`); reads of documents see this transaction's
    own writes first. Code that runs its own SQL on ``conn`` against these tables after
    writing through the Tx must ``await tx.flush()`` first (none does: ``conn`` is used for
    webhooks and attempts, which the Tx does not buffer).
    """

    def __init__(
        self,
        conn: AsyncConnection | None,
        now: float,
        due_delay: DueDelay,
        cache: DocCache | None = None,
        generation: int = 0,
        connect: Callable[[], Awaitable[AsyncConnection]] | None = None,
    ) -> None:
        self._conn = conn
        self._connect = connect
        self.now = now
        self._due_delay = due_delay
        self._cache = cache or DocCache(0)
        self._generation = generation
        self._webhooks: list[tuple[str, list[str]]] | None = None  # enabled: (id, event types)
        self.emitted = 0
        # Every document this transaction wrote, (kind, id) → JSON text of its last version;
        # the cache takes them once the transaction has committed.
        self.written: dict[tuple[str, str], str] = {}
        # Not yet sent (flush): new object rows in order, and changed existing objects.
        self._inserts: dict[tuple[str, str], dict[str, Any]] = {}
        self._updates: set[tuple[str, str]] = set()
        self.uncached: set[tuple[str, str]] = set()  # written, but not to be cached
        self._events: list[dict[str, Any]] = []
        self._messages: list[dict[str, Any]] = []

    @property
    def conn(self) -> AsyncConnection:
        """The transaction's connection (a read :class:`Tx` opens it on first use: ``db()``)."""
        if self._conn is None:
            raise RuntimeError("this read Tx has no connection yet; use `await tx.db()`")
        return self._conn

    async def db(self) -> AsyncConnection:
        if self._conn is None:
            assert self._connect is not None
            self._conn = await self._connect()
        return self._conn

    def _known(self, kind: str, object_id: str) -> str | None:
        return self.written.get((kind, object_id)) or self._cache.get(kind, object_id)

    async def get(self, kind: str, object_id: str) -> Doc | None:
        raw = self._known(kind, object_id)
        if raw is None:
            query = select(t.objects.c.data).where(
                t.objects.c.id == object_id, t.objects.c.kind == kind
            )
            raw = (await (await self.db()).execute(query)).scalar_one_or_none()
            if raw is None:
                return None
            self._cache.remember(kind, object_id, raw, self._generation)
        return dict(json.loads(raw))

    async def get_many(self, kind: str, object_ids: list[str]) -> dict[str, Doc]:
        """The objects of ``kind`` among ``object_ids`` that exist, by id (one query at most)."""
        found: dict[str, Doc] = {}
        missing = set()
        for oid in object_ids:
            raw = self._known(kind, oid)
            if raw is None:
                missing.add(oid)
            else:
                found[oid] = dict(json.loads(raw))
        if missing:
            query = select(t.objects.c.id, t.objects.c.data).where(
                t.objects.c.id.in_(missing), t.objects.c.kind == kind
            )
            for oid, raw in await (await self.db()).execute(query):
                self._cache.remember(kind, oid, raw, self._generation)
                found[oid] = dict(json.loads(raw))
        return found

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
        key = (kind, doc[ID_FIELDS[kind]])
        text = _dumps(doc)
        self.written[key] = text
        self._inserts[key] = {"id": key[1], "kind": kind, "created_at": self.now, "data": text}
        return doc

    async def save(self, kind: str, doc: Doc) -> Doc:
        key = (kind, doc[ID_FIELDS[kind]])
        text = _dumps(doc)
        self.written[key] = text
        if key in self._inserts:  # created in this transaction: insert the latest version
            self._inserts[key]["data"] = text
        else:
            self._updates.add(key)
        return doc

    async def all(self, kind: str) -> list[Doc]:
        """Every object of ``kind``, newest first (Stripe's list order)."""
        await self.flush()
        query = select(t.objects.c.data).where(t.objects.c.kind == kind)
        rows = await (await self.db()).execute(query.order_by(t.objects.c.seq.desc()))
        return [dict(json.loads(raw)) for (raw,) in rows]

    async def flush(self) -> None:
        """Send the buffered writes: one statement per table (objects: inserts, then updates)."""
        if not (self._inserts or self._updates or self._events or self._messages):
            return
        conn = await self.db()
        if self._inserts:
            await execute_many(conn, INSERT_OBJECTS, list(self._inserts.values()))
        if self._updates:
            rows = [{"oid": key[1], "text": self.written[key]} for key in self._updates]
            if await execute_many(conn, UPDATE_OBJECTS, rows) != len(rows):
                # A save of an object that is not stored changes nothing in the database
                # (as before); it must not appear in the cache either.
                self.uncached |= self._updates
        if self._events:
            await execute_many(conn, INSERT_EVENTS, self._events)
        if self._messages:
            await execute_many(conn, INSERT_MESSAGES, self._messages)
        self._inserts, self._updates, self._events, self._messages = {}, set(), [], []

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
        self._events.append(row)
        for webhook_id in await self.subscribers(event_type):
            await self.queue_message(event_id, webhook_id)
        return event

    async def subscribers(self, event_type: str) -> list[str]:
        if self._webhooks is None:  # one query per transaction, whatever the event types
            rows = await fetch_all(await self.db(), ENABLED_WEBHOOKS, {})
            self._webhooks = [(wid, json.loads(raw)) for wid, raw in rows]
        return [wid for wid, types in self._webhooks if subscribed(types, event_type)]

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
        self._messages.append(row)
        self.emitted += 1
        return message_id


def subscribed(event_types: list[str], event_type: str) -> bool:
    """An endpoint with no event types, or with ``*``, receives every event (as on Svix)."""
    return not event_types or "*" in event_types or event_type in event_types
