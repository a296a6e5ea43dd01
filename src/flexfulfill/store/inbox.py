"""The inbox: verified webhook messages stored durably before they are acknowledged.

Writes go through a :class:`GroupCommit`: concurrent requests hand their row to a writer task,
which inserts everything that is waiting in ONE transaction and answers each request after the
commit that holds its row. An fsync per batch instead of per request is what makes durable
acknowledgement fast (docs/architecture.md, "Receiver"). Each writer learns which rows were new
and which were redeliveries (same message id) in the same transaction: on PostgreSQL with
``INSERT … ON CONFLICT (message_id) DO NOTHING RETURNING message_id``; on SQLite, where the
transaction already holds the only write lock, with one ``SELECT`` of the known ids first.

Each engine gets dedicated writer connections outside the SQLAlchemy pool: one ``sqlite3``
connection on its own thread (one thread hop per batch), or two ``asyncpg`` connections (one
round trip per batch each). Reads and every other write use the ordinary engine.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import asyncpg  # type: ignore[import-untyped]  # ships no type information
from sqlalchemy.engine import URL, make_url

from flexfulfill.store.db import SQLITE_PRAGMAS
from flexfulfill.store.statuses import EventStatus

log = logging.getLogger(__name__)

_COLUMNS = (
    "message_id, event_id, event_type, test_mode, body, headers, received_at, status, "
    "attempts, next_attempt_at, last_error"
)
# The largest batch one statement carries (SQLite allows 32766 bound variables; 11 per row).
MAX_BATCH = 1000


class StoreUnavailable(Exception):
    """The database could not take the write; nothing was acknowledged, the sender retries."""


@dataclass(frozen=True, slots=True)
class InboxRow:
    """One verified message, as the receiver stores it."""

    message_id: str
    event_id: str | None
    event_type: str | None
    test_mode: bool | None
    body: bytes
    headers: str  # JSON of the signature headers as received
    received_at: float
    status: EventStatus
    last_error: str | None = None

    @property
    def next_attempt_at(self) -> float | None:
        """Pending rows are due at once; the worker never looks at ignored or dead rows."""
        return self.received_at if self.status is EventStatus.PENDING else None


class InboxWriter(Protocol):
    """Inserts a batch in one transaction and returns the message ids that were new."""

    async def insert(self, rows: Sequence[InboxRow]) -> set[str]: ...

    async def close(self) -> None: ...


def open_writers(database_url: str | URL, *, postgres: int = 2) -> list[InboxWriter]:
    """The dedicated inbox writers for ``database_url`` (nothing connects until first use).

    SQLite has one writer at a time, so one; PostgreSQL commits concurrently, so ``postgres``
    connections, letting a batch commit while the previous one waits for its WAL flush.
    """
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return [SqliteWriter(url.database or "")]
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return [PostgresWriter(dsn) for _ in range(postgres)]


class SqliteWriter:
    """Batches through one ``sqlite3`` connection on one thread: ``BEGIN IMMEDIATE`` … ``COMMIT``.

    The connection opens the existing file only (``mode=rw``): a missing database is an
    unavailable store, not a new empty file.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inbox-writer")
        self._conn: sqlite3.Connection | None = None

    async def insert(self, rows: Sequence[InboxRow]) -> set[str]:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._thread, self._insert, rows)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite: {exc}") from exc

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._disconnect)
        self._thread.shutdown(wait=True)

    def _insert(self, rows: Sequence[InboxRow]) -> set[str]:
        # Few statements, few result rows: every sqlite3 call hands the GIL back and forth with
        # the busy event loop thread, so a RETURNING row per insert costs more than one SELECT.
        # Inside BEGIN IMMEDIATE no other writer can add an id between the SELECT and the INSERT.
        conn = self._connection()
        ids = [r.message_id for r in rows]
        try:
            conn.execute("BEGIN IMMEDIATE")
            known = {r[0] for r in conn.execute(_sqlite_known(len(ids)), ids)}
            new = [r for r in rows if r.message_id not in known]
            if new:
                conn.execute(_sqlite_insert(len(new)), _sqlite_params(new))
            conn.execute("COMMIT")
        except sqlite3.Error:
            self._disconnect()  # a fresh connection next time; the rollback is implied
            raise
        return {r.message_id for r in new}

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            uri = f"file:{self._path}?mode=rw"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30)
            for pragma in SQLITE_PRAGMAS:
                conn.execute(pragma)
            self._conn = conn
        return self._conn

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _sqlite_known(count: int) -> str:
    marks = ", ".join("?" * count)
    return f"SELECT message_id FROM webhook_events WHERE message_id IN ({marks})"  # noqa: S608


def _sqlite_insert(count: int) -> str:
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)"] * count)
    return f"INSERT INTO webhook_events ({_COLUMNS}) VALUES {values}"  # noqa: S608 (placeholders)


