"""FlexClient against the real sandbox over loopback HTTP: pages, every error class, retries.

The sandbox (flexfulfill.sandbox.run_sandbox) serves Flex's API on a free port; faults are
switched on at run time through ``PUT /v1/test_helpers/faults``, as a tester would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from flexfulfill.clock import ManualClock
from flexfulfill.flex import (
    AuthenticationError,
    CheckoutSessionStatus,
    Customer,
    FlexClient,
    NetworkError,
    NotFoundError,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    ValidationError,
)
from flexfulfill.sandbox import RunningSandbox, run_sandbox


class CountingTransport(httpx.AsyncBaseTransport):
    """httpx's own transport, counting the requests that go through it."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
def wire() -> CountingTransport:
    """A transport that lets a test count the requests a call made."""
    return CountingTransport()


@pytest.fixture
async def flex(
    sandbox: RunningSandbox, clock: ManualClock, wire: CountingTransport
) -> AsyncIterator[FlexClient]:
    """The client on the sandbox's URL and key: 4 attempts, a manual clock, counted requests."""
    retry = RetryPolicy.testing(max_attempts=4)
    async with FlexClient(
        sandbox.api_key, sandbox.base_url, retry=retry, clock=clock.as_clock(), transport=wire
    ) as client:
        yield client


async def set_faults(sandbox: RunningSandbox, **faults: Any) -> None:
    """Switch API faults on through the sandbox's HTTP test helper."""
    await sandbox.request("PUT", "/v1/test_helpers/faults", {"faults": faults})


async def a_paid_session(flex: FlexClient, sandbox: RunningSandbox) -> str:
    """A product, a price, a session for two of it, paid through the test helper."""
    product = await flex.create_product(
        {"name": "Monitor", "hsa_fsa_eligibility": "auto_substantiation"}
    )
    price = await flex.create_price({"product": product.product_id, "unit_amount": 4999})
    session = await flex.create_checkout_session(
        {"line_items": [{"price": price.price_id, "quantity": 2}],
         "success_url": "https://shop.example.com/ok?session_id={CHECKOUT_SESSION_ID}",
         "mode": "payment", "client_reference_id": "order-1"}
    )  # fmt: skip
    await sandbox.complete_checkout(session.checkout_session_id)
    return session.checkout_session_id


async def test_a_list_walks_several_pages_of_the_sandbox(
    flex: FlexClient, wire: CountingTransport
) -> None:
    """Seven customers in pages of three: three requests, every customer once, newest first."""
    created = [
        (await flex.create_customer({"email": f"c{n}@example.com"})).customer_id for n in range(7)
    ]
    wire.requests.clear()
    listed = [c.customer_id async for c in flex.list_customers(limit=3)]
    assert listed == created[::-1]
    assert len(wire.requests) == 3
    assert [r.url.params.get("starting_after") for r in wire.requests] == [
        None, listed[2], listed[5],
    ]  # fmt: skip


async def test_a_list_of_exactly_full_pages_ends_after_an_empty_page(
    flex: FlexClient, wire: CountingTransport
) -> None:
    """Six products in pages of three: the third request finds nothing and ends the walk."""
    for n in range(6):
        await flex.create_product({"name": f"p{n}"})
    wire.requests.clear()
    assert len([p async for p in flex.list_products(limit=3)]) == 6
    assert len(wire.requests) == 3


async def test_a_paid_checkout_reads_back_through_every_checkout_call(
    flex: FlexClient, sandbox: RunningSandbox
) -> None:
    """Session, line items, payment intents, filters and events agree after a paid checkout."""
    session_id = await a_paid_session(flex, sandbox)
    session = await flex.get_checkout_session(session_id, expand_customer=True)
    assert session.status == CheckoutSessionStatus.COMPLETE
    assert isinstance(session.customer, Customer)
    assert session.amount_total == 2 * 4999
    items = await flex.list_line_items(session_id)
    assert [(i.quantity, i.price.unit_amount if i.price else None) for i in items] == [(2, 4999)]
    found = [s.checkout_session_id async for s in flex.list_checkout_sessions(status="complete")]
    assert found == [session_id]
    intents = [p async for p in flex.list_payment_intents(checkout_session=session_id)]
    assert {p.payment_intent_id for p in intents} == set(session.payment_intent_ids)
    assert (await flex.get_payment_intent(intents[0].payment_intent_id)).amount > 0
    completed = [e async for e in flex.list_events(event_type="checkout.session.completed")]
    assert len(completed) == 1
    event = await flex.get_event(completed[0].event_id)
    assert (event.resource("checkout_session") or {})["checkout_session_id"] == session_id


