"""Engines for SQLite (the embedded default) and PostgreSQL (at scale).

SQLite runs in WAL mode with ``synchronous=FULL``: an acknowledged webhook survives power
loss, not just a process crash. PostgreSQL keeps its default ``synchronous_commit=on``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.util import await_only

BUSY_TIMEOUT_MS = 30000
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    "PRAGMA foreign_keys=ON",
)


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """Build the engine for ``url`` (already normalized by :mod:`flexfulfill.config`).

    On SQLite every transaction is ``BEGIN IMMEDIATE`` (one writer at a time, and no
    deferred-to-write upgrade that fails with "database is locked"); a connection with the
    execution option ``readonly=True`` begins a plain deferred transaction instead.
    """
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


@asynccontextmanager
async def reading(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection for reads: a deferred transaction on SQLite (never waits for a writer);
    autocommit on PostgreSQL (no BEGIN/ROLLBACK round trips for a lookup)."""
    async with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            yield await conn.execution_options(isolation_level="AUTOCOMMIT")
        else:
            yield await conn.execution_options(readonly=True)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module (it would BEGIN lazily and
    # deferred); the "begin" hook below emits the BEGIN SQLAlchemy asks for.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    if conn.get_execution_options().get("readonly", False):
        conn.exec_driver_sql("BEGIN")
        return
    _begin_immediate(conn)


# How often a writer looks again while another connection holds SQLite's write lock, and for
# how long (as long as the busy timeout of every other statement).
WRITE_LOCK_POLL = 0.0005
WRITE_LOCK_WAIT = BUSY_TIMEOUT_MS / 1000


def _begin_immediate(conn: Any) -> None:
    """``BEGIN IMMEDIATE``, retried every 0.5 ms (without blocking the event loop) while
    another connection writes.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25… ms between tries, on aiosqlite's
    thread. Next to receivers that commit every few milliseconds, a worker's transaction lost
    almost every race and waited tens of milliseconds, up to 150 ms per batch
    (bench/fulfillment.py, latency at 50 checkouts/s). The busy timeout is off only for the
    BEGIN; the statements after it wait as before.
    """
    conn.exec_driver_sql("PRAGMA busy_timeout=0")
    deadline = time.monotonic() + WRITE_LOCK_WAIT
    try:
        while True:
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                return
            except OperationalError as exc:
                if not is_busy(exc) or time.monotonic() > deadline:
                    raise
            await_only(asyncio.sleep(WRITE_LOCK_POLL))  # we run in SQLAlchemy's greenlet
    finally:
        conn.exec_driver_sql(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


def is_busy(error: BaseException) -> bool:
    """Whether a sqlite3 error (or SQLAlchemy's wrapper of one) means another writer holds the
    lock: SQLITE_BUSY, extended codes included."""
    orig = error.orig if isinstance(error, OperationalError) else error
    code = getattr(orig, "sqlite_errorcode", None)
    if code is not None:
        return bool(code & 0xFF == sqlite3.SQLITE_BUSY)
    return "database is locked" in str(orig)
