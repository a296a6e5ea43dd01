"""A subscription's state as the Flex API reports it, and which of two fetches is newer.

Subscription events are never applied from their body: the handler re-fetches the
subscription, and the row keeps the time of the fetch it came from. A fetch that started
earlier never overwrites one that started later, so events handled in any order (or
concurrently) converge to what the API reports after the last change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flexfulfill.flex import Invoice, Price, Subscription


@dataclass(frozen=True)
class SubscriptionState:
    subscription_id: str
    customer_id: str | None
    status: str
    price_id: str | None
    current_period_start: float | None
    current_period_end: float | None
    cancel_at_period_end: bool
    latest_invoice: str | None

    @classmethod
    def from_api(cls, sub: Subscription) -> SubscriptionState:
        customer = sub.customer
        return cls(
            subscription_id=sub.subscription_id,
            customer_id=customer
            if isinstance(customer, str) or customer is None
            else (customer.customer_id),
            status=sub.status or "unknown",
            price_id=_price_id(sub),
            current_period_start=parse_time(sub.current_period_start),
            current_period_end=parse_time(sub.current_period_end),
            cancel_at_period_end=sub.cancel_at_period_end,
            latest_invoice=_invoice_id(sub.latest_invoice),
        )


def is_newer(fetched_at: float, stored_fetched_at: float | None) -> bool:
    """Whether a fetch that started at ``fetched_at`` may replace the stored state."""
    return stored_fetched_at is None or fetched_at >= stored_fetched_at


def parse_time(value: str | int | float | None) -> float | None:
    """Unix seconds from Flex's ISO-8601 strings (or integers); None when absent or unreadable."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _price_id(sub: Subscription) -> str | None:
    if not sub.items:
        return None
    price = sub.items[0].price
    return price.price_id if isinstance(price, Price) else price


def _invoice_id(invoice: str | Invoice | None) -> str | None:
    return invoice.invoice_id if isinstance(invoice, Invoice) else invoice