async def test_refunds_are_created_read_and_listed(
    flex: FlexClient, sandbox: RunningSandbox
) -> None:
    """A partial refund of a paid session's payment intent reads back by id and in the list."""
    session = await flex.get_checkout_session(await a_paid_session(flex, sandbox))
    intent_id = session.payment_intent_ids[0]
    refund = await flex.create_refund(
        {"payment_intent_id": intent_id, "amount": 1000, "reason": "requested_by_customer"},
        idempotency_key="refund:test:1",
    )
    assert (await flex.get_refund(refund.refund_id)).amount == 1000
    listed = [r.refund_id async for r in flex.list_refunds(payment_intent=intent_id)]
    assert listed == [refund.refund_id]


async def test_a_subscription_checkout_reads_updates_and_cancels(
    flex: FlexClient, sandbox: RunningSandbox
) -> None:
    """A paid subscription session yields a subscription to read, list, update and cancel."""
    product = await flex.create_product({"name": "CPAP supplies"})
    monthly = {"interval": "monthly", "interval_count": 1}
    price = await flex.create_price(
        {"product": product.product_id, "unit_amount": 2500, "recurring": monthly}
    )
    session = await flex.create_checkout_session(
        {"line_items": [{"price": price.price_id}], "mode": "subscription",
         "success_url": "https://shop.example.com/ok"}
    )  # fmt: skip
    await sandbox.complete_checkout(session.checkout_session_id)
    paid = await flex.get_checkout_session(session.checkout_session_id)
    assert paid.subscription is not None
    listed = [s.subscription_id async for s in flex.list_subscriptions(status="active")]
    assert listed == [paid.subscription]
    updated = await flex.update_subscription(paid.subscription, {"metadata": {"plan": "gold"}})
    assert updated.metadata == {"plan": "gold"}
    canceled = await flex.cancel_subscription(paid.subscription)
    assert canceled.cancel_at_period_end is True
    assert (await flex.get_subscription(paid.subscription)).cancel_at_period_end is True


async def test_an_open_session_can_be_expired(flex: FlexClient) -> None:
    """expire_checkout_session moves an open session to expired."""
    product = await flex.create_product({"name": "Gauze"})
    price = await flex.create_price({"product": product.product_id, "unit_amount": 500})
    session = await flex.create_checkout_session(
        {"line_items": [{"price": price.price_id}], "success_url": "https://shop.example.com/ok"}
    )
    expired = await flex.expire_checkout_session(session.checkout_session_id)
    assert expired.status == CheckoutSessionStatus.EXPIRED


async def test_payment_links_customers_and_webhooks_round_trip(flex: FlexClient) -> None:
    """Create, read, list and update calls agree with each other on the sandbox."""
    product = await flex.create_product({"name": "Thermometer"})
    price = await flex.create_price({"product": product.product_id, "unit_amount": 1999})
    assert (await flex.get_price(price.price_id)).unit_amount == 1999
    assert (await flex.get_product(product.product_id)).name == "Thermometer"
    link = await flex.create_payment_link({"line_items": [{"price": price.price_id}]})
    assert (
        await flex.get_payment_link(link.payment_link_id)
    ).payment_link_id == link.payment_link_id
    assert [p.payment_link_id async for p in flex.list_payment_links()] == [link.payment_link_id]
    customer = await flex.create_customer({"email": "a@example.com"})
    await flex.update_customer(customer.customer_id, {"phone": "+15555550100"})
    assert (await flex.get_customer(customer.customer_id)).phone == "+15555550100"
    hook = await flex.create_webhook(
        {"url": "http://127.0.0.1:9/webhook", "events": ["refund.updated"]}
    )
    assert (hook.signing_secret or "").startswith("fwhsec_")
    assert (await flex.update_webhook(hook.webhook_id, {"enabled": False})).enabled is False
    assert (await flex.get_webhook(hook.webhook_id)).url == "http://127.0.0.1:9/webhook"
    await flex.delete_webhook(hook.webhook_id)
    assert [w async for w in flex.list_webhooks()] == []


