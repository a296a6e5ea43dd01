"""Delivery against a real loopback endpoint: schedule, jitter, Retry-After, redirects,
timeouts, auto-disable and restart-resume, on a ManualClock (the schedule runs instantly)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from sandbox_support import Received, Receiver, Reply

from flexfulfill.clock import ManualClock
from flexfulfill.flex import sign, verify
from flexfulfill.sandbox import RetryPolicy, run_sandbox
from flexfulfill.sandbox.retry import SVIX_SCHEDULE

CUSTOMER = {"customer": {"email": "ada@example.com"}}


def verified(secret: str, request: Received) -> None:
    """Our verifier, at the message's own time (a ManualClock is years behind the wall)."""
    stamp = float(request.headers["svix-timestamp"])
    verify(secret, request.headers, request.body, now=lambda: stamp)


async def attempts(sandbox: Any, webhook_id: str) -> list[dict[str, Any]]:
    """Every attempt for the endpoint, oldest first, once nothing is in flight."""
    await sandbox.wait_idle()
    body = await sandbox.request("GET", f"/v1/webhooks/{webhook_id}/attempts")
    return list(reversed(body["attempts"]))


def gaps(rows: list[dict[str, Any]]) -> list[float]:
    times = [row["attempted_at"] for row in rows]
    return [b - a for a, b in itertools.pairwise(times)]


def replies(*sequence: Reply) -> Any:
    """Answer with each reply in turn, then 200 for ever."""
    queue = list(sequence)
    return lambda _request: queue.pop(0) if queue else Reply()


async def test_a_failing_message_is_retried_on_svixs_schedule_with_one_svix_id(
    receiver: Receiver,
) -> None:
    """8 attempts: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h apart (±20 %), then failed."""
    receiver.script = lambda _r: Reply(500, body=b"boom")
    async with run_sandbox(clock=ManualClock(), seed=3) as sandbox:
        hook = await sandbox.create_webhook(receiver.url, ["customer.created"])
        await sandbox.request("POST", "/v1/customers", CUSTOMER)
        await receiver.wait_for(8)
        await sandbox.wait_idle()
        rows = await attempts(sandbox, hook["webhook_id"])
    assert len(rows) == 8
    assert len(receiver.requests) == 8
    assert {r.headers["svix-id"] for r in receiver.requests} == {rows[0]["message_id"]}
    for gap, base in zip(gaps(rows), SVIX_SCHEDULE, strict=True):
        assert 0.8 * base <= gap <= 1.2 * base
    assert rows[-1]["next_attempt_at"] is None
    assert rows[0]["response_excerpt"] == "boom"
    for request in receiver.requests:
        verified(hook["signing_secret"], request)


async def test_jitter_differs_between_messages_and_stays_within_bounds(receiver: Receiver) -> None:
    """Six messages failing once: first retries spread within 4–6 s, not all equal."""
    failed: set[str] = set()

    def fail_once(request: Received) -> Reply:
        first = request.headers["svix-id"] not in failed
        failed.add(request.headers["svix-id"])
        return Reply(500) if first else Reply()

    receiver.script = fail_once
    async with run_sandbox(clock=ManualClock(), seed=11) as sandbox:
        hook = await sandbox.create_webhook(receiver.url)
        for _ in range(6):
            await sandbox.request("POST", "/v1/customers", CUSTOMER)
        await receiver.wait_for(12)
        rows = await attempts(sandbox, hook["webhook_id"])
    first_gaps = []
    for message_id in failed:
        mine = [r for r in rows if r["message_id"] == message_id]
        first_gaps += gaps(mine)
    assert len(first_gaps) == 6
    assert all(4.0 <= g <= 6.0 for g in first_gaps)
    assert len({round(g, 6) for g in first_gaps}) > 1


