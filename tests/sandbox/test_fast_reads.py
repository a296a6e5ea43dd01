"""The fast path for the merchant's two per-order GETs answers exactly what FastAPI answers."""

from __future__ import annotations

from typing import Any

import httpx
from sandbox_support import make_price, make_session
from starlette.types import Receive, Scope, Send

from flexfulfill.sandbox.app import build_api
from flexfulfill.sandbox.fast_reads import FastReads

COMPLETE = "/v1/test_helpers/checkout_sessions/{}/complete"
AUTH = {"authorization": "Bearer fsk_test_fast"}
QUERIES = [
    "",
    "?expand_payment_intent=true&expand_customer=true",
    "?expand=customer,payment_intents",
    "?expand_customer=1&expand_payment_intent=0",
    "?expand_customer=false&unknown=7",
]


class Recorder:
    """An ASGI app that notes each request it is given and lets ``app`` answer it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.paths.append(scope["path"])
        await self.app(scope, receive, send)


async def sessions(sandbox: Any, flex: Any) -> list[str]:
    """Open, paid, split-paid and subscription sessions."""
    eligible = await make_price(flex)
    regular = await make_price(flex, "Chocolate", "not_eligible", 300)
    monthly = await make_price(flex, "Plan", recurring={"interval": "month"})
    made = [
        await make_session(flex, [eligible]),
        await make_session(flex, [eligible], client_reference_id="o-2"),
        await make_session(flex, [eligible, regular], metadata={"k": "v"}),
        await make_session(flex, [monthly], mode="subscription"),
    ]
    for session in made[1:]:
        await sandbox.complete_checkout(session["checkout_session_id"], contact={"email": "a@b.co"})
    return [s["checkout_session_id"] for s in made]


async def test_the_fast_path_answers_byte_for_byte_what_the_routes_answer(
    sandbox: Any, flex: Any
) -> None:
    ids = await sessions(sandbox, flex)
    api = build_api(sandbox.state)
    inner = Recorder(api)
    fast = httpx.AsyncClient(transport=httpx.ASGITransport(FastReads(inner, sandbox.state)))
    slow = httpx.AsyncClient(transport=httpx.ASGITransport(api))
    paths = [f"/v1/checkout/sessions/{sid}{q}" for sid in ids for q in QUERIES]
    paths += [f"/v1/checkout/sessions/{sid}/line_items" for sid in ids]
    async with fast, slow:
        for path in paths:
            a = await fast.get("http://sandbox" + path, headers=AUTH)
            b = await slow.get("http://sandbox" + path, headers=AUTH)
            assert a.status_code == b.status_code == 200, path
            assert a.content == b.content, path
            assert a.headers.raw == b.headers.raw, path
    assert inner.paths == []  # every one of them answered by the fast path
    expanded = (await flex.get(paths[len(QUERIES) + 1])).json()["checkout_session"]  # paid
    assert expanded["customer"]["customer_id"].startswith("fcus_")
    assert expanded["payment_intents"][0]["status"] == "succeeded"


async def test_what_the_fast_path_does_not_understand_goes_to_fastapi(
    sandbox: Any, flex: Any
) -> None:
    """Unknown ids, flag values pydantic judges, repeated flags, other paths: FastAPI answers."""
    sid = (await sessions(sandbox, flex))[1]
    api = build_api(sandbox.state)
    inner = Recorder(api)
    fast = httpx.AsyncClient(transport=httpx.ASGITransport(FastReads(inner, sandbox.state)))
    cases = {
        "/v1/checkout/sessions/fcs_nope": 404,
        "/v1/checkout/sessions/fcs_nope/line_items": 404,
        f"/v1/checkout/sessions/{sid}?expand_customer=yes": 200,
        f"/v1/checkout/sessions/{sid}?expand_customer=banana": 422,
        f"/v1/checkout/sessions/{sid}?expand_customer=": 422,
        f"/v1/checkout/sessions/{sid}?expand_customer=true&expand_customer=false": 200,
        f"/v1/checkout/sessions/{sid}/line_items/x": 404,
        "/v1/checkout/sessions//line_items": 404,
    }
    async with fast:
        for path, status in cases.items():
            answer = await fast.get("http://sandbox" + path, headers=AUTH)
            assert answer.status_code == status, (path, answer.text)
    assert len(inner.paths) == len(cases)
    missing = (await flex.get("/v1/checkout/sessions/fcs_nope")).json()
    assert missing["detail"][0]["type"] == "checkout_session_not_found"


async def test_injected_api_faults_apply_to_the_fast_path(sandbox: Any, flex: Any) -> None:
    sid = (await sessions(sandbox, flex))[1]
    path = f"/v1/checkout/sessions/{sid}?expand_payment_intent=true&expand_customer=true"
    sandbox.set_faults(api_429={"next_n": 1, "retry_after": 3}, api_5xx={"next_n": 1})
    answers = [await flex.get(path), await flex.get(f"/v1/checkout/sessions/{sid}/line_items")]
    assert [a.status_code for a in answers] == [429, 503]
    assert answers[0].headers["retry-after"] == "3"
    assert (await flex.get(path)).status_code == 200
    unauthenticated = await flex.get(path, headers={"authorization": "Bearer fsk_live_x"})
    assert unauthenticated.status_code == 401


async def test_a_read_after_a_write_shows_the_write(sandbox: Any, flex: Any) -> None:
    """Reads come from the store's cache: every change must be visible to the next GET."""
    price = await make_price(flex)
    sid = (await make_session(flex, [price]))["checkout_session_id"]
    path = f"/v1/checkout/sessions/{sid}?expand_payment_intent=true&expand_customer=true"
    assert (await flex.get(path)).json()["checkout_session"]["status"] == "open"
    declined = await flex.post(COMPLETE.format(sid), json={"card": {"number": "4000000000009995"}})
    assert declined.status_code == 402
    shown = (await flex.get(path)).json()["checkout_session"]
    assert shown["status"] == "open"
    assert shown["payment_intents"][0]["status"] == "requires_payment_method"
    assert shown["customer"]["email"] == "shopper@example.com"
    assert (await flex.post(COMPLETE.format(sid), json={})).status_code == 200
    shown = (await flex.get(path)).json()["checkout_session"]
    assert shown["status"] == "complete"
    assert shown["payment_intents"][0]["status"] == "succeeded"
    intent = shown["payment_intents"][0]["payment_intent_id"]
    body = {"refund": {"payment_intent_id": intent, "amount": 500}}
    refund = await flex.post("/v1/refunds", json=body)
    assert refund.status_code == 200, refund.text
    shown = (await flex.get(path)).json()["checkout_session"]
    assert shown["amount_refunded"] == 500
    assert shown["payment_intents"][0]["amount_refunded"] == 500
    lines = (await flex.get(f"/v1/checkout/sessions/{sid}/line_items")).json()["line_items"]
    assert lines[0]["price"]["price_id"] == price
