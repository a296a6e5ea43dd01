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


def key_is_test(api_key: str | None) -> bool:
    """Whether a Flex API key is a test-mode key (``fsk_test_…``); no key counts as test."""
    return api_key is None or api_key.startswith("fsk_test_")


def mode_mismatch(event_test_mode: bool | None, key_test_mode: bool) -> bool:
    """Whether an event belongs to the other mode than the configured key (so it is ignored).

    An event that does not say its mode is processed: the API reads that follow are made with
    the configured key, which only sees its own mode's objects.
    """
    return event_test_mode is not None and event_test_mode != key_test_mode
