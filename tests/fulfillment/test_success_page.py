"""The success page's HTML answers, through the ASGI app with a fake Flex port."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from fulfillment_counts import count
from fulfillment_fakes import FakeFlex

from flexfulfill.flex import ServerError
from flexfulfill.fulfillment.context import Services
from flexfulfill.web.success import success_router


def client(services: Services) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(success_router(services))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop")


async def test_a_paid_session_shows_its_order_number(services: Services, flex: FakeFlex) -> None:
    """The customer's return fulfills the paid session and shows FF-…; a reload shows the same."""
    session = flex.add_checkout([("fprod_a", 1, 500)])
    async with client(services) as http:
        first = await http.get("/checkout/success", params={"session_id": session})
        again = await http.get("/checkout/success", params={"session_id": session})
    assert first.status_code == again.status_code == 200
    assert "FF-000001" in first.text
    assert "FF-000001" in again.text
    assert await count(services.engine, "orders") == 1


async def test_an_unpaid_or_malformed_visit_says_nothing_was_ordered(
    services: Services, flex: FakeFlex
) -> None:
    """Open session: 402 page; a session id with odd characters: 400; nothing written."""
    session = flex.add_checkout([("fprod_a", 1, 500)], status="open")
    async with client(services) as http:
        unpaid = await http.get("/checkout/success", params={"session_id": session})
        odd = await http.get("/checkout/success", params={"session_id": "<script>"})
    assert unpaid.status_code == 402
    assert "nothing was ordered" in unpaid.text
    assert odd.status_code == 400
    assert "<script>" not in odd.text
    assert await count(services.engine, "orders") == 0


async def test_flex_being_down_asks_the_customer_to_reload(
    services: Services, flex: FakeFlex
) -> None:
    """Flex failing: 503 with Retry-After and a reassuring page, no order yet."""
    session = flex.add_checkout([("fprod_a", 1, 500)])
    flex.failures = [ServerError("Flex answered 503", status=503)]
    async with client(services) as http:
        page = await http.get("/checkout/success", params={"session_id": session})
    assert page.status_code == 503
    assert page.headers["retry-after"] == "30"
    assert "reload" in page.text
    assert await count(services.engine, "orders") == 0
