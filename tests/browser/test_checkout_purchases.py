"""Buyers complete purchases on the hosted page in Chromium, and the merchant gets the order."""

from __future__ import annotations

import pytest
from buyer import (
    DECLINED_CARD,
    fill_card,
    fill_contact,
    fill_intake,
    new_session,
    pay,
    success_url,
)
from stack import Stack
from viewports import DESKTOP, PHONE

pytestmark = pytest.mark.browser


def test_a_buyer_completes_a_plain_purchase_on_a_phone(
    stack: Stack, catalog: dict[str, str], make_page
) -> None:
    """Contact, card, Pay: the browser lands on the merchant's success page and the order exists."""
    session = new_session(stack, [(catalog["thermometer"], 2)], client_reference_id="cart-plain")
    page, shots = make_page(PHONE)
    page.goto(session["redirect_url"])
    shots.take("contact")
    fill_contact(page)
    shots.take("payment")
    fill_card(page)
    pay(page)
    page.wait_for_url(success_url(stack, session["checkout_session_id"]))
    shots.take("success")
    assert "Thank you" in page.inner_text("body")
    order = stack.merchant_order(session["checkout_session_id"])
    assert order.row["amount_total"] == order.row["amount_paid"] == 5998
    customer = stack.sandbox_doc("checkout_session", session["checkout_session_id"])["customer"]
    assert order.row["customer_id"] == customer
    assert stack.merchant_customer_email(customer) == "jane@example.com"
    assert order.row["client_reference_id"] == "cart-plain"
    assert [(line["quantity"], line["amount_total"]) for line in order.lines] == [(2, 5998)]
    assert [(p["payment_card_type"], p["amount_received"]) for p in order.payments] == [
        ("primary", 5998)
    ]
    intent = stack.sandbox_doc("payment_intent", order.payments[0]["payment_intent_id"])
    assert intent["payment_method_details"]["card"]["last4"] == "4242"
    assert not any("4242424242424242" in row for row in stack.sandbox_rows())


def test_a_buyer_pays_a_split_cart_with_two_cards_on_a_desktop(
    stack: Stack, catalog: dict[str, str], make_page
) -> None:
    """The banner explains the split; the HSA/FSA card pays the eligible part, a second the rest."""
    session = new_session(stack, [(catalog["thermometer"], 1), (catalog["gift_wrap"], 1)])
    page, shots = make_page(DESKTOP)
    page.goto(session["redirect_url"])
    fill_contact(page)
    banner = page.inner_text("[data-testid=split-banner]")
    assert "$29.99" in banner
    assert "$5.00" in banner
    fill_card(page)
    fill_card(page, "5555 5555 5555 4444", prefix="second_")
    shots.take("two-cards")
    pay(page)
    page.wait_for_url(success_url(stack, session["checkout_session_id"]))
    shots.take("success")
    order = stack.merchant_order(session["checkout_session_id"])
    assert order.row["amount_total"] == order.row["amount_paid"] == 3499
    paid = sorted((p["payment_card_type"], p["amount_received"]) for p in order.payments)
    assert paid == [("primary", 2999), ("secondary", 500)]
    assert len(order.lines) == 2


def test_a_buyer_starts_a_subscription_after_the_intake_questions(
    stack: Stack, catalog: dict[str, str], make_page
) -> None:
    """A subscription for an LMN product: intake, card, and the merchant sees it active."""
    session = new_session(stack, [(catalog["sleep_program"], 1)], mode="subscription")
    page, shots = make_page(PHONE)
    page.goto(session["redirect_url"])
    fill_contact(page)
    shots.take("intake")
    fill_intake(page)
    fill_card(page)
    assert "Subscribe" in page.inner_text("[data-testid=pay]")
    shots.take("payment")
    pay(page)
    page.wait_for_url(success_url(stack, session["checkout_session_id"]))
    order = stack.merchant_order(session["checkout_session_id"])
    assert order.row["mode"] == "subscription"
    assert order.row["amount_paid"] == 4900
    subscription_id = stack.sandbox_doc("checkout_session", session["checkout_session_id"])[
        "subscription"
    ]
    assert order.row["subscription_id"] == subscription_id
    assert stack.subscription_status(subscription_id, "active") == "active"


def test_a_buyer_answers_the_letter_of_medical_necessity_questions_and_pays(
    stack: Stack, catalog: dict[str, str], make_page
) -> None:
    """Unanswered questions are flagged; the answers are kept on the session; the order exists."""
    session = new_session(stack, [(catalog["massage_chair"], 1)])
    page, shots = make_page(DESKTOP)
    page.goto(session["redirect_url"])
    fill_contact(page)
    page.click("[data-testid=intake-form] button[type=submit]")
    assert page.is_visible("[data-testid=error-condition]")
    assert page.is_visible("[data-testid=error-attest]")
    shots.take("intake-errors")
    fill_intake(page)
    shots.take("payment")
    fill_card(page)
    pay(page)
    page.wait_for_url(success_url(stack, session["checkout_session_id"]))
    stored = stack.sandbox_doc("checkout_session", session["checkout_session_id"])
    assert stored["_intake_answers"]["answers"]["condition"] == "Chronic lower back pain"
    assert stored["letter_of_medical_necessity_required"] is True
    order = stack.merchant_order(session["checkout_session_id"])
    assert [line["hsa_fsa_eligibility"] for line in order.lines] == ["letter_of_medical_necessity"]
    assert order.row["amount_paid"] == 9900


def test_a_declined_card_is_explained_and_another_card_completes_the_purchase(
    stack: Stack, catalog: dict[str, str], make_page
) -> None:
    """4000000000009995 declines with a clear message; 4242… then pays; one order, one payment."""
    session = new_session(stack, [(catalog["thermometer"], 1)])
    since = stack.last_event_seq()
    page, shots = make_page(PHONE)
    page.goto(session["redirect_url"])
    fill_contact(page)
    fill_card(page, DECLINED_CARD)
    pay(page)
    notice = page.inner_text("[data-testid=notice]")
    assert "declined" in notice
    assert "try another card" in notice
    shots.take("declined")
    fill_card(page)
    pay(page)
    page.wait_for_url(success_url(stack, session["checkout_session_id"]))
    events = stack.event_types_since(since)
    assert events.index("payment_intent.payment_failed") < events.index("payment_intent.succeeded")
    assert events.count("customer.created") == 1
    order = stack.merchant_order(session["checkout_session_id"])
    assert [p["amount_received"] for p in order.payments] == [2999]
    assert stack.merchant_orders(session["checkout_session_id"]) == 1
