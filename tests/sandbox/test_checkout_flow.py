"""The checkout flow behind the completion helper: customers, intents, splits, subscriptions."""

from __future__ import annotations

from typing import Any

from sandbox_support import event_types, make_price, make_session

COMPLETE = "/v1/test_helpers/checkout_sessions/{}/complete"
DECLINE = "4000000000009995"


async def complete(flex: Any, session_id: str, **body: Any) -> Any:
    return await flex.post(COMPLETE.format(session_id), json=body)


async def test_a_paid_checkout_records_flex_events_in_the_guides_order(flex: Any) -> None:
    """customer.created → payment_intent.created → .succeeded → checkout.session.completed."""
    session = await make_session(flex, [await make_price(flex)], client_reference_id="order-1")
    response = await complete(
        flex,
        session["checkout_session_id"],
        contact={"email": "ada@example.com", "first_name": "Ada"},
    )
    done = response.json()["checkout_session"]
    assert done["status"] == "complete"
    assert done["amount_received"] == done["amount_total"] == 2500
    assert done["customer"].startswith("fcus_")
    assert len(done["payment_intents"]) == 1
    flow = (await event_types(flex))[2:]
    assert flow == [
        "customer.created",
        "payment_intent.created",
        "payment_intent.succeeded",
        "checkout.session.completed",
    ]


async def test_a_split_cart_makes_two_intents_and_two_succeeded_events(flex: Any) -> None:
    """Eligible and non-eligible lines: a primary (HSA/FSA) and a secondary payment intent."""
    eligible = await make_price(flex, "Thermometer", "auto_substantiation", 2500)
    other = await make_price(flex, "Candy", "not_eligible", 500)
    session = await make_session(flex, [eligible, other])
    done = (await complete(flex, session["checkout_session_id"])).json()["checkout_session"]
    intents = [
        (await flex.get(f"/v1/payment_intents/{p}")).json()["payment_intent"]
        for p in done["payment_intents"]
    ]
    assert {(p["payment_card_type"], p["amount"], p["status"]) for p in intents} == {
        ("primary", 2500, "succeeded"),
        ("secondary", 500, "succeeded"),
    }
    assert (await event_types(flex)).count("payment_intent.succeeded") == 2
    assert done["amount_received"] == 3000


async def test_line_items_carry_the_price_with_its_product_and_eligibility(flex: Any) -> None:
    """GET …/line_items: price (product expanded), quantity, amounts and eligibility."""
    price = await make_price(flex, "Glasses", "vision", 12000)
    session = await make_session(flex, [price])
    items = await flex.get(f"/v1/checkout/sessions/{session['checkout_session_id']}/line_items")
    (line,) = items.json()["line_items"]
    assert line["price"]["product"]["name"] == "Glasses"
    assert (line["quantity"], line["amount_total"], line["eligibility"]) == (1, 12000, "vision")


async def test_a_declined_card_leaves_the_session_open_to_pay_again(flex: Any) -> None:
    """4000000000009995 → 402 card_declined; a good card afterwards completes the session."""
    session = await make_session(flex, [await make_price(flex)])
    declined = await complete(flex, session["checkout_session_id"], card={"number": DECLINE})
    assert declined.status_code == 402
    assert declined.json()["detail"][0]["type"] == "card_declined"
    again = await complete(
        flex, session["checkout_session_id"], card={"number": "4242424242424242"}
    )
    assert again.json()["checkout_session"]["status"] == "complete"
    types = await event_types(flex)
    assert types.count("payment_intent.payment_failed") == 1
    assert types.count("customer.created") == 1
    assert types.count("payment_intent.created") == 1


async def test_only_the_last_four_digits_of_a_card_are_kept(flex: Any) -> None:
    """The payment intent shows last4 and nothing more of the number."""
    session = await make_session(flex, [await make_price(flex)])
    done = (await complete(flex, session["checkout_session_id"])).json()["checkout_session"]
    intent = (await flex.get(f"/v1/payment_intents/{done['payment_intents'][0]}")).text
    assert '"last4":"4242"' in intent
    assert "4242424242424242" not in intent


async def test_subscription_mode_goes_from_incomplete_to_active_with_a_paid_invoice(
    flex: Any,
) -> None:
    """customer.subscription.created (incomplete) … invoice.payment_succeeded … updated (active)."""
    price = await make_price(
        flex,
        "Sleep program",
        "letter_of_medical_necessity",
        4000,
        recurring={"interval": "monthly", "interval_count": 1},
    )
    session = await make_session(flex, [price], mode="subscription")
    done = (await complete(flex, session["checkout_session_id"])).json()["checkout_session"]
    sub = (await flex.get(f"/v1/subscriptions/{done['subscription']}")).json()["subscription"]
    assert sub["status"] == "active"
    assert sub["latest_invoice"] == done["invoice"]
    events = (await flex.get("/v1/events", params={"limit": 100})).json()["events"][::-1]
    created = next(e for e in events if e["event_type"] == "customer.subscription.created")
    assert created["object"]["subscription"]["status"] == "incomplete"
    flow = [e["event_type"] for e in events][2:]
    assert flow == [
        "customer.created",
        "customer.subscription.created",
        "invoice.created",
        "payment_intent.created",
        "payment_intent.succeeded",
        "invoice.paid",
        "invoice.payment_succeeded",
        "customer.subscription.updated",
        "checkout.session.completed",
    ]