async def test_retry_after_is_honoured_within_one_and_two_times_the_delay(
    receiver: Receiver,
) -> None:
    """Retry-After 3600 s is capped at 2 × delay; Retry-After 1 s never shortens the delay."""
    receiver.script = replies(Reply(503, {"retry-after": "3600"}), Reply(503, {"retry-after": "1"}))
    async with run_sandbox(clock=ManualClock(), seed=5) as sandbox:
        hook = await sandbox.create_webhook(receiver.url)
        await sandbox.request("POST", "/v1/customers", CUSTOMER)
        await receiver.wait_for(3)
        first, second = gaps(await attempts(sandbox, hook["webhook_id"]))
    assert 8.0 <= first <= 12.0  # 2 × (5 s ± 20 %)
    assert 240.0 <= second <= 360.0  # 5 min ± 20 %, not 1 s


async def test_a_429_waits_at_least_the_overload_penalty(receiver: Receiver) -> None:
    """A 429 without Retry-After waits the 60 s penalty instead of the 5 s first delay."""
    receiver.script = replies(Reply(429))
    async with run_sandbox(clock=ManualClock(), seed=5) as sandbox:
        hook = await sandbox.create_webhook(receiver.url)
        await sandbox.request("POST", "/v1/customers", CUSTOMER)
        await receiver.wait_for(2)
        rows = await attempts(sandbox, hook["webhook_id"])
    assert rows[0]["outcome"] == "rate_limited"
    assert gaps(rows) == [pytest.approx(60.0)]


async def test_a_redirect_is_a_failure_and_is_not_followed(receiver: Receiver) -> None:
    """302 → recorded as a redirect failure; the Location is never requested; retried later."""
    receiver.script = replies(Reply(302, {"location": "/elsewhere"}))
    async with run_sandbox(clock=ManualClock(), seed=5) as sandbox:
        hook = await sandbox.create_webhook(receiver.url)
        await sandbox.request("POST", "/v1/customers", CUSTOMER)
        await receiver.wait_for(2)
        rows = await attempts(sandbox, hook["webhook_id"])
    assert [(r["outcome"], r["status_code"]) for r in rows] == [
        ("redirect", 302),
        ("succeeded", 200),
    ]
    assert [r.path for r in receiver.requests] == ["/webhook", "/webhook"]


async def test_a_timeout_fails_the_attempt_and_waits_the_overload_penalty(
    receiver: Receiver,
) -> None:
    """An endpoint slower than the timeout: outcome timeout, next try ≥ 60 s later."""
    receiver.script = replies(Reply(200, delay=1.5))
    policy = RetryPolicy(timeout=0.2)
    async with run_sandbox(clock=ManualClock(), seed=5, policy=policy) as sandbox:
        hook = await sandbox.create_webhook(receiver.url)
        await sandbox.request("POST", "/v1/customers", CUSTOMER)
        await receiver.wait_for(2)
        await sandbox.wait_idle()
        rows = await attempts(sandbox, hook["webhook_id"])
    assert [r["outcome"] for r in rows] == ["timeout", "succeeded"]
    assert rows[0]["duration_ms"] < 1000
    assert gaps(rows)[0] >= 60.0


async def test_an_endpoint_failing_past_the_window_is_disabled(receiver: Receiver) -> None:
    """With a 1 h window the 5th failure (≈ 2.6 h in) disables the endpoint and cancels retries."""
    receiver.script = lambda _r: Reply(500)
    policy = RetryPolicy(disable_after=3600)
    async with run_sandbox(clock=ManualClock(), seed=5, policy=policy) as sandbox:
        hook = await sandbox.create_webhook(receiver.url)
        await sandbox.request("POST", "/v1/customers", CUSTOMER)
        await receiver.wait_for(5)
        await sandbox.wait_idle()
        after = await sandbox.request("GET", f"/v1/webhooks/{hook['webhook_id']}")
        await sandbox.request("POST", "/v1/customers", CUSTOMER)
        await sandbox.wait_idle()
    assert after["webhook"]["enabled"] is False
    assert len(receiver.requests) == 5


