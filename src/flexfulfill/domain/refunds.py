"""Refund rules: which refunds count, and what they make of the order's status."""

from __future__ import annotations

from flexfulfill.flex import RefundStatus
from flexfulfill.store.statuses import OrderStatus

# Only money that actually went back counts; a pending refund may still fail.
COUNTED = frozenset({RefundStatus.SUCCEEDED.value})


def counts(status: str | None) -> bool:
    """Whether a refund in this status reduces what the customer paid."""
    return status in COUNTED


def order_status(amount_total: int, amount_refunded: int) -> OrderStatus:
    """Paid, partly refunded or refunded, from the order total and the refunded sum."""
    if amount_refunded <= 0:
        return OrderStatus.PAID
    if amount_refunded >= amount_total:
        return OrderStatus.REFUNDED
    return OrderStatus.PARTIALLY_REFUNDED
