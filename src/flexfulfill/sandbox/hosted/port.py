"""What the hosted page needs from the sandbox, as one small port.

The page renders a :class:`CheckoutView` and hands a :class:`Payment` to
:meth:`CheckoutBackend.pay`; the sandbox's adapter (``backend.py``) answers both from the
sandbox's own store and runs the sandbox's one checkout flow, so the page and
``POST /v1/test_helpers/checkout_sessions/{id}/complete`` cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from flexfulfill.sandbox.hosted.forms import Card, Contact

SESSION_ID_PLACEHOLDERS = ("{CHECKOUT_SESSION_ID}", "%7BCHECKOUT_SESSION_ID%7D")


@dataclass(frozen=True)
class ViewLine:
    description: str
    quantity: int
    unit_amount: int
    amount_total: int
    eligible: bool
    needs_letter: bool
    recurring: str | None = None  # e.g. "month", "3 months"


@dataclass(frozen=True)
class CheckoutView:
    """A checkout session as the page shows it; amounts in cents."""

    session_id: str
    status: str
    mode: str
    merchant_name: str
    lines: tuple[ViewLine, ...]
    card_amounts: tuple[int, ...]  # what each card pays: two amounts for a split cart
    amount_subtotal: int
    amount_total: int
    amount_tax: int = 0
    amount_shipping: int = 0
    amount_discount: int = 0
    success_url: str | None = None
    cancel_url: str | None = None
    defaults: dict[str, str] = field(default_factory=dict)
    test_mode: bool = True

    @property
    def is_split(self) -> bool:
        """Some lines are HSA/FSA-eligible and some are not: two cards pay."""
        return len(self.card_amounts) > 1

    @property
    def eligible_amount(self) -> int:
        """What the first (HSA/FSA) card pays."""
        return self.card_amounts[0]

    @property
    def other_amount(self) -> int:
        """What the second card pays for the lines that are not eligible."""
        return sum(self.card_amounts[1:])

    @property
    def needs_letter(self) -> bool:
        return any(line.needs_letter for line in self.lines)

    def success_redirect(self) -> str | None:
        """``success_url`` with Flex's ``{CHECKOUT_SESSION_ID}`` replaced by the id."""
        if self.success_url is None:
            return None
        url = self.success_url
        for placeholder in SESSION_ID_PLACEHOLDERS:
            url = url.replace(placeholder, self.session_id)
        return url


@dataclass(frozen=True)
class Payment:
    """Everything the buyer entered; ``second_card`` pays the non-eligible part of a split cart."""

    contact: Contact
    card: Card
    second_card: Card | None = None
    intake: dict[str, str] | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class PayOutcome:
    """``completed`` or, when a card was declined, the message to show and which card."""

    completed: bool
    decline_message: str | None = None
    declined_card: str = "card"  # "card" or "second_card"


@dataclass(frozen=True)
class Prefill:
    """Flex's Payment Link query parameters."""

    client_reference_id: str | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None


class LinkUnavailable(Exception):
    """The payment link does not exist or is not active; the message says which."""


class CheckoutBackend(Protocol):
    async def view(self, session_id: str) -> CheckoutView | None:
        """The session as the page shows it, or ``None`` when there is no such session."""

    async def save_intake(self, session_id: str, answers: dict[str, str]) -> None:
        """Keep the intake answers on the session."""

    async def pay(self, session_id: str, payment: Payment) -> PayOutcome:
        """Run the sandbox's checkout flow, exactly as the test helper does."""

    async def session_from_link(self, link_id: str, prefill: Prefill, base_url: str) -> str:
        """A new checkout session from a payment link; raises :class:`LinkUnavailable`.

        ``base_url`` is the sandbox's origin, for the session's ``redirect_url``.
        """