async def test_a_restarted_sandbox_resumes_pending_retries(
    receiver: Receiver, tmp_path: Path
) -> None:
    """A retry pending at shutdown is delivered by the next sandbox on the same database."""
    url = f"sqlite:///{tmp_path / 'sandbox.sqlite3'}"
    clock = ManualClock()
    receiver.script = replies(Reply(500))
    async with run_sandbox(url, clock=clock) as first:
        hook = await first.create_webhook(receiver.url)
        await first.request("POST", "/v1/customers", CUSTOMER)
        await receiver.wait_for(1)
        await first.wait_idle()
    async with run_sandbox(url, clock=clock) as second:
        await receiver.wait_for(2)
        await second.wait_idle()
        rows = await attempts(second, hook["webhook_id"])
    assert [r["outcome"] for r in rows] == ["http_error", "succeeded"]
    assert receiver.requests[0].headers["svix-id"] == receiver.requests[1].headers["svix-id"]


async def test_an_event_can_be_sent_again_as_the_same_message(receiver: Receiver) -> None:
    """POST /v1/events/{id}/retry re-delivers with the same svix-id."""
    async with run_sandbox(clock=ManualClock()) as sandbox:
        hook = await sandbox.create_webhook(receiver.url)
        await sandbox.request("POST", "/v1/customers", CUSTOMER)
        await receiver.wait_for(1)
        (event,) = (await sandbox.request("GET", "/v1/events"))["events"]
        body = {"event": {"webhook_id": hook["webhook_id"]}}
        again = await sandbox.request("POST", f"/v1/events/{event['event_id']}/retry", body)
        await receiver.wait_for(2)
        await sandbox.wait_idle()
        listed = await sandbox.request("GET", f"/v1/events/{event['event_id']}/attempts")
    assert again["event"]["event_id"] == event["event_id"]
    assert len(listed["attempts"]) == 2
    assert receiver.requests[0].headers["svix-id"] == receiver.requests[1].headers["svix-id"]


async def test_a_disabled_endpoint_gets_no_retries_until_enabled_again(receiver: Receiver) -> None:
    """Disabling cancels pending messages; retrying an event to it answers 400 webhook_disabled."""
    receiver.script = lambda _r: Reply(500)
    async with run_sandbox(clock=ManualClock()) as sandbox:
        hook = await sandbox.create_webhook(receiver.url)
        await sandbox.request("POST", "/v1/customers", CUSTOMER)
        await receiver.wait_for(1)
        path = f"/v1/webhooks/{hook['webhook_id']}"
        await sandbox.request("POST", path, {"webhook": {"enabled": False}})
        at_disable = len(receiver.requests)
        await sandbox.wait_idle()
        (event,) = (await sandbox.request("GET", "/v1/events"))["events"]
        async with sandbox.client() as flex:
            body = {"event": {"webhook_id": hook["webhook_id"]}}
            refused = await flex.post(f"/v1/events/{event['event_id']}/retry", json=body)
    assert refused.status_code == 400
    assert refused.json()["detail"][0]["type"] == "webhook_disabled"
    assert len(receiver.requests) <= at_disable + 1  # at most the one already in flight


async def test_after_a_rotation_deliveries_carry_both_signatures_new_first(
    receiver: Receiver,
) -> None:
    """rotate_secret: svix-signature holds the new secret's v1 first, then the old one's."""
    async with run_sandbox(clock=ManualClock()) as sandbox:
        hook = await sandbox.create_webhook(receiver.url)
        path = f"/v1/webhooks/{hook['webhook_id']}/rotate_secret"
        rotated = (await sandbox.request("POST", path))["webhook"]
        await sandbox.request("POST", "/v1/customers", CUSTOMER)
        (request,) = await receiver.wait_for(1)
    first, second = request.headers["svix-signature"].split(" ")
    new, old = rotated["signing_secret"], hook["signing_secret"]
    assert new != old
    verified(new, request)
    verified(old, request)
    stamp = int(request.headers["svix-timestamp"])
    assert first == sign(new, request.headers["svix-id"], stamp, request.body)
    assert second == sign(old, request.headers["svix-id"], stamp, request.body)
