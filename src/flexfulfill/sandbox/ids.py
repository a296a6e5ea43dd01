"""Flex-style ids: a prefix and a ULID (26 Crockford base32 characters)."""

from __future__ import annotations

from ulid import ULID

# Prefixes Flex documents, and the ones the sandbox chose where Flex is silent (docs/sandbox.md).
PREFIXES = {
    "checkout_session": "fcs_",
    "product": "fprod_",
    "price": "fprice_",
    "customer": "fcus_",
    "subscription": "fsub_",
    "subscription_item": "fsi_",
    "payment_link": "fplink_",
    "payment_intent": "fpi_",
    "payment_method": "fpm_",
    "charge": "fch_",
    "refund": "fref_",
    "invoice": "finv_",
    "event": "fevt_",
    "webhook": "fwh_",
    "line_item": "fli_",
    "shipping": "fsh_",
    "message": "msg_",
    "attempt": "atmpt_",
}


def new_id(kind: str) -> str:
    """A fresh id for an object of ``kind`` (a key of :data:`PREFIXES`)."""
    return f"{PREFIXES[kind]}{ULID()}"
