"""Payment Links, Cancel, closed sessions and double submissions, in Chromium."""

from __future__ import annotations

import pytest
from buyer import GOOD_CARD, fill_card, fill_contact, new_session, pay, success_url
from stack import Stack
from viewports import DESKTOP, PHONE

pytestmark = pytest.mark.browser

CONTACT = {
    "email": "jane@example.com",
    "first_name": "Jane",
    "last_name": "Doe",
    "phone": "5550104242",
}


def test_a_payment_link_opens_a_prefilled_checkout_and_the_order_carries_its_reference(
    stack: Stack, catalog: dict[str, str], make_page
) -> None:
    """Flex's prefill parameters fill the contact form; the merchant's order keeps the reference."""
    redirect = f"{stack.merchant_url}/checkout/success?session_id={{CHECKOUT_SESSION_ID}}"
    link = stack.api(
        "POST",
        "/v1/payment_links",
        {
            "payment_link": {
                "line_items": [{"price": catalog["thermometer"], "quantity": 1}],
                "after_completion": {"type": "redirect", "redirect": {"url": redirect}},
            }
        },
    )["payment_link"]
    query = (
        "client_reference_id=ref-42&email=sam%40example.com"
        "&first_name=Sam&last_name=Lee&phone=5550109999"
    )
    page, shots = make_page(DESKTOP)
    page.goto(f"{link['url']}?{query}")
    assert "/pay/c/fcs_" in page.url
    session_id = page.url.rsplit("/", 1)[1].split("#")[0]
    assert page.input_value("#email") == "sam@example.com"
    assert page.input_value("#first_name") == "Sam"
    shots.take("prefilled")
    page.click("[data-testid=contact-form] button[type=submit]")
    fill_card(page)
    pay(page)
    page.wait_for_url(success_url(stack, session_id))
    shots.take("success")
    order = stack.merchant_order(session_id)
    assert order.row["client_reference_id"] == "ref-42"
    assert stack.merchant_customer_email(order.row["customer_id"]) == "sam@example.com"
    page.goto(link["url"])
    assert session_id not in page.url, "each visit of a link opens a new checkout session"


def test_cancel_returns_the_buyer_to_the_cancel_url_and_orders_nothing(
    stack: Stack, catalog: dict[str, str], make_page
) -> None:
    """Cancel goes to cancel_url without charging; the session stays open and no order appears."""
    session = new_session(stack, [(catalog["thermometer"], 1)])
    page, shots = make_page(PHONE)
    page.goto(session["redirect_url"])
    fill_contact(page)
    shots.take("before-cancel")
    page.click("[data-testid=cancel]")
    page.wait_for_url(f"{stack.merchant_url}/cart")
    assert stack.sandbox_doc("checkout_session", session["checkout_session_id"])["status"] == "open"
    assert stack.merchant_orders(session["checkout_session_id"]) == 0


def test_expired_and_completed_sessions_show_a_clear_page(
    stack: Stack, catalog: dict[str, str], make_page
) -> None:
    """An expired session says so and charges nothing; a paid one says it is paid and links back."""
    expired = new_session(stack, [(catalog["thermometer"], 1)])
    stack.api("POST", f"/v1/checkout/sessions/{expired['checkout_session_id']}/expire")
    paid = new_session(stack, [(catalog["thermometer"], 1)])
    stack.loop.call(stack.sandbox.complete_checkout(paid["checkout_session_id"], contact=CONTACT))
    page, shots = make_page(PHONE)
    response = page.goto(expired["redirect_url"])
    assert response is not None
    assert response.status == 200
    assert page.get_attribute("[data-testid=message]", "data-state") == "expired"
    assert "expired" in page.inner_text("h1")
    shots.take("expired")
    page.goto(paid["redirect_url"])
    assert "already paid" in page.inner_text("h1")
    assert page.get_attribute("[data-testid=message] a", "href") == success_url(
        stack, paid["checkout_session_id"]
    )
    shots.take("completed")


def test_pay_submitted_twice_without_javascript_charges_once(
    stack: Stack, catalog: dict[str, str], make_page
) -> None:
    """With JavaScript off, one Pay form sent twice (two tabs, one token) charges once."""
    session = new_session(stack, [(catalog["thermometer"], 1)])
    since = stack.last_event_seq()
    first, shots = make_page(DESKTOP, javascript=False)
    first.goto(session["redirect_url"])
    fill_contact(first)
    second = first.context.new_page()
    second.goto(session["redirect_url"])
    posts: list[str] = []
    for tab in (first, second):
        fill_card(tab)
        tab.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    first.click("[data-testid=pay]", no_wait_after=True)
    second.click("[data-testid=pay]", no_wait_after=True)
    for tab in (first, second):
        tab.wait_for_url(success_url(stack, session["checkout_session_id"]))
    shots.take("success-without-js")
    assert len(posts) == 2, "both tabs sent the form"
    assert stack.event_types_since(since).count("payment_intent.succeeded") == 1
    assert len(stack.merchant_order(session["checkout_session_id"]).payments) == 1


def test_pay_records_the_same_events_in_the_same_order_as_the_test_helper(
    stack: Stack, catalog: dict[str, str], make_page
) -> None:
    """The page and POST /v1/test_helpers/…/complete run one flow: identical event sequences."""
    lines = [(catalog["thermometer"], 1), (catalog["gift_wrap"], 1)]
    by_helper = new_session(stack, lines)
    since = stack.last_event_seq()
    card = {"number": GOOD_CARD.replace(" ", "")}
    stack.loop.call(
        stack.sandbox.complete_checkout(
            by_helper["checkout_session_id"], contact=CONTACT, card=card, second_card=card
        )
    )
    helper_events = stack.event_types_since(since)
    by_browser = new_session(stack, lines)
    since = stack.last_event_seq()
    page, _ = make_page(DESKTOP)
    page.goto(by_browser["redirect_url"])
    fill_contact(page)
    fill_card(page)
    fill_card(page, prefix="second_")
    pay(page)
    page.wait_for_url(success_url(stack, by_browser["checkout_session_id"]))
    assert stack.event_types_since(since) == helper_events
    assert helper_events.count("payment_intent.succeeded") == 2
    assert helper_events[-1] == "checkout.session.completed"
