"""Bad requests get Flex-shaped 4xx answers ({"detail": [...]}), never a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

KEY = {"authorization": "Bearer fsk_test_bad_requests"}
CREATES = {
    "/v1/checkout/sessions": (
        "checkout_session",
        [
            "line_items",
            "success_url",
            "mode",
            "customer",
            "metadata",
            "client_reference_id",
            "defaults",
        ],
    ),
    "/v1/products": ("product", ["name", "hsa_fsa_eligibility", "metadata", "active"]),
    "/v1/prices": ("price", ["product", "unit_amount", "recurring", "metadata"]),
    "/v1/customers": ("customer", ["email", "shipping", "metadata", "first_name"]),
    "/v1/refunds": ("refund", ["payment_intent_id", "amount", "reason", "metadata"]),
    "/v1/payment_links": ("payment_link", ["line_items", "label", "mode", "metadata"]),
    "/v1/webhooks": ("webhook", ["url", "events", "enabled"]),
}


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, headers=KEY, timeout=30) as flex:
        yield flex


def assert_flex_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    item = response.json()["detail"][0]
    assert isinstance(item["msg"], str)
    assert isinstance(item["type"], str)
    assert all(isinstance(part, str) for part in item["loc"])
    return dict(item)


@pytest.mark.parametrize(
    "header", [None, "Bearer fsk_live_abc", "Bearer fsk_abc", "Basic abc", "Bearer"]
)
def test_requests_without_a_test_key_get_401_naming_test_keys(
    base_url: str, header: str | None
) -> None:
    """No key, a live key or a malformed header → 401 saying fsk_test_ keys only."""
    headers = {} if header is None else {"authorization": header}
    response = httpx.get(f"{base_url}/v1/customers", headers=headers)
    item = assert_flex_error(response, 401)
    assert "fsk_test_" in item["msg"]
    assert item["type"] == "invalid_api_key"


def test_malformed_json_gets_a_422_detail(client: httpx.Client) -> None:
    """A body that is not JSON → 422 json_invalid, in the detail shape."""
    response = client.post(
        "/v1/products", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert assert_flex_error(response, 422)["type"] == "json_invalid"


def test_a_missing_required_field_names_its_location(client: httpx.Client) -> None:
    """A session without success_url → 422 at body.checkout_session.success_url."""
    body = {"checkout_session": {"line_items": [{"price": "fprice_x"}]}}
    item = assert_flex_error(client.post("/v1/checkout/sessions", json=body), 422)
    assert item["loc"] == ["body", "checkout_session", "success_url"]
    assert item["type"] == "missing"


def test_a_field_of_the_wrong_type_is_refused(client: httpx.Client) -> None:
    """quantity "many" → 422 at the quantity."""
    body = {
        "checkout_session": {
            "line_items": [{"price": "fprice_x", "quantity": "many"}],
            "success_url": "http://x",
        }
    }
    item = assert_flex_error(client.post("/v1/checkout/sessions", json=body), 422)
    assert item["loc"][-1] == "quantity"


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/v1/checkout/sessions/fcs_nope", "checkout_session"),
        ("/v1/customers/fcus_nope", "customer"),
        ("/v1/payment_intents/fpi_nope", "payment_intent"),
        ("/v1/subscriptions/fsub_nope", "subscription"),
        ("/v1/products/fprod_nope", "product"),
        ("/v1/prices/fprice_nope", "price"),
        ("/v1/payment_links/fplink_nope", "payment_link"),
        ("/v1/refunds/fref_nope", "refund"),
        ("/v1/webhooks/fwh_nope", "webhook"),
        ("/v1/events/fevt_nope", "event"),
    ],
)
def test_unknown_ids_get_404_resource_not_found(client: httpx.Client, path: str, kind: str) -> None:
    """Every retrieve with an unknown id → 404 <resource>_not_found."""
    assert assert_flex_error(client.get(path), 404)["type"] == f"{kind}_not_found"


def test_unknown_routes_get_a_flex_shaped_404(client: httpx.Client) -> None:
    """A path the sandbox does not serve → 404 in the detail shape."""
    assert_flex_error(client.get("/v1/nothing_here"), 404)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def create_bodies(draw: st.DrawFn) -> tuple[str, Any]:
    path = draw(st.sampled_from(sorted(CREATES)))
    key, fields = CREATES[path]
    inner = draw(st.dictionaries(st.sampled_from(fields), JSON, max_size=len(fields)))
    body = draw(st.sampled_from([{key: inner}, inner, [inner]]))
    return path, body


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(create_bodies())
def test_arbitrary_create_bodies_never_cause_a_5xx(
    client: httpx.Client, case: tuple[str, Any]
) -> None:
    """Random JSON in every create endpoint: 2xx, or a 4xx in Flex's detail shape."""
    path, body = case
    response = client.post(path, json=body)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert_flex_error(response, response.status_code)


@pytest.fixture(scope="module")
def open_session(client: httpx.Client) -> str:
    """A real open session the completion fuzzing below can try to pay."""
    product = client.post("/v1/products", json={"product": {"name": "Fuzz"}}).json()["product"]
    price = client.post(
        "/v1/prices", json={"price": {"product": product["product_id"], "unit_amount": 100}}
    ).json()["price"]
    session = client.post(
        "/v1/checkout/sessions",
        json={
            "checkout_session": {
                "line_items": [{"price": price["price_id"]}],
                "success_url": "http://x",
            }
        },
    )
    return str(session.json()["checkout_session"]["checkout_session_id"])


COMPLETE_FIELDS = st.fixed_dictionaries({}, optional={
    "customer": JSON, "contact": JSON, "second_card": JSON,
    "card": st.one_of(JSON, st.fixed_dictionaries({}, optional={
        "number": st.sampled_from(["4242424242424242", "4000000000009995", "1234", ""]) | JSON,
        "exp_month": JSON, "cvc": JSON})),
})  # fmt: skip


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(COMPLETE_FIELDS)
def test_arbitrary_completion_bodies_never_cause_a_5xx(
    client: httpx.Client, open_session: str, body: dict[str, Any]
) -> None:
    """Random contact/card bodies on the completion helper: 2xx, or a Flex-shaped 4xx."""
    response = client.post(f"/v1/test_helpers/checkout_sessions/{open_session}/complete", json=body)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert_flex_error(response, response.status_code)


@pytest.mark.parametrize("query", [
    "limit=0", "limit=101", "limit=abc", "offset=-1", "status=nope", "created_gt=yesterday",
    "starting_after=fcs_unknown", "expand_customer=maybe",
])  # fmt: skip
def test_bad_list_parameters_get_422(client: httpx.Client, query: str) -> None:
    """Out-of-range, mistyped or unknown-cursor list parameters → 422 in the detail shape."""
    assert_flex_error(client.get(f"/v1/checkout/sessions?{query}"), 422)