async def test_a_live_key_is_an_authentication_error(
    sandbox: RunningSandbox, clock: ManualClock
) -> None:
    """The sandbox takes test keys only; the client says to check FLEX_API_KEY, once."""
    async with FlexClient(
        "fsk_live_not_for_the_sandbox", sandbox.base_url, clock=clock.as_clock()
    ) as live:
        with pytest.raises(AuthenticationError, match="FLEX_API_KEY") as caught:
            await live.get_customer("fcus_01HACM7FZ1084XB1GB6053VM0D")
    assert caught.value.status == 401
    assert clock.slept == []


async def test_an_unknown_id_is_a_not_found_error(flex: FlexClient, clock: ManualClock) -> None:
    """A session id the sandbox never issued: NotFoundError with Flex's code, not retried."""
    with pytest.raises(NotFoundError) as caught:
        await flex.get_checkout_session("fcs_01HW5KTQQAAQ66WV19MFW4DTT4")
    assert caught.value.code == "checkout_session_not_found"
    assert clock.slept == []


async def test_an_unknown_price_is_a_validation_error_with_flexs_details(
    flex: FlexClient, wire: CountingTransport
) -> None:
    """422 price_not_found arrives as details, exactly as Flex's plugin reads it; one attempt."""
    with pytest.raises(ValidationError) as caught:
        await flex.create_checkout_session(
            {"line_items": [{"price": "fprice_01HT5GKN33F6E31WE2RF1GYYKH"}],
             "success_url": "https://shop.example.com/ok"}
        )  # fmt: skip
    assert caught.value.status == 422
    assert "price_not_found" in [d.type for d in caught.value.details]
    assert len(wire.requests) == 1


async def test_injected_429s_are_retried_after_retry_after_and_then_succeed(
    flex: FlexClient, sandbox: RunningSandbox, clock: ManualClock, wire: CountingTransport
) -> None:
    """Two injected 429s with Retry-After 3: the client waits 3 s twice, then gets the object."""
    customer = await flex.create_customer({"email": "r@example.com"})
    await set_faults(sandbox, api_429={"next_n": 2, "retry_after": 3})
    wire.requests.clear()
    again = await flex.get_customer(customer.customer_id)
    assert again.email == "r@example.com"
    assert clock.slept == [3.0, 3.0]
    assert len(wire.requests) == 3


async def test_429s_beyond_the_attempts_raise_rate_limited_with_retry_after(
    flex: FlexClient, sandbox: RunningSandbox
) -> None:
    """When the sandbox keeps limiting, RateLimitedError carries its Retry-After."""
    await set_faults(sandbox, api_429={"next_n": 10, "retry_after": 2})
    with pytest.raises(RateLimitedError) as caught:
        await flex.get_customer("fcus_01HACM7FZ1084XB1GB6053VM0D")
    assert caught.value.retry_after == 2.0


async def test_injected_5xx_on_a_create_is_retried_and_creates_exactly_once(
    flex: FlexClient, sandbox: RunningSandbox, clock: ManualClock, wire: CountingTransport
) -> None:
    """Two 503s before a create: retried under one Idempotency-Key, one customer exists."""
    await set_faults(sandbox, api_5xx={"next_n": 2, "status": 503})
    created = await flex.create_customer({"email": "once@example.com"})
    keys = {r.headers["idempotency-key"] for r in wire.requests}
    assert len(wire.requests) == 3
    assert len(keys) == 1
    assert clock.slept == [0.01, 0.02]
    assert [c.customer_id async for c in flex.list_customers()] == [created.customer_id]


async def test_5xx_beyond_the_attempts_raise_server_error(
    flex: FlexClient, sandbox: RunningSandbox, wire: CountingTransport
) -> None:
    """A sandbox failing every time: ServerError with its status after four attempts."""
    await set_faults(sandbox, api_5xx={"next_n": 10, "status": 502})
    with pytest.raises(ServerError) as caught:
        await flex.list_line_items("fcs_01HW5KTQQAAQ66WV19MFW4DTT4")
    assert caught.value.status == 502
    assert len(wire.requests) == 4


async def test_a_stopped_sandbox_is_a_network_error(clock: ManualClock) -> None:
    """After the sandbox shuts down its port refuses connections: NetworkError, retried first."""
    async with run_sandbox(time_scale=0.001) as gone:
        url, key = gone.base_url, gone.api_key
    async with FlexClient(key, url, retry=RetryPolicy.testing(), clock=clock.as_clock()) as flex:
        with pytest.raises(NetworkError, match="ConnectError"):
            await flex.get_customer("fcus_01HACM7FZ1084XB1GB6053VM0D")
    assert clock.slept == [0.01, 0.02]
