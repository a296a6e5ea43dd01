"""Engines for SQLite (the embedded default) and PostgreSQL (at scale).

SQLite runs in WAL mode with ``synchronous=FULL``: an acknowledged webhook survives power
loss, not just a process crash. PostgreSQL keeps its default ``synchronous_commit=on``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA busy_timeout=30000",
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


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module (it would BEGIN lazily and
    # deferred); the "begin" hook below emits the BEGIN SQLAlchemy asks for.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    readonly = conn.get_execution_options().get("readonly", False)
    conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")
