"""Fault injection, at start-up and at run time; every delivery verified by the svix package."""

from __future__ import annotations

import time
from typing import Any

import pytest
import svix.webhooks
from sandbox_support import Receiver, make_price, make_session, svix_verify

from flexfulfill.clock import ManualClock
from flexfulfill.sandbox import Faults, run_sandbox
from flexfulfill.sandbox.faults import FaultBox

CUSTOMER = {"customer": {"email": "ada@example.com"}}


async def test_every_delivery_of_a_checkout_verifies_with_the_svix_package(
    receiver: Receiver,
) -> None:
    """A split-cart checkout's ten events, each signed so that svix accepts it."""
    async with run_sandbox() as sandbox:
        hook = await sandbox.create_webhook(receiver.url)
        async with sandbox.client() as flex:
            prices = [await make_price(flex), await make_price(flex, "Candy", "not_eligible", 300)]
            session = await make_session(flex, prices)
        await sandbox.complete_checkout(session["checkout_session_id"])
        requests = await receiver.wait_for(10)
    for request in requests:
        svix_verify(hook["signing_secret"], request)
    kinds = [r.json["event_type"] for r in requests]
    assert kinds.count("payment_intent.succeeded") == 2
    assert kinds[-1] == "checkout.session.completed"
    completed = requests[-1].json
    assert completed["object"]["checkout_session"]["status"] == "complete"
    assert set(completed) >= {"event_id", "event_type", "event_dt", "created_at", "test_mode"}


async def test_only_subscribed_event_types_are_delivered(receiver: Receiver) -> None:
    """An endpoint for checkout.session.completed gets nothing for a new customer."""
    async with run_sandbox() as sandbox:
        await sandbox.create_webhook(receiver.url, ["checkout.session.completed"])
        await sandbox.request("POST", "/v1/customers", CUSTOMER)
        await sandbox.wait_idle()
    assert receiver.requests == []


async def test_duplicate_deliveries_repeat_the_same_svix_id(receiver: Receiver) -> None:
    """duplicate_rate=1: each message arrives twice, same svix-id, both verifiable."""
    async with run_sandbox(faults=Faults(duplicate_rate=1.0)) as sandbox:
        hook = await sandbox.create_webhook(receiver.url)
        await sandbox.request("POST", "/v1/customers", CUSTOMER)
        first, second = await receiver.wait_for(2)
    assert first.headers["svix-id"] == second.headers["svix-id"]
    assert first.body == second.body
    for request in (first, second):
        svix_verify(hook["signing_secret"], request)


async def test_a_dropped_first_attempt_is_retried(receiver: Receiver) -> None:
    """drop_first_attempt_rate=1: attempt 1 is recorded as dropped; attempt 2 arrives."""
    async with run_sandbox(
        clock=ManualClock(), faults=Faults(drop_first_attempt_rate=1.0)
    ) as sandbox:
        hook = await sandbox.create_webhook(receiver.url)
        await sandbox.request("POST", "/v1/customers", CUSTOMER)
        await receiver.wait_for(1)
        await sandbox.wait_idle()
        rows = (await sandbox.request("GET", f"/v1/webhooks/{hook['webhook_id']}/attempts"))[
            "attempts"
        ]
    assert [r["outcome"] for r in reversed(rows)] == ["dropped", "succeeded"]
    assert len(receiver.requests) == 1


async def test_a_signing_clock_skew_makes_svix_reject_the_timestamp(receiver: Receiver) -> None:
    """signing_clock_skew=-600 sends a timestamp ten minutes old, which svix refuses."""
    async with run_sandbox(faults=Faults(signing_clock_skew=-600)) as sandbox:
        hook = await sandbox.create_webhook(receiver.url)
        await sandbox.request("POST", "/v1/customers", CUSTOMER)
        (request,) = await receiver.wait_for(1)
    assert int(request.headers["svix-timestamp"]) <= time.time() - 590
    with pytest.raises(svix.webhooks.WebhookVerificationError):
        svix_verify(hook["signing_secret"], request)


async def test_a_reorder_window_shuffles_delivery_order(receiver: Receiver) -> None:
    """reorder_window: ten events recorded together arrive in another order."""
    clock = ManualClock()
    async with run_sandbox(clock=clock, seed=4, faults=Faults(reorder_window=60)) as sandbox:
        await sandbox.create_webhook(receiver.url)
        async with sandbox.state.transaction() as tx:  # one burst, as one API call can make
            recorded = [
                (await tx.emit("customer.created", "customer", {"customer_id": f"fcus_{i}"}))[
                    "event_id"
                ]
                for i in range(10)
            ]
        requests = await receiver.wait_for(10)
    delivered = [r.json["event_id"] for r in requests]
    assert sorted(delivered) == sorted(recorded)
    assert delivered != recorded


async def test_an_extra_delay_holds_back_first_attempts(receiver: Receiver) -> None:
    """extra_delay=30: the first attempt happens 30 s (sandbox time) after the event."""
    clock = ManualClock()
    async with run_sandbox(clock=clock, faults=Faults(extra_delay=30)) as sandbox:
        await sandbox.create_webhook(receiver.url)
        await sandbox.request("POST", "/v1/customers", CUSTOMER)
        (request,) = await receiver.wait_for(1)
    assert request.at - request.json["event_dt"] >= 29


async def test_faults_change_at_run_time_through_the_test_helper(sandbox: Any, flex: Any) -> None:
    """PUT /v1/test_helpers/faults merges fields; GET shows them; bad values → 422."""
    changed = await flex.put(
        "/v1/test_helpers/faults",
        json={"faults": {"duplicate_rate": 0.5, "api_5xx": {"rate": 0.0}}},
    )
    assert changed.json()["faults"]["duplicate_rate"] == 0.5
    shown = (await flex.get("/v1/test_helpers/faults")).json()["faults"]
    assert shown["duplicate_rate"] == 0.5
    assert shown["api_5xx"]["status"] == 503
    bad = await flex.put("/v1/test_helpers/faults", json={"faults": {"duplicate_rate": 2}})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["duplicate_rate"]


async def test_the_api_answers_429_with_retry_after_for_the_next_n_requests(
    sandbox: Any, flex: Any
) -> None:
    """api_429 next_n=2: two 429s with Retry-After, then normal answers."""
    sandbox.set_faults(api_429={"next_n": 2, "retry_after": 7})
    answers = [await flex.get("/v1/customers") for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].headers["retry-after"] == "7"
    assert answers[0].json()["detail"][0]["type"] == "rate_limited"


async def test_the_api_answers_5xx_at_the_given_rate_but_not_on_test_helpers(
    sandbox: Any, flex: Any
) -> None:
    """api_5xx rate=1 → every API call 503, while the faults helper still answers."""
    sandbox.set_faults(api_5xx={"rate": 1.0})
    assert (await flex.get("/v1/customers")).status_code == 503
    off = await flex.put("/v1/test_helpers/faults", json={"faults": {"api_5xx": {"rate": 0}}})
    assert off.status_code == 200
    assert (await flex.get("/v1/customers")).status_code == 200


def test_the_same_seed_makes_the_same_fault_decisions() -> None:
    """Seedable randomness: equal seeds, equal choices."""
    faults = Faults(reorder_window=10, duplicate_rate=0.5)
    a, b = FaultBox(faults, seed=9), FaultBox(faults, seed=9)
    assert [a.first_due_delay() for _ in range(5)] == [b.first_due_delay() for _ in range(5)]
    assert [a.chance(0.5) for _ in range(20)] == [b.chance(0.5) for _ in range(20)]
