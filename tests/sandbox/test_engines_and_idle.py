"""The sandbox on both engines, and a delivery loop that uses no CPU while nothing is due."""

from __future__ import annotations

import asyncio
import time

from sandbox_support import Receiver, make_price, make_session, svix_verify

from flexfulfill.sandbox import run_sandbox


async def test_a_checkout_is_delivered_on_sqlite_and_postgresql(
    database_url: str, receiver: Receiver
) -> None:
    """The sandbox's own tables sit beside the merchant's; the flow works on either engine."""
    async with run_sandbox(database_url) as sandbox:
        hook = await sandbox.create_webhook(receiver.url, ["checkout.session.completed"])
        async with sandbox.client() as flex:
            session = await make_session(flex, [await make_price(flex)])
        await sandbox.complete_checkout(session["checkout_session_id"])
        (request,) = await receiver.wait_for(1)
    svix_verify(hook["signing_secret"], request)
    assert (
        request.json["object"]["checkout_session"]["checkout_session_id"]
        == session["checkout_session_id"]
    )


async def test_the_delivery_loop_uses_no_cpu_while_nothing_is_due(receiver: Receiver) -> None:
    """With an endpoint registered and nothing due, a second of idling costs under 50 ms CPU."""
    async with run_sandbox() as sandbox:
        await sandbox.create_webhook(receiver.url)
        await sandbox.request("POST", "/v1/customers", {"customer": {}})
        await receiver.wait_for(1)
        await sandbox.wait_idle()
        before = time.process_time()
        await asyncio.sleep(1.0)
        used = time.process_time() - before
    assert used < 0.05
