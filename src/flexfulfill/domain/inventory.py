"""Stock rules: a sale moves stock down by the quantity sold; below zero is a backorder.

A customer who has paid is never refused: selling past zero records the sale, flags the order
line as backordered and warns the merchant instead.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Movement:
    """The outcome of one stock change for one product."""

    product_id: str
    delta: int
    on_hand_after: int

    @property
    def backordered(self) -> bool:
        """Whether the product is oversold after this movement."""
        return self.on_hand_after < 0


def sale_delta(quantity: int) -> int:
    """The stock change of selling ``quantity`` units."""
    return -abs(quantity)


def restock_delta(quantity: int) -> int:
    """The stock change of putting ``quantity`` units back (a refund with restocking on)."""
    return abs(quantity)


def is_low(on_hand: int, threshold: int) -> bool:
    """Whether stock should be shown as running low."""
    return on_hand <= threshold
