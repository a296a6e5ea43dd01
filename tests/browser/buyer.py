"""What a buyer does on the hosted page, step by step (Playwright, sync API)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page
from stack import Stack

GOOD_CARD = "4242 4242 4242 4242"
DECLINED_CARD = "4000 0000 0000 9995"
ANSWERS = {"condition": "Chronic lower back pain", "duration": "Two years"}


def new_session(stack: Stack, lines: list[tuple[str, int]], **extra: Any) -> dict[str, Any]:
    """A checkout session the merchant creates, returning to its real success page."""
    body = {
        "line_items": [{"price": price, "quantity": qty} for price, qty in lines],
        "success_url": f"{stack.merchant_url}/checkout/success?session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"{stack.merchant_url}/cart",
        **extra,
    }
    return dict(
        stack.api("POST", "/v1/checkout/sessions", {"checkout_session": body})["checkout_session"]
    )


def success_url(stack: Stack, session_id: str) -> str:
    return f"{stack.merchant_url}/checkout/success?session_id={session_id}"


def fill_contact(page: Page, **given: str) -> None:
    fields = {
        "email": "jane@example.com",
        "first_name": "Jane",
        "last_name": "Doe",
        "phone": "(555) 010-4242",
        **given,
    }
    for name, value in fields.items():
        page.fill(f"#{name}", value)
    page.click("[data-testid=contact-form] button[type=submit]")


def fill_intake(page: Page) -> None:
    page.fill("#condition", ANSWERS["condition"])
    page.check("input[name=diagnosed][value=yes]")
    page.fill("#duration", ANSWERS["duration"])
    page.check("input[name=attest]")
    page.click("[data-testid=intake-form] button[type=submit]")


def fill_card(page: Page, number: str = GOOD_CARD, prefix: str = "") -> None:
    page.fill(f"#{prefix}card_number", number)
    page.fill(f"#{prefix}expiry", "12/34")
    page.fill(f"#{prefix}cvc", "123")
    page.fill(f"#{prefix}postal_code", "90210")


def pay(page: Page) -> None:
    page.click("[data-testid=pay]")
