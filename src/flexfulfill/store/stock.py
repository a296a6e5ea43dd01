"""Stock on hand per Flex product, and the movements that change it.

Every change is a row in ``stock_movements``; a movement caused by an order line is UNIQUE per
(line, reason), so replaying a sale or a restock changes nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from flexfulfill.domain.inventory import Movement, sale_delta
from flexfulfill.store.conflicts import insert_or_ignore
from flexfulfill.store.statuses import MovementReason
from flexfulfill.store.tables import stock, stock_movements


@dataclass(frozen=True)
class StockLevel:
    product_id: str
    name: str | None
    on_hand: int
    low_stock_threshold: int
    updated_at: float


async def _ensure(conn: AsyncConnection, product_id: str, now: float, name: str | None) -> None:
    values = {"product_id": product_id, "name": name, "on_hand": 0, "updated_at": now}
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    await conn.execute(dialect.insert(stock).values(**values).on_conflict_do_nothing())


async def move(
    conn: AsyncConnection,
    *,
    product_id: str,
    delta: int,
    reason: MovementReason,
    now: float,
    order_line_id: int | None = None,
    actor: str = "fulfillment",
    note: str | None = None,
) -> Movement | None:
    """Apply one movement; None if this line already has a movement for ``reason``.

    The movement row is inserted first, so its UNIQUE key decides; the stock update is a
    single atomic ``on_hand = on_hand + delta`` and never a read-modify-write.
    """
    values = {
        "product_id": product_id,
        "order_line_id": order_line_id,
        "reason": reason,
        "delta": delta,
        "on_hand_after": 0,
        "actor": actor,
        "note": note,
        "created_at": now,
    }
    movement_id = await insert_or_ignore(conn, stock_movements, values, ["order_line_id", "reason"])
    if movement_id is None:
        return None
    after = await _add(conn, product_id, delta, now)
    await conn.execute(
        update(stock_movements)
        .where(stock_movements.c.id == movement_id)
        .values(on_hand_after=after)
    )
    return Movement(product_id, delta, after)


async def sell(
    conn: AsyncConnection, *, product_id: str, quantity: int, order_line_id: int, now: float
) -> Movement:
    """The sale movement of an order line created in this same transaction.

    The line is new, so no movement can exist for it yet: update the stock first and record
    the movement with its result (two statements instead of four).
    """
    delta = sale_delta(quantity)
    after = await _add(conn, product_id, delta, now)
    values = {
        "product_id": product_id,
        "order_line_id": order_line_id,
        "reason": MovementReason.SALE,
        "delta": delta,
        "on_hand_after": after,
        "actor": "fulfillment",
        "created_at": now,
    }
    await conn.execute(stock_movements.insert().values(**values))
    return Movement(product_id, delta, after)


async def _add(conn: AsyncConnection, product_id: str, delta: int, now: float) -> int:
    """Add ``delta`` to a product's stock (an untracked product starts at 0); the new level."""
    stmt = (
        update(stock)
        .where(stock.c.product_id == product_id)
        .values(on_hand=stock.c.on_hand + delta, updated_at=now)
        .returning(stock.c.on_hand)
    )
    after = (await conn.execute(stmt)).scalar_one_or_none()
    if after is None:
        await _ensure(conn, product_id, now, None)
        after = (await conn.execute(stmt)).scalar_one()
    return int(after)


async def set_level(
    conn: AsyncConnection,
    product_id: str,
    on_hand: int,
    *,
    now: float,
    name: str | None = None,
    actor: str = "cli",
    reason: MovementReason = MovementReason.ADJUST,
) -> Movement | None:
    """Set a product's stock to ``on_hand`` (recorded as a movement); None if unchanged."""
    await _ensure(conn, product_id, now, name)
    if name is not None:
        await conn.execute(update(stock).where(stock.c.product_id == product_id).values(name=name))
    current = await level(conn, product_id)
    delta = on_hand - (current.on_hand if current else 0)
    if delta == 0:
        return None
    return await move(conn, product_id=product_id, delta=delta, reason=reason, now=now, actor=actor)


async def level(conn: AsyncConnection, product_id: str) -> StockLevel | None:
    row = (await conn.execute(select(stock).where(stock.c.product_id == product_id))).first()
    return StockLevel(*row) if row else None


async def levels(conn: AsyncConnection) -> list[StockLevel]:
    """Every tracked product's stock, by product id."""
    rows = await conn.execute(select(stock).order_by(stock.c.product_id))
    return [StockLevel(*row) for row in rows.all()]