def _sqlite_params(rows: Sequence[InboxRow]) -> list[object]:
    params: list[object] = []
    for r in rows:
        params += (r.message_id, r.event_id, r.event_type, r.test_mode, r.body, r.headers)
        params += (r.received_at, r.status.value, r.next_attempt_at, r.last_error)
    return params


# One prepared statement for any batch size: columns travel as arrays and unnest into rows.
_PG_INSERT = f"""
INSERT INTO webhook_events ({_COLUMNS})
SELECT m, e, t, tm, b, h, r, s, 0, n, le
FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::bool[], $5::bytea[], $6::text[],
            $7::float8[], $8::varchar[], $9::float8[], $10::text[])
     AS u(m, e, t, tm, b, h, r, s, n, le)
ON CONFLICT (message_id) DO NOTHING
RETURNING message_id
"""  # noqa: S608 (no interpolated values, only the column list)

_PG_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class PostgresWriter:
    """Batches through one dedicated ``asyncpg`` connection, reconnecting after a failure."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: asyncpg.Connection | None = None

    async def insert(self, rows: Sequence[InboxRow]) -> set[str]:
        try:
            conn = await self._connection()
            # One statement is one transaction (autocommit): a single round trip per batch.
            records = await conn.fetch(_PG_INSERT, *_pg_columns(rows))
        except _PG_ERRORS as exc:
            await self.close()
            raise StoreUnavailable(f"PostgreSQL: {type(exc).__name__}: {exc}") from exc
        return {r[0] for r in records}

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self._dsn, timeout=5, command_timeout=10)
        return self._conn


_PG_FIELDS: tuple[str, ...] = ("message_id", "event_id", "event_type", "test_mode", "body")
_PG_FIELDS += ("headers", "received_at", "status", "next_attempt_at", "last_error")


def _pg_columns(rows: Sequence[InboxRow]) -> list[list[object]]:
    """One array per column, in the order of ``_PG_INSERT``'s parameters."""
    return [[getattr(r, name) for r in rows] for name in _PG_FIELDS]


class GroupCommit:
    """Writer tasks that commit the rows of concurrent requests together, one per writer.

    :meth:`submit` returns only after the transaction holding the row has committed: ``True``
    when the row is new, ``False`` when its message id was already stored (a redelivery). While
    a batch commits, the next one gathers (or goes to an idle writer); there is no timer, so a
    lone request is written at once. A batch that fails raises :class:`StoreUnavailable` in
    every request it held.
    """

    def __init__(self, writers: Sequence[InboxWriter], *, max_batch: int = MAX_BATCH) -> None:
        self._writers = tuple(writers)
        self._max_batch = max_batch
        self._waiting: list[tuple[InboxRow, asyncio.Future[bool]]] = []
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def submit(self, row: InboxRow) -> bool:
        """Store ``row`` durably; True if it was new, False for a known message id."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((row, future))
        self._wakeup.set()
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._run(w), name="inbox") for w in self._writers]
        return await future

    async def close(self) -> None:
        """Stop the writer tasks, fail whatever still waits, close the writer connections."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        waiting, self._waiting = self._waiting, []
        _settle(waiting, error=StoreUnavailable("the receiver is shutting down"))
        for writer in self._writers:
            await writer.close()

    async def _run(self, writer: InboxWriter) -> None:
        while True:
            await self._wakeup.wait()
            batch = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
            if not self._waiting:
                self._wakeup.clear()
            if batch:
                await self._flush(writer, batch)

    async def _flush(
        self, writer: InboxWriter, batch: list[tuple[InboxRow, asyncio.Future[bool]]]
    ) -> None:
        unique: dict[str, InboxRow] = {}
        for row, _ in batch:  # arrival order; a repeated id is inserted once
            unique.setdefault(row.message_id, row)
        try:
            inserted = await writer.insert(list(unique.values()))
        except asyncio.CancelledError:  # shutting down mid-commit: unknown outcome, sender retries
            _settle(batch, error=StoreUnavailable("the receiver stopped during the commit"))
            raise
        except StoreUnavailable as exc:
            log.warning("inbox write failed, %d request(s) answered 503: %s", len(batch), exc)
            _settle(batch, error=exc)
            return
        except Exception as exc:  # a bug, not the database: keep the writer alive, say so loudly
            log.exception("inbox write failed unexpectedly")
            _settle(batch, error=StoreUnavailable(f"unexpected {type(exc).__name__}"))
            return
        _settle(batch, inserted=inserted)


def _settle(
    batch: list[tuple[InboxRow, asyncio.Future[bool]]],
    *,
    inserted: set[str] | None = None,
    error: StoreUnavailable | None = None,
) -> None:
    """Answer every request of a batch; of repeated ids in one batch only the first is new."""
    first = set(inserted or ())
    for row, future in batch:
        if future.done():  # the request was cancelled (client gone); its row is stored anyway
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(row.message_id in first)
            first.discard(row.message_id)
