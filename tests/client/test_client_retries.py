"""Retries and errors of FlexClient against a scripted HTTP server on loopback."""

from __future__ import annotations

import logging

import pytest
from flex_loopback import API_KEY, Reply, ScriptedServer, free_port

from flexfulfill.clock import ManualClock
from flexfulfill.flex import (
    AuthenticationError,
    FlexClient,
    FlexError,
    NetworkError,
    NotFoundError,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    ValidationError,
)

SESSION = {"checkout_session": {"checkout_session_id": "fcs_01HW5KTQQAAQ66WV19MFW4DTT4"}}
CUSTOMER = {"customer": {"customer_id": "fcus_01HACM7FZ1084XB1GB6053VM0D"}}


async def test_a_503_then_200_is_retried_and_returns_the_object(
    server: ScriptedServer, client: FlexClient, clock: ManualClock
) -> None:
    """A 503 followed by a 200 yields the object after one backoff on the clock."""
    server.script(Reply(503, {"detail": "busy"}), Reply(200, SESSION))
    session = await client.get_checkout_session("fcs_01HW5KTQQAAQ66WV19MFW4DTT4")
    assert session.checkout_session_id == "fcs_01HW5KTQQAAQ66WV19MFW4DTT4"
    assert len(server.seen) == 2
    assert clock.slept == [0.01]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_every_time_ends_in_server_error_after_max_attempts(
    server: ScriptedServer, client: FlexClient, clock: ManualClock, status: int
) -> None:
    """Persistent 5xx is tried max_attempts times with capped exponential waits, then raised."""
    server.script(Reply(status, {"detail": "down"}))
    with pytest.raises(ServerError) as caught:
        await client.get_customer("fcus_1")
    assert caught.value.status == status
    assert len(server.seen) == 3
    assert clock.slept == [0.01, 0.02]


async def test_backoff_is_capped(server: ScriptedServer, clock: ManualClock) -> None:
    """Waits double from base and stop growing at cap (a ManualClock may be passed as is)."""
    server.script(Reply(500, {}))
    policy = RetryPolicy(max_attempts=6, base=1.0, cap=3.0, deadline=100, jitter=lambda: 1.0)
    async with FlexClient(API_KEY, server.url, retry=policy, clock=clock) as flex:
        with pytest.raises(ServerError):
            await flex.get_customer("fcus_1")
    assert clock.slept == [1.0, 2.0, 3.0, 3.0, 3.0]


async def test_a_429_waits_at_least_its_retry_after(
    server: ScriptedServer, client: FlexClient, clock: ManualClock
) -> None:
    """Retry-After (seconds) overrides a shorter backoff."""
    server.script(Reply(429, {}, {"Retry-After": "7"}), Reply(200, CUSTOMER))
    customer = await client.get_customer("fcus_01HACM7FZ1084XB1GB6053VM0D")
    assert customer.customer_id == "fcus_01HACM7FZ1084XB1GB6053VM0D"
    assert clock.slept == [7.0]


async def test_a_429_that_never_clears_raises_rate_limited_with_retry_after(
    server: ScriptedServer, client: FlexClient
) -> None:
    """After the last attempt the error carries the server's Retry-After and says to wait."""
    server.script(Reply(429, {"detail": "slow down"}, {"Retry-After": "2"}))
    with pytest.raises(RateLimitedError) as caught:
        await client.get_customer("fcus_1")
    assert caught.value.retry_after == 2.0
    assert caught.value.status == 429
    assert "Retry after 2 s" in str(caught.value)
    assert len(server.seen) == 3


async def test_a_retry_after_beyond_the_deadline_gives_up_without_sleeping(
    server: ScriptedServer, clock: ManualClock
) -> None:
    """No retry starts if it could not begin before the total deadline."""
    server.script(Reply(429, {}, {"Retry-After": "120"}))
    policy = RetryPolicy(max_attempts=5, deadline=30.0)
    async with FlexClient(API_KEY, server.url, retry=policy, clock=clock.as_clock()) as flex:
        with pytest.raises(RateLimitedError):
            await flex.get_customer("fcus_1")
    assert len(server.seen) == 1
    assert clock.slept == []


