"""Objects as the API shows them: through flexfulfill.flex's models, so client and sandbox agree.

Stored documents may carry private fields (names starting with ``_``); they never leave here.
``None`` values are left out: the contract (openapi-subset.yaml) types several fields as
non-nullable, and Flex's clients treat a missing field as absent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flexfulfill.flex import (
    CheckoutSession,
    Customer,
    FlexModel,
    Invoice,
    LineItem,
    PaymentIntent,
    PaymentLink,
    Price,
    Product,
    Refund,
    Subscription,
    Webhook,
)

Doc = dict[str, Any]

MODELS: dict[str, type[FlexModel]] = {
    "checkout_session": CheckoutSession,
    "customer": Customer,
    "invoice": Invoice,
    "line_item": LineItem,
    "payment_intent": PaymentIntent,
    "payment_link": PaymentLink,
    "price": Price,
    "product": Product,
    "refund": Refund,
    "subscription": Subscription,
    "webhook": Webhook,
}

ID_FIELDS = {kind: f"{kind}_id" for kind in MODELS}


def public(doc: Doc) -> Doc:
    """The document without its private (``_``-prefixed) fields."""
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def present(kind: str, doc: Doc) -> Doc:
    """Validate through the Flex model of ``kind`` and dump as JSON-ready data."""
    model = MODELS[kind].model_validate(public(doc))
    return model.model_dump(mode="json", exclude_none=True)


def iso(ts: float) -> str:
    """Unix seconds as the ISO-8601 UTC text Flex uses in ``created_at`` fields."""
    text = datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds")
    return text.replace("+00:00", "Z")
