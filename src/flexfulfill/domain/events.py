"""The Flex event types this system acts on (the receiver stores any other type as ignored)."""

from __future__ import annotations

CHECKOUT_COMPLETED = "checkout.session.completed"
# Flex's fulfillment guide spells it this way once; both spellings fulfill.
CHECKOUT_COMPLETED_ALT = "checkout_session.completed"

HANDLED_EVENT_TYPES: frozenset[str] = frozenset(
    {
        CHECKOUT_COMPLETED,
        CHECKOUT_COMPLETED_ALT,
        "payment_intent.succeeded",
        "customer.created",
        "customer.updated",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "invoice.payment_succeeded",
        "refund.created",
        "refund.updated",
    }
)


def is_handled(event_type: str | None) -> bool:
    """Whether a stored event of this type waits for the worker (else it is ignored)."""
    return event_type in HANDLED_EVENT_TYPES