async def test_the_deadline_bounds_the_sum_of_waits(
    server: ScriptedServer, clock: ManualClock
) -> None:
    """Backoff that would cross the deadline stops the retries early."""
    server.script(Reply(503, {}))
    policy = RetryPolicy(max_attempts=10, base=4.0, cap=100.0, deadline=10.0, jitter=lambda: 1.0)
    async with FlexClient(API_KEY, server.url, retry=policy, clock=clock.as_clock()) as flex:
        with pytest.raises(ServerError):
            await flex.get_customer("fcus_1")
    assert clock.slept == [4.0]  # 4 + 8 would be 12 > 10
    assert len(server.seen) == 2


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, ValidationError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, NotFoundError),
        (409, ValidationError),
        (422, ValidationError),
    ],
)
async def test_other_4xx_are_never_retried(
    server: ScriptedServer,
    client: FlexClient,
    clock: ManualClock,
    status: int,
    error: type[FlexError],
) -> None:
    """A 4xx other than 429 raises its error class after exactly one attempt."""
    server.script(Reply(status, {"detail": "no"}))
    with pytest.raises(error) as caught:
        await client.get_customer("fcus_1")
    assert caught.value.status == status
    assert len(server.seen) == 1
    assert clock.slept == []


async def test_a_post_is_retried_with_the_same_generated_idempotency_key(
    server: ScriptedServer, client: FlexClient
) -> None:
    """The client makes one key per logical call and sends it on every attempt."""
    server.script(Reply(503, {}), Reply(502, {}), Reply(200, SESSION))
    await client.create_checkout_session({"mode": "payment"})
    keys = {seen.headers.get("idempotency-key") for seen in server.seen}
    assert len(server.seen) == 3
    assert len(keys) == 1
    assert None not in keys


async def test_two_logical_posts_get_different_idempotency_keys(
    server: ScriptedServer, client: FlexClient
) -> None:
    """Separate calls are separate operations and must not share a key."""
    server.script(Reply(200, CUSTOMER))
    await client.create_customer({"email": "a@example.com"})
    await client.create_customer({"email": "a@example.com"})
    first, second = (seen.headers["idempotency-key"] for seen in server.seen)
    assert first != second


async def test_the_callers_idempotency_key_is_sent_verbatim_on_every_attempt(
    server: ScriptedServer, client: FlexClient
) -> None:
    """A caller-derived key survives retries unchanged, so it also survives restarts."""
    server.script(Reply(500, {}), Reply(200, {"refund": {"refund_id": "fref_1"}}))
    await client.create_refund({"payment_intent_id": "fpi_1"}, idempotency_key="refund:evt_9")
    assert [seen.headers["idempotency-key"] for seen in server.seen] == ["refund:evt_9"] * 2


async def test_a_get_carries_no_idempotency_key(server: ScriptedServer, client: FlexClient) -> None:
    """Only POSTs need a key; reads are safe to repeat as they are."""
    server.script(Reply(200, CUSTOMER))
    await client.get_customer("fcus_01HACM7FZ1084XB1GB6053VM0D")
    assert "idempotency-key" not in server.seen[0].headers


async def test_a_create_sends_flexs_envelope_and_bearer_key(
    server: ScriptedServer, client: FlexClient
) -> None:
    """Bodies are wrapped in the resource key and the key goes in Authorization only."""
    server.script(Reply(200, SESSION))
    await client.create_checkout_session({"mode": "payment", "line_items": []})
    seen = server.seen[0]
    assert (seen.method, seen.path) == ("POST", "/v1/checkout/sessions")
    assert seen.body == {"checkout_session": {"mode": "payment", "line_items": []}}
    assert seen.headers["authorization"] == f"Bearer {API_KEY}"


async def test_a_timeout_is_retried_and_then_raised_as_network_error(
    server: ScriptedServer, clock: ManualClock
) -> None:
    """A server slower than the timeout counts as a network failure and is retried."""
    server.script(Reply(200, CUSTOMER, delay=0.5))
    policy = RetryPolicy.testing(max_attempts=2)
    flex = FlexClient(API_KEY, server.url, retry=policy, clock=clock.as_clock(), timeout=0.1)
    async with flex:
        with pytest.raises(NetworkError, match="timed out") as caught:
            await flex.get_customer("fcus_1")
    assert caught.value.status is None
    assert len(server.seen) == 2


