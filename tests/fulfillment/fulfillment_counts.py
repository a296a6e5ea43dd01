"""Row counts for fulfillment tests (a module of its own: test modules import it by name)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.store.tables import metadata


async def count(engine: AsyncEngine, table: str, **where: object) -> int:
    """How many rows of ``table`` match ``where`` (column = value)."""
    t = metadata.tables[table]
    stmt = select(func.count()).select_from(t)
    for column, value in where.items():
        stmt = stmt.where(t.c[column] == value)
    async with engine.connect() as conn:
        return int((await conn.execute(stmt)).scalar_one())
