"""Flex's objects parse permissively: documented examples, unknown fields and unknown enums."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import flex_examples as ex
import pytest

from flexfulfill.flex import (
    CheckoutSession,
    CheckoutSessionStatus,
    Customer,
    ErrorDetailItem,
    Event,
    FlexModel,
    LineItem,
    PaymentIntent,
    PaymentLink,
    Price,
    Product,
    Refund,
    Subscription,
    SubscriptionStatus,
    Webhook,
)

API_MD = Path(__file__).resolve().parents[3] / "shared" / "flex" / "API.md"

DOCUMENTED = [
    (Product, ex.PRODUCT, "product_id"),
    (Price, ex.PRICE, "price_id"),
    (Customer, ex.CUSTOMER, "customer_id"),
    (PaymentIntent, ex.PAYMENT_INTENT, "payment_intent_id"),
    (Refund, ex.REFUND, "refund_id"),
    (CheckoutSession, ex.CHECKOUT_SESSION, "checkout_session_id"),
    (LineItem, ex.LINE_ITEM, "line_item_id"),
    (Subscription, ex.SUBSCRIPTION, "subscription_id"),
    (PaymentLink, ex.PAYMENT_LINK, "payment_link_id"),
    (Event, ex.EVENT, "event_id"),
    (Webhook, ex.WEBHOOK, "webhook_id"),
]

RESOURCE_MODELS: dict[str, type[FlexModel]] = {
    "checkout_session": CheckoutSession,
    "customer": Customer,
    "payment_intent": PaymentIntent,
    "refund": Refund,
    "subscription": Subscription,
    "product": Product,
}


def api_md_json_examples() -> list[Any]:
    """Every literal JSON object in API.md: fenced blocks and inline code spans that parse."""
    if not API_MD.exists():
        return []
    text = API_MD.read_text()
    found = []
    candidates = re.findall(r"```(?:json)?\n(.*?)```", text, re.S)
    candidates += re.findall(r"`(\{[^`]*\})`", text)
    for candidate in candidates:
        try:
            found.append(json.loads(candidate))
        except ValueError:
            continue  # a schema sketch such as { event_dt: integer, ... }, not a payload
    return found


def understand(payload: dict[str, Any]) -> str:
    """Parse one API.md example with the models; the name of what it was read as."""
    if "detail" in payload:
        items = [ErrorDetailItem.model_validate(item) for item in payload["detail"]]
        assert all(item.type and item.msg for item in items)
        return "error"
    if "event_id" in payload:
        event = Event.model_validate(payload)
        for key, model in RESOURCE_MODELS.items():
            if (raw := event.resource(key)) is not None:
                model.model_validate(raw)
        return "event"
    if set(payload) == {"webhook"} and "url" in payload["webhook"]:
        return "webhook request"  # a request body: see test_client_requests.py
    if set(payload) == {"event"} and "webhook_id" in payload["event"]:
        return "event retry request"  # a request body: see test_client_requests.py
    raise AssertionError(f"API.md example not handled by this test: {payload}")


def test_api_md_holds_the_json_examples_this_test_reads() -> None:
    """The extraction finds API.md's examples, so the next test cannot pass on nothing."""
    if not API_MD.exists():
        pytest.skip(f"{API_MD} (the shared Flex reference) is not in this checkout")
    kinds = sorted(understand(payload) for payload in api_md_json_examples())
    assert kinds.count("event") == 2
    assert kinds.count("error") == 1
    assert {"webhook request", "event retry request"} <= set(kinds)


@pytest.mark.parametrize("payload", api_md_json_examples(), ids=lambda p: next(iter(p)))
def test_every_json_example_in_api_md_parses_into_the_models(payload: dict[str, Any]) -> None:
    """Each literal JSON example of API.md is read by the model it belongs to."""
    assert understand(payload)


@pytest.mark.parametrize(
    ("model", "raw", "id_field"), DOCUMENTED, ids=lambda v: getattr(v, "__name__", "")
)
def test_every_documented_object_parses_with_all_its_fields_kept(
    model: type[FlexModel], raw: dict[str, Any], id_field: str
) -> None:
    """Each object of API.md §2 parses, keeps its id with prefix, and dumps every field back."""
    parsed = model.model_validate(raw)
    assert getattr(parsed, id_field) == raw[id_field]
    dumped = parsed.model_dump(mode="json")
    assert set(raw) <= set(dumped)


def test_a_consultation_parses_as_a_generic_flex_object() -> None:
    """The reimbursement guide's consultation has no dedicated model yet; FlexModel keeps it."""
    consultation = FlexModel.model_validate(ex.CONSULTATION)
    assert consultation.model_extra == ex.CONSULTATION


def test_expanded_and_unexpanded_references_read_the_same_id() -> None:
    """customer and payment_intents may be ids or expanded objects; the ids come out alike."""
    session = CheckoutSession.model_validate(ex.CHECKOUT_SESSION)
    assert session.customer_id == "fcus_01HACM7FZ1084XB1GB6053VM0D"
    assert session.payment_intent_ids == ["fpi_01HW5KTQQAAQ66WV19MFW4DTT4"] * 2
    assert Price.model_validate(ex.PRICE).product_id == "fprod_01HW5MXAPBE79RHMMJJGB4ACAB"


def test_unknown_fields_and_an_unknown_enum_value_parse() -> None:
    """A field and a status Flex adds tomorrow parse today and survive a round trip."""
    raw = {
        **ex.CHECKOUT_SESSION,
        "status": "partially_captured",
        "mode": "setup",
        "brand_new_field": {"nested": [1, 2, 3]},
    }
    session = CheckoutSession.model_validate(raw)
    assert session.status == "partially_captured"
    assert session.status != CheckoutSessionStatus.COMPLETE
    assert session.model_extra is not None
    assert session.model_extra["brand_new_field"] == {"nested": [1, 2, 3]}
    assert session.model_dump()["brand_new_field"] == {"nested": [1, 2, 3]}


def test_unknown_enum_values_parse_on_every_status_field() -> None:
    """Subscription, refund and payment intent statuses are open sets too."""
    assert Subscription.model_validate({**ex.SUBSCRIPTION, "status": "on_hold"}).status == "on_hold"
    assert Refund.model_validate({**ex.REFUND, "status": "reversed"}).status == "reversed"
    intent = PaymentIntent.model_validate({**ex.PAYMENT_INTENT, "status": "disputed_x"})
    assert intent.status == "disputed_x"


def test_known_enum_values_compare_equal_to_their_enum_members() -> None:
    """Known values still compare with the named constants."""
    session = CheckoutSession.model_validate(ex.CHECKOUT_SESSION)
    assert session.status == CheckoutSessionStatus.COMPLETE
    subscription = Subscription.model_validate(ex.SUBSCRIPTION)
    assert subscription.status == SubscriptionStatus.TRIALING


def test_a_webhooks_signing_secret_is_not_in_its_repr() -> None:
    """Only the create answer carries the secret, and printing the object never shows it."""
    webhook = Webhook.model_validate(ex.WEBHOOK)
    assert webhook.signing_secret == ex.WEBHOOK["signing_secret"]
    assert "fwhsec_" not in repr(webhook)