async def test_a_refused_connection_is_retried_and_then_raised_as_network_error(
    clock: ManualClock,
) -> None:
    """Nothing listening: every attempt fails to connect, then NetworkError says what to do."""
    url = f"http://127.0.0.1:{free_port()}"
    async with FlexClient(
        API_KEY, url, retry=RetryPolicy.testing(), clock=clock.as_clock()
    ) as flex:
        with pytest.raises(NetworkError, match="ConnectError") as caught:
            await flex.get_customer("fcus_1")
    assert "FLEX_API_BASE" in caught.value.what_to_do
    assert clock.slept == [0.01, 0.02]


async def test_validation_error_carries_flexs_detail_entries(
    server: ScriptedServer, client: FlexClient
) -> None:
    """Flex's 422 detail list arrives as ErrorDetailItem values and in the message."""
    detail = [
        {"loc": ["price"], "msg": "price_not_found: One or more prices are not valid",
         "type": "price_not_found"}
    ]  # fmt: skip
    server.script(Reply(422, {"detail": detail}))
    with pytest.raises(ValidationError) as caught:
        await client.create_checkout_session({"line_items": [{"price": "fprice_x"}]})
    assert [d.type for d in caught.value.details] == ["price_not_found"]
    assert caught.value.code == "price_not_found"
    assert "price: price_not_found" in str(caught.value)


async def test_a_2xx_that_is_not_json_is_a_flex_error_not_a_crash(
    server: ScriptedServer, client: FlexClient
) -> None:
    """An HTML page from a wrong base URL becomes a FlexError pointing at FLEX_API_BASE."""
    server.script(Reply(200, raw=b"<html>hello</html>"))
    with pytest.raises(FlexError, match="not JSON") as caught:
        await client.get_customer("fcus_1")
    assert "FLEX_API_BASE" in str(caught.value)


async def test_an_object_of_the_wrong_shape_is_a_flex_error_naming_the_field(
    server: ScriptedServer, client: FlexClient
) -> None:
    """A body without the id field is reported as unreadable, not as a pydantic traceback."""
    server.script(Reply(200, {"customer": {"email": "a@example.com"}}))
    with pytest.raises(FlexError, match="customer_id"):
        await client.get_customer("fcus_1")


async def test_a_bare_object_without_envelope_is_accepted(
    server: ScriptedServer, client: FlexClient
) -> None:
    """Forgiving in what it reads: an unwrapped object parses as well."""
    server.script(Reply(200, {"customer_id": "fcus_2", "email": "b@example.com"}))
    customer = await client.get_customer("fcus_2")
    assert customer.email == "b@example.com"


async def test_the_api_key_appears_in_no_log_line_message_or_repr(
    server: ScriptedServer, client: FlexClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Through retries, a 401 and a network failure, the key is never written anywhere."""
    caplog.set_level(logging.DEBUG)
    server.script(Reply(503, {}), Reply(401, {"detail": "bad key"}))
    errors: list[FlexError] = []
    with pytest.raises(AuthenticationError) as auth:
        await client.create_customer({"email": "a@example.com"})
    errors.append(auth.value)
    async with FlexClient(API_KEY, f"http://127.0.0.1:{free_port()}", retry=RetryPolicy.testing(),
                          clock=ManualClock().as_clock()) as offline:  # fmt: skip
        with pytest.raises(NetworkError) as network:
            await offline.get_customer("fcus_1")
        errors.append(network.value)
        texts = [repr(client), str(client), repr(offline), caplog.text]
    texts += [text for error in errors for text in (str(error), repr(error), *map(str, error.args))]
    assert any("retry" in record.getMessage() for record in caplog.records)
    assert not [text for text in texts if API_KEY in text or "SECRETkey" in text]


def test_test_mode_follows_the_key_prefix() -> None:
    """fsk_test_ keys are test mode, other fsk_ keys live; the repr says which, not the key."""
    assert FlexClient("fsk_test_abc").test_mode is True
    live = FlexClient("fsk_live_abc")
    assert live.test_mode is False
    assert repr(live) == "<FlexClient https://api.withflex.com live mode>"
