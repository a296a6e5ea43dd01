"""The sandbox's hot statements in one driver round trip each on SQLite.

Why by hand: through SQLAlchemy's asyncio adapter, every statement on aiosqlite costs three or
four hops to aiosqlite's thread (cursor, execute, fetch, close), each a GIL hand-over. Counted
with bench/sandbox_api.py, a checkout with its deliveries made about 57 such hops, and the
profile showed the event loop spending about a quarter of its time handing work to that thread.
``aiosqlite.Connection.executemany`` and ``execute_fetchall`` do the same work in one hop. The
SQL is still SQLAlchemy's, compiled once per statement for the connection's dialect, and runs
inside the same transaction (same DBAPI connection); any other driver (PostgreSQL) goes through
SQLAlchemy as before. Values must be plain (str, int, float, bool, None, bytes), which is all
these tables hold; a sqlite3 error still rolls the transaction back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import UpdateBase

Statement = UpdateBase | Select[Any]
# (statement, parameter names) → (SQL text, parameter names in placeholder order, the values
# written into the statement itself). Keyed by the statement object: callers pass module-level
# constants, so this stays small.
_compiled: dict[tuple[Statement, tuple[str, ...]], tuple[str, list[str], dict[str, Any]]] = {}


def _sql(
    conn: AsyncConnection, statement: Statement, keys: tuple[str, ...]
) -> tuple[str, list[str], dict[str, Any]]:
    found = _compiled.get((statement, keys))
    if found is None:
        compiled = statement.compile(dialect=conn.dialect, column_keys=list(keys))
        # Values written into the statement (``status == "pending"``, OFFSET 0) are binds too.
        fixed = {k: v for k, v in compiled.params.items() if k not in keys}
        found = (compiled.string, list(compiled.positiontup or ()), fixed)
        _compiled[(statement, keys)] = found
    return found


def _values(order: list[str], fixed: dict[str, Any], row: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(row[k] if k in row else fixed[k] for k in order)


async def fetch_all(
    conn: AsyncConnection, statement: Select[Any], params: Mapping[str, Any]
) -> list[tuple[Any, ...]]:
    """The rows of ``statement`` (a module-level constant), in one round trip on SQLite.

    On SQLite it runs outside any transaction SQLAlchemy began, as a statement of its own
    (itself atomic), unless the connection is already in one."""
    if conn.dialect.driver != "aiosqlite":
        return [tuple(row) for row in await conn.execute(statement, dict(params))]
    sql, order, fixed = _sql(conn, statement, tuple(params))
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    return [tuple(row) for row in await driver.execute_fetchall(sql, _values(order, fixed, params))]


async def execute_many(
    conn: AsyncConnection, statement: UpdateBase, rows: Sequence[Mapping[str, Any]]
) -> int:
    """Run ``statement`` (a module-level constant) once per row, in one round trip on SQLite;
    returns the rows it changed (-1 where the driver cannot tell)."""
    if conn.dialect.driver != "aiosqlite":
        return int((await conn.execute(statement, list(rows))).rowcount)
    sql, order, fixed = _sql(conn, statement, tuple(rows[0]))
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    cursor = await driver.executemany(sql, [_values(order, fixed, row) for row in rows])
    return int(cursor.rowcount)
