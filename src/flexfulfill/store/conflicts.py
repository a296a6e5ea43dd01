"""INSERT … ON CONFLICT written once for both engines: UNIQUE constraints decide races."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


def _insert(conn: AsyncConnection, table: Table) -> Any:
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)


async def insert_or_ignore(
    conn: AsyncConnection, table: Table, values: Mapping[str, Any], conflict: Sequence[str]
) -> int | None:
    """Insert a row unless one with the same ``conflict`` key exists; the new id, else None.

    On PostgreSQL a concurrent inserter of the same key makes this wait for its commit and then
    do nothing, so exactly one of two racing transactions gets an id back.
    """
    stmt = _insert_or_ignore(conn.dialect.name, table, tuple(conflict))
    result = await conn.execute(stmt, dict(values))
    return result.scalar_one_or_none()


@cache
def _insert_or_ignore(dialect: str, table: Table, conflict: tuple[str, ...]) -> Any:
    # Built once; the row goes in as execute() parameters, not .values(): SQLAlchemy then
    # neither rebuilds nor re-coerces the statement for every row.
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(table)
    return insert.on_conflict_do_nothing(index_elements=list(conflict)).returning(table.c.id)


async def upsert(
    conn: AsyncConnection,
    table: Table,
    values: Mapping[str, Any],
    conflict: Sequence[str],
    update: Mapping[str, Any],
) -> None:
    """Insert a row, or update ``update`` columns of the existing row with the same key."""
    stmt = _insert(conn, table).on_conflict_do_update(index_elements=conflict, set_=dict(update))
    await conn.execute(stmt, dict(values))


def excluded(conn: AsyncConnection, table: Table, column: str) -> Any:
    """The ``excluded.<column>`` of an upsert (the value that was about to be inserted)."""
    return getattr(_excluded(conn.dialect.name, table), column)


@cache
def _excluded(dialect: str, table: Table) -> Any:
    # Building ``excluded`` aliases every column of the table: done once per table, not per
    # statement (it was the largest single cost of committing an order).
    return (postgresql if dialect == "postgresql" else sqlite).insert(table).excluded
