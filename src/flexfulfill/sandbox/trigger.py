"""``flexfulfill trigger``: make a checkout happen in a running sandbox, over its HTTP API.

Creates what is missing (products, prices), a session with the given overrides, and completes
it with the test helper — the same code path the hosted page runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

EVENTS = ("checkout.session.completed", "customer.subscription.created", "refund.updated")


@dataclass
class TriggerRequest:
    event: str = "checkout.session.completed"
    prices: list[str] = field(default_factory=list)
    client_reference_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    customer: str | None = None
    email: str = "shopper@example.com"
    card: str = "4242424242424242"
    second_card: str | None = None
    split: bool = False


async def run_trigger(base_url: str, api_key: str, request: TriggerRequest) -> dict[str, Any]:
    """The completed session (``{"checkout_session": …}``) or the error body with its status."""
    if request.event not in EVENTS:
        return {
            "status": 400,
            "detail": [
                {"msg": f"unknown event {request.event!r}; choose one of {', '.join(EVENTS)}"}
            ],
        }
    headers = {"authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
        subscription = request.event == "customer.subscription.created"
        prices = request.prices or await _fixture_prices(client, request.split, subscription)
        session = await _create_session(client, request, prices, subscription)
        if "detail" in session:
            return session
        result = await _complete(
            client, session["checkout_session"]["checkout_session_id"], request
        )
        if request.event == "refund.updated" and "detail" not in result:
            await _refund_first(client, result["checkout_session"])
        return result


async def _call(
    client: httpx.AsyncClient, method: str, path: str, body: Any = None
) -> dict[str, Any]:
    response = await client.request(method, path, json=body)
    data: dict[str, Any] = response.json()
    if response.status_code >= 400:
        data["status"] = response.status_code
    return data


async def _fixture_prices(client: httpx.AsyncClient, split: bool, subscription: bool) -> list[str]:
    eligibility = "letter_of_medical_necessity" if subscription else "auto_substantiation"
    wanted = [("Digital thermometer", eligibility, 2500)]
    if split:
        wanted.append(("Chocolate bar", "not_eligible", 500))
    prices = []
    for name, kind, amount in wanted:
        product = await _call(
            client, "POST", "/v1/products", {"product": {"name": name, "hsa_fsa_eligibility": kind}}
        )
        price: dict[str, Any] = {"product": product["product"]["product_id"], "unit_amount": amount}
        if subscription:
            price["recurring"] = {"interval": "monthly", "interval_count": 1}
        prices.append(
            (await _call(client, "POST", "/v1/prices", {"price": price}))["price"]["price_id"]
        )
    return prices


async def _create_session(
    client: httpx.AsyncClient, request: TriggerRequest, prices: list[str], subscription: bool
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "line_items": [{"price": p, "quantity": 1} for p in prices],
        "success_url": "http://127.0.0.1:4242/checkout/success?session_id={CHECKOUT_SESSION_ID}",
        "mode": "subscription" if subscription else "payment",
        "metadata": request.metadata,
    }
    if request.client_reference_id:
        body["client_reference_id"] = request.client_reference_id
    if request.customer:
        body["customer"] = request.customer
    return await _call(client, "POST", "/v1/checkout/sessions", {"checkout_session": body})


async def _complete(
    client: httpx.AsyncClient, session_id: str, request: TriggerRequest
) -> dict[str, Any]:
    body: dict[str, Any] = {"card": {"number": request.card}, "contact": {"email": request.email}}
    if request.second_card:
        body["second_card"] = {"number": request.second_card}
    path = f"/v1/test_helpers/checkout_sessions/{session_id}/complete"
    return await _call(client, "POST", path, body)


async def _refund_first(client: httpx.AsyncClient, session: dict[str, Any]) -> None:
    intent = session["payment_intents"][0]
    await _call(client, "POST", "/v1/refunds", {"refund": {"payment_intent_id": intent}})
