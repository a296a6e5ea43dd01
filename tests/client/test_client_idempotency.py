"""End to end: Flex did the work but its answer was lost; the client's retry must not do it twice.

The sandbox's ``lose_response_after_commit`` fault commits a POST, then answers 500 or closes
the connection mid-answer. FlexClient retries under the same ``Idempotency-Key`` and the
sandbox replays what it stored, so exactly one object exists.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from flexfulfill.clock import ManualClock
from flexfulfill.flex import FlexClient, RetryPolicy
from flexfulfill.sandbox import RunningSandbox


class RecordingTransport(httpx.AsyncBaseTransport):
    """httpx's own transport, keeping each exchange's key, status and replay header."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.posts: list[tuple[str, int, str | None]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "POST":
            key = request.headers["idempotency-key"]
            replayed = response.headers.get("idempotent-replayed")
            self.posts.append((key, response.status_code, replayed))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
def wire() -> RecordingTransport:
    """A transport that shows what each POST sent and got."""
    return RecordingTransport()


@pytest.fixture
async def flex(
    sandbox: RunningSandbox, clock: ManualClock, wire: RecordingTransport
) -> AsyncIterator[FlexClient]:
    """The client on the sandbox: 3 attempts, a manual clock (no real waits), recorded POSTs."""
    async with FlexClient(
        sandbox.api_key, sandbox.base_url, retry=RetryPolicy.testing(), clock=clock.as_clock(),
        transport=wire, timeout=5.0,
    ) as client:  # fmt: skip
        yield client


async def lose_next_answer(sandbox: RunningSandbox, **fault: Any) -> None:
    """Switch the fault on through the sandbox's HTTP test helper, as a tester would."""
    body = {"faults": {"lose_response_after_commit": {"next_n": 1, **fault}}}
    await sandbox.request("PUT", "/v1/test_helpers/faults", body)


@pytest.mark.parametrize("drop_connection", [False, True], ids=["500", "dropped"])
async def test_a_create_whose_answer_was_lost_ends_with_exactly_one_customer(
    flex: FlexClient, sandbox: RunningSandbox, wire: RecordingTransport, drop_connection: bool
) -> None:
    """Committed, then a 500 or a closed connection: the retry under one key replays it."""
    await lose_next_answer(sandbox, drop_connection=drop_connection)
    created = await flex.create_customer({"email": "once@example.com"})
    (first_key, _, _), (retry_key, status, replayed) = wire.posts
    assert first_key == retry_key
    assert (status, replayed) == (200, "true")
    assert [c.customer_id async for c in flex.list_customers()] == [created.customer_id]
    assert len([e async for e in flex.list_events(event_type="customer.created")]) == 1


async def test_a_refund_whose_answer_was_lost_refunds_once(
    flex: FlexClient, sandbox: RunningSandbox, wire: RecordingTransport
) -> None:
    """Money: a refund committed but unanswered is not refunded again by the retry."""
    intent_id = await a_paid_intent(flex, sandbox)
    await lose_next_answer(sandbox)
    refund = await flex.create_refund({"payment_intent_id": intent_id, "amount": 1000})
    assert [status for _, status, _ in wire.posts[-2:]] == [500, 200]
    assert [r.refund_id async for r in flex.list_refunds()] == [refund.refund_id]
    assert (await flex.get_payment_intent(intent_id)).amount_refunded == 1000


async def test_a_caller_key_makes_a_restarted_client_get_the_same_refund(
    flex: FlexClient, sandbox: RunningSandbox, clock: ManualClock
) -> None:
    """A key from the caller's own identity holds across client instances (process restarts)."""
    intent_id = await a_paid_intent(flex, sandbox)
    params = {"payment_intent_id": intent_id, "amount": 500}
    first = await flex.create_refund(params, idempotency_key="refund:evt_1")
    async with FlexClient(
        sandbox.api_key, sandbox.base_url, retry=RetryPolicy.testing(), clock=clock.as_clock()
    ) as restarted:
        again = await restarted.create_refund(params, idempotency_key="refund:evt_1")
    assert again.refund_id == first.refund_id
    assert (await flex.get_payment_intent(intent_id)).amount_refunded == 500


async def a_paid_intent(flex: FlexClient, sandbox: RunningSandbox) -> str:
    """A one-line payment session paid through the test helper; its payment intent's id."""
    product = await flex.create_product({"name": "Monitor"})
    price = await flex.create_price({"product": product.product_id, "unit_amount": 4999})
    session = await flex.create_checkout_session(
        {"line_items": [{"price": price.price_id, "quantity": 1}],
         "success_url": "https://shop.example.com/ok", "mode": "payment"}
    )  # fmt: skip
    await sandbox.complete_checkout(session.checkout_session_id)
    paid = await flex.get_checkout_session(session.checkout_session_id)
    return paid.payment_intent_ids[0]
