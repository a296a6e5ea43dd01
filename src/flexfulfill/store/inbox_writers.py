"""The inbox writers: dedicated connections that insert a batch in one transaction.

Outside the SQLAlchemy pool, one kind per engine: one ``sqlite3`` connection on its own thread
(one thread hop per batch), or ``asyncpg`` connections (one round trip per batch each). Reads
and every other write use the ordinary engine.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import asyncpg  # type: ignore[import-untyped]  # ships no type information
from sqlalchemy.engine import URL, make_url

from flexfulfill.store.db import BUSY_TIMEOUT_MS, SQLITE_PRAGMAS, WRITE_LOCK_WAIT, is_busy
from flexfulfill.store.inbox import InboxRow, InboxWriter, StoreUnavailable

_COLUMNS = (
    "message_id, event_id, event_type, test_mode, body, headers, received_at, status, "
    "attempts, next_attempt_at, last_error"
)


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
    unavailable store, not a new empty file. Writers of several ``serve`` processes take turns
    through an ``flock`` on ``<database>-inbox.lock``: a waiting writer wakes the moment the lock
    is free, where SQLite's own busy handler would sleep for milliseconds.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inbox-writer")
        self._conn: sqlite3.Connection | None = None
        self._lock: int | None = None

    async def insert(self, rows: Sequence[InboxRow]) -> set[str]:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._thread, self._insert, rows)
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(f"SQLite: {exc}") from exc

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._shut)
        self._thread.shutdown(wait=True)

    def _insert(self, rows: Sequence[InboxRow]) -> set[str]:
        # Few statements, few result rows: every sqlite3 call hands the GIL back and forth with
        # the busy event loop thread, so a RETURNING row per insert costs more than one SELECT.
        # Inside BEGIN IMMEDIATE no other writer can add an id between the SELECT and the INSERT.
        conn = self._connection()
        ids = [r.message_id for r in rows]
        fcntl.flock(self._lock_fd(), fcntl.LOCK_EX)
        try:
            _begin_immediate(conn)
            known = {r[0] for r in conn.execute(_sqlite_known(len(ids)), ids)}
            new = [r for r in rows if r.message_id not in known]
            if new:
                conn.execute(_sqlite_insert(len(new)), _sqlite_params(new))
            conn.execute("COMMIT")
        except sqlite3.Error:
            self._disconnect()  # a fresh connection next time; the rollback is implied
            raise
        finally:
            fcntl.flock(self._lock_fd(), fcntl.LOCK_UN)
        return {r.message_id for r in new}

    def _lock_fd(self) -> int:
        if self._lock is None:
            self._lock = os.open(f"{self._path}-inbox.lock", os.O_RDWR | os.O_CREAT, 0o600)
        return self._lock

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

    def _shut(self) -> None:
        self._disconnect()
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None


# How often the inbox writer looks again while another process (a worker) holds the lock.
WRITE_LOCK_POLL = 0.0002


def _begin_immediate(conn: sqlite3.Connection) -> None:
    """``BEGIN IMMEDIATE``, retried every 0.2 ms while another connection writes.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25… ms between tries, so a worker
    transaction of a few milliseconds cost every acknowledgement waiting behind it tens of
    milliseconds (bench/isolation.py: p99 125 ms while a worker drained a backlog). This thread
    does nothing else meanwhile, so it looks again at once; the busy timeout is off only for
    the BEGIN and back on for the statements after it.
    """
    conn.execute("PRAGMA busy_timeout=0")
    deadline = time.monotonic() + WRITE_LOCK_WAIT
    try:
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not is_busy(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(WRITE_LOCK_POLL)
    finally:
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


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
