"""The Flex reads fulfillment needs, as a port: :class:`flexfulfill.flex.FlexClient` fits it.

Unit tests pass a fake with these methods; everything else passes the real client, which
raises :class:`flexfulfill.flex.FlexError` subclasses (NotFoundError, RateLimitedError, …).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from flexfulfill.flex import (
    CheckoutSession,
    Customer,
    LineItem,
    PaymentIntent,
    Product,
    Refund,
    Subscription,
)


class FlexReader(Protocol):
    """Read-only Flex API calls, each re-fetching the current state of one object."""

    async def get_checkout_session(self, session_id: str, **flags: Any) -> CheckoutSession:
        """``flags``: Flex's query flags, e.g. ``expand_payment_intent=True``; a reader may
        ignore them (fulfillment fetches whatever came back unexpanded)."""
        ...

    async def list_line_items(self, session_id: str, /) -> list[LineItem]: ...

    def list_checkout_sessions(
        self, *, status: str | None = None, limit: int = 100, **filters: Any
    ) -> AsyncIterator[CheckoutSession]: ...

    async def get_payment_intent(self, payment_intent_id: str, /) -> PaymentIntent: ...

    async def get_subscription(self, subscription_id: str, /) -> Subscription: ...

    async def get_refund(self, refund_id: str, /) -> Refund: ...

    async def get_customer(self, customer_id: str, /) -> Customer: ...


class ProductLister(Protocol):
    """The one call `flexfulfill stock import --from-flex` makes."""

    def list_products(self, *, limit: int = 100, **filters: Any) -> AsyncIterator[Product]: ...
