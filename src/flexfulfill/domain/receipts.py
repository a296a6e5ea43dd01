"""The receipt of one order, as fulfillment snapshots it into the outbox and mail renders it.

Fulfillment writes a :class:`Receipt` as the payload of the order's outbox row (kind
``receipt``) in the same transaction as the order; the sender renders exactly that snapshot,
so a re-send after a crash is the same message (same content, same ``Message-ID``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

OUTBOX_KIND_RECEIPT = "receipt"


@dataclass(frozen=True)
class ReceiptLine:
    description: str
    quantity: int
    unit_amount: int  # cents
    amount_total: int  # cents
    hsa_fsa_eligibility: str | None = None


@dataclass(frozen=True)
class ReceiptPayment:
    payment_intent_id: str
    amount: int  # cents received on this card
    hsa_fsa: bool  # True for the HSA/FSA card ("primary") of a split cart or a fully eligible cart
    card_last4: str | None = None


@dataclass(frozen=True)
class ReceiptSubscription:
    subscription_id: str
    status: str
    period_start: float | None = None  # Unix seconds
    period_end: float | None = None
    next_renewal: float | None = None
    interval: str | None = None


@dataclass(frozen=True)
class Receipt:
    order_id: int
    checkout_session_id: str
    email: str
    created_at: float  # Unix seconds
    lines: tuple[ReceiptLine, ...]
    amount_subtotal: int
    amount_tax: int
    amount_shipping: int
    amount_discount: int
    amount_total: int
    customer_name: str | None = None
    payments: tuple[ReceiptPayment, ...] = ()
    subscription: ReceiptSubscription | None = None
    test_mode: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def order_number(self) -> str:
        """The number a customer quotes: stable, short, derived from the order id."""
        return f"FF-{self.order_id:06d}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> Receipt:
        data = json.loads(raw)
        data["lines"] = tuple(ReceiptLine(**line) for line in data.get("lines", ()))
        data["payments"] = tuple(ReceiptPayment(**p) for p in data.get("payments", ()))
        sub = data.get("subscription")
        data["subscription"] = ReceiptSubscription(**sub) if sub else None
        return cls(**data)


def receipt_key(checkout_session_id: str) -> str:
    """The outbox key of an order's receipt: UNIQUE (kind, key) makes it one per order."""
    return f"receipt:{checkout_session_id}"


def receipt_message_id(
    order_id: int, checkout_session_id: str, domain: str, resend: int = 0
) -> str:
    """A stable ``Message-ID``: the same order (and resend number) always gets the same one."""
    suffix = f".resend{resend}" if resend else ""
    return f"<receipt.{order_id}.{checkout_session_id}{suffix}@{domain}>"