async def test_a_completed_session_cannot_be_completed_twice(flex: Any) -> None:
    """The second completion answers 400 checkout_session_already_processed."""
    session = await make_session(flex, [await make_price(flex)])
    await complete(flex, session["checkout_session_id"])
    again = await complete(flex, session["checkout_session_id"])
    assert again.status_code == 400
    assert again.json()["detail"][0]["type"] == "checkout_session_already_processed"


async def test_an_existing_customer_is_reused_without_a_customer_created_event(flex: Any) -> None:
    """Overrides: an existing fcus_ id names the buyer."""
    customer = await flex.post("/v1/customers", json={"customer": {"email": "x@example.com"}})
    customer_id = customer.json()["customer"]["customer_id"]
    session = await make_session(flex, [await make_price(flex)])
    done = (await complete(flex, session["checkout_session_id"], customer=customer_id)).json()
    assert done["checkout_session"]["customer"] == customer_id
    assert (await event_types(flex)).count("customer.created") == 1


async def test_a_refund_emits_created_then_updated_and_counts_on_the_session(flex: Any) -> None:
    """refund.created (pending) then refund.updated (succeeded); amount_refunded follows."""
    session = await make_session(flex, [await make_price(flex)])
    done = (await complete(flex, session["checkout_session_id"])).json()["checkout_session"]
    body = {"refund": {"payment_intent_id": done["payment_intents"][0], "amount": 1000}}
    refund = (await flex.post("/v1/refunds", json=body)).json()["refund"]
    assert refund["status"] == "succeeded"
    after = (await flex.get(f"/v1/checkout/sessions/{done['checkout_session_id']}")).json()
    assert after["checkout_session"]["amount_refunded"] == 1000
    assert (await event_types(flex))[-2:] == ["refund.created", "refund.updated"]
    body["refund"]["amount"] = 2000
    too_much = await flex.post("/v1/refunds", json=body)
    assert too_much.status_code == 422
    assert too_much.json()["detail"][0]["type"] == "amount_too_large"


async def test_an_expired_session_cannot_be_paid(flex: Any) -> None:
    """POST …/expire records checkout.session.expired; completing it then answers 400."""
    session = await make_session(flex, [await make_price(flex)])
    expired = await flex.post(f"/v1/checkout/sessions/{session['checkout_session_id']}/expire")
    assert expired.json()["checkout_session"]["status"] == "expired"
    paid = await complete(flex, session["checkout_session_id"])
    assert paid.json()["detail"][0]["type"] == "checkout_session_expired"


async def test_sessions_list_filters_by_client_reference_and_pages_newest_first(flex: Any) -> None:
    """client_reference_id filter; limit and starting_after page through newest first."""
    price = await make_price(flex)
    made = [await make_session(flex, [price], client_reference_id=f"r{i}") for i in range(3)]
    found = (await flex.get("/v1/checkout/sessions", params={"client_reference_id": "r1"})).json()
    assert [s["checkout_session_id"] for s in found["checkout_sessions"]] == [
        made[1]["checkout_session_id"]
    ]
    first = (await flex.get("/v1/checkout/sessions", params={"limit": 2})).json()[
        "checkout_sessions"
    ]
    assert [s["client_reference_id"] for s in first] == ["r2", "r1"]
    rest = await flex.get(
        "/v1/checkout/sessions", params={"starting_after": first[-1]["checkout_session_id"]}
    )
    assert [s["client_reference_id"] for s in rest.json()["checkout_sessions"]] == ["r0"]


async def test_a_defaults_customer_id_becomes_the_sessions_customer(flex: Any) -> None:
    """defaults.customer_id names the buyer when the request gives none."""
    created = await flex.post("/v1/customers", json={"customer": {"email": "d@example.com"}})
    customer_id = created.json()["customer"]["customer_id"]
    session = await make_session(
        flex, [await make_price(flex)], defaults={"customer_id": customer_id}
    )
    done = (await complete(flex, session["checkout_session_id"])).json()["checkout_session"]
    assert done["customer"] == customer_id


async def test_a_payment_link_with_an_unknown_price_is_refused_like_a_session(flex: Any) -> None:
    """POST /v1/payment_links with fprice_missing → 422 price_not_found."""
    body = {"payment_link": {"line_items": [{"price": "fprice_missing", "quantity": 1}]}}
    response = await flex.post("/v1/payment_links", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "price_not_found"
