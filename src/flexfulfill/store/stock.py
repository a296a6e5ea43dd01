"""Stock on hand per Flex product, and the movements that change it.

Every change is a row in ``stock_movements``; a movement caused by an order line is UNIQUE per
(line, reason), so replaying a sale or a restock changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
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


@dataclass(frozen=True)
class Sale:
    """One line of a new order, to be taken out of stock."""

    order_line_id: int
    product_id: str
    quantity: int


async def sell(conn: AsyncConnection, sales: Sequence[Sale], now: float) -> list[Movement]:
    """The sale movements of order lines created in this same transaction, in ``sales`` order.

    The lines are new, so no movement can exist for them yet. Each product's stock is updated
    once for all its lines (one atomic ``on_hand = on_hand + total``, products in the order
    they first appear, so callers pass sales sorted by product to lock stock rows in one
    order); each line's ``on_hand_after`` is then what a movement per line, taken in ``sales``
    order, would have left. All movements are recorded in one statement.
    """
    totals: dict[str, int] = {}
    for sale in sales:
        totals[sale.product_id] = totals.get(sale.product_id, 0) + sale_delta(sale.quantity)
    # Each product's level before this call: its level after, less what this call took out.
    level = {p: await _add(conn, p, total, now) - total for p, total in totals.items()}
    movements = []
    for sale in sales:
        delta = sale_delta(sale.quantity)
        level[sale.product_id] += delta
        movements.append(Movement(sale.product_id, delta, level[sale.product_id]))
    if movements:
        rows = [_sale_row(sale, m, now) for sale, m in zip(sales, movements, strict=True)]
        await conn.execute(stock_movements.insert(), rows)
    return movements


def _sale_row(sale: Sale, movement: Movement, now: float) -> dict[str, object]:
    return {
        "product_id": sale.product_id,
        "order_line_id": sale.order_line_id,
        "reason": MovementReason.SALE,
        "delta": movement.delta,
        "on_hand_after": movement.on_hand_after,
        "actor": "fulfillment",
        "note": None,
        "created_at": now,
    }


async def _add(conn: AsyncConnection, product_id: str, delta: int, now: float) -> int:
    """Add ``delta`` to a product's stock (an untracked product starts at 0); the new level."""
    params = {"product": product_id, "delta": delta, "now": now}
    after = (await conn.execute(_ADD, params)).scalar_one_or_none()
    if after is None:
        await _ensure(conn, product_id, now, None)
        after = (await conn.execute(_ADD, params)).scalar_one()
    return int(after)


# Built once, run with parameters (no per-call statement building on the hot path).
_ADD = (
    update(stock)
    .where(stock.c.product_id == bindparam("product"))
    .values(on_hand=stock.c.on_hand + bindparam("delta"), updated_at=bindparam("now"))
    .returning(stock.c.on_hand)
)


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
