"""Test cards: which succeed, which decline and how (API.md §5; Stripe's numbers where Flex's
table could not be read). Only the last four digits are ever stored; numbers are never logged.
"""

from __future__ import annotations

from dataclasses import dataclass

SUCCEEDS = {
    "4242424242424242": "visa",
    "4000056655665556": "visa",  # debit
    "5555555555554444": "mastercard",
}


@dataclass(frozen=True)
class Decline:
    code: str
    decline_code: str
    message: str


DECLINES = {
    "4000000000009995": Decline(
        "card_declined", "insufficient_funds", "Your card has insufficient funds."
    ),
    "4000000000000002": Decline("card_declined", "generic_decline", "Your card was declined."),
}


class UnknownCard(ValueError):
    """Not a sandbox test card (real card numbers are refused in test mode)."""


def normalize(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


def charge(number: str) -> tuple[str, Decline | None]:
    """The card's brand and its decline, if it declines; raises :class:`UnknownCard`."""
    digits = normalize(number)
    if digits in SUCCEEDS:
        return SUCCEEDS[digits], None
    if digits in DECLINES:
        return "visa", DECLINES[digits]
    raise UnknownCard(
        "not a test card: use 4242 4242 4242 4242 (success) or 4000 0000 0000 9995 (decline)"
    )


def last4(number: str) -> str:
    return normalize(number)[-4:]
