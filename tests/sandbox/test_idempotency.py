"""Idempotency-Key on the sandbox's POSTs, and answers lost after the commit, over loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from flexfulfill.clock import Clock, ManualClock
from flexfulfill.sandbox import run_sandbox
from flexfulfill.sandbox.idempotency import Idempotency
from flexfulfill.sandbox.runner import new_test_key, serve
from flexfulfill.sandbox.store import SandboxStore
from flexfulfill.store.db import make_engine

ADA = {"customer": {"email": "ada@example.com"}}
GRACE = {"customer": {"email": "grace@example.com"}}


async def post(flex: Any, path: str, body: Any, key: str | None = None) -> httpx.Response:
    headers = {"idempotency-key": key} if key is not None else {}
    response: httpx.Response = await flex.post(path, json=body, headers=headers)
    return response


async def count(flex: Any, listing: str, **params: Any) -> int:
    """How many objects a list endpoint shows (the tests make fewer than 100)."""
    answer = (await flex.get(f"/v1/{listing}", params={"limit": 100, **params})).json()
    return len(answer[listing])


async def test_a_retry_with_the_same_key_replays_the_first_answer_and_emits_nothing(
    flex: Any,
) -> None:
    """Same key, same body: the same bytes again, one customer, one customer.created event."""
    first = await post(flex, "/v1/customers", ADA, "key-1")
    again = await post(flex, "/v1/customers", ADA, "key-1")
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await count(flex, "customers") == 1
    assert await count(flex, "events", event_type="customer.created") == 1


async def test_the_same_key_with_another_body_is_refused_with_400(flex: Any) -> None:
    """A different body under a used key → 400 idempotency_key_reused saying what to do."""
    await post(flex, "/v1/customers", ADA, "key-2")
    refused = await post(flex, "/v1/customers", GRACE, "key-2")
    assert refused.status_code == 400
    (item,) = refused.json()["detail"]
    assert item["type"] == "idempotency_key_reused"
    assert item["loc"] == ["header", "idempotency-key"]
    assert "another body" in item["msg"]
    assert "new key" in item["msg"]
    assert await count(flex, "customers") == 1


async def test_the_same_key_on_another_path_is_refused_with_400(flex: Any) -> None:
    """A used key sent to another endpoint is refused and names the first request."""
    await post(flex, "/v1/customers", ADA, "key-3")
    refused = await post(flex, "/v1/products", {"product": {"name": "Gauze"}}, "key-3")
    assert refused.status_code == 400
    assert "POST /v1/customers with another path" in refused.json()["detail"][0]["msg"]
    assert await count(flex, "products") == 0


async def test_a_body_with_its_keys_reordered_is_the_same_request(flex: Any) -> None:
    """Key order and spacing of the JSON body do not matter: the retry replays."""
    raw = [b'{"customer": {"email": "a@example.com", "first_name": "Ada"}}',
           b'{"customer":{"first_name":"Ada","email":"a@example.com"}}']  # fmt: skip
    answers = [
        await flex.post("/v1/customers", content=body, headers={"idempotency-key": "key-4"})
        for body in raw
    ]
    assert answers[1].content == answers[0].content
    assert answers[1].headers["idempotent-replayed"] == "true"


async def test_posts_without_a_key_create_an_object_each(flex: Any) -> None:
    """No Idempotency-Key, no protection: two identical POSTs make two customers."""
    first = await post(flex, "/v1/customers", ADA)
    second = await post(flex, "/v1/customers", ADA)
    ids = {r.json()["customer"]["customer_id"] for r in (first, second)}
    assert len(ids) == 2
    assert await count(flex, "customers") == 2


async def test_concurrent_requests_with_one_key_run_once(flex: Any) -> None:
    """Eight simultaneous POSTs under one key: one customer, eight identical answers."""
    answers = await asyncio.gather(*(post(flex, "/v1/customers", ADA, "key-5") for _ in range(8)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    assert sum("idempotent-replayed" in a.headers for a in answers) == 7
    assert await count(flex, "customers") == 1


async def test_injected_faults_are_not_stored_so_the_retry_really_runs(
    sandbox: Any, flex: Any
) -> None:
    """An injected 503 under a key, then the retry creates the customer; a third call replays."""
    sandbox.set_faults(api_5xx={"next_n": 1})
    failed = await post(flex, "/v1/customers", ADA, "key-6")
    ran = await post(flex, "/v1/customers", ADA, "key-6")
    replayed = await post(flex, "/v1/customers", ADA, "key-6")
    assert [failed.status_code, ran.status_code] == [503, 200]
    assert "idempotent-replayed" not in ran.headers
    assert replayed.content == ran.content
    assert await count(flex, "customers") == 1


async def test_a_4xx_answer_is_stored_and_replayed_too(flex: Any) -> None:
    """A refusal is an outcome (Flex: 4xx are terminal): the same request gets it again."""
    body = {"price": {"product": "fprod_missing", "unit_amount": 100}}
    first = await post(flex, "/v1/prices", body, "key-7")
    again = await post(flex, "/v1/prices", body, "key-7")
    assert first.status_code == again.status_code == 422
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"


async def test_keys_are_scoped_to_the_api_key(sandbox: Any, flex: Any) -> None:
    """Another API key may use the same Idempotency-Key for its own request."""
    await post(flex, "/v1/customers", ADA, "key-8")
    async with sandbox.client(headers={"authorization": f"Bearer {new_test_key()}"}) as other:
        theirs = await post(other, "/v1/customers", ADA, "key-8")
    assert "idempotent-replayed" not in theirs.headers
    assert await count(flex, "customers") == 2


@pytest.mark.parametrize("key", ["", "k" * 256])
async def test_an_empty_or_overlong_key_is_refused_with_what_to_do(flex: Any, key: str) -> None:
    """An empty or 256-character key → 400 idempotency_key_invalid; nothing is created."""
    refused = await post(flex, "/v1/customers", ADA, key)
    assert refused.status_code == 400
    assert refused.json()["detail"][0]["type"] == "idempotency_key_invalid"
    assert await count(flex, "customers") == 0


async def test_a_stored_answer_expires_after_24_hours_of_sandbox_time() -> None:
    """Replayed just before 24 h (sandbox clock); after that the key runs afresh."""
    clock = ManualClock()
    async with run_sandbox(clock=clock) as sandbox, sandbox.client() as flex:
        first = await post(flex, "/v1/customers", ADA, "key-9")
        clock.advance(24 * 3600 - 1)
        assert (await post(flex, "/v1/customers", ADA, "key-9")).content == first.content
        clock.advance(1)
        fresh = await post(flex, "/v1/customers", ADA, "key-9")
        assert "idempotent-replayed" not in fresh.headers
        assert await count(flex, "customers") == 2


async def test_stored_answers_survive_a_restart_on_either_engine(database_url: str) -> None:
    """Stored in the sandbox's own table: a restarted sandbox replays the first answer."""
    headers: dict[str, str] = {}
    async with run_sandbox(database_url) as sandbox, sandbox.client() as flex:
        headers["authorization"] = f"Bearer {sandbox.api_key}"
        first = await post(flex, "/v1/customers", ADA, "key-10")
    async with run_sandbox(database_url) as sandbox, sandbox.client(headers=headers) as flex:
        again = await post(flex, "/v1/customers", ADA, "key-10")
        assert await count(flex, "customers") == 1
    assert (first.status_code, again.content) == (200, first.content)


async def test_a_lost_answer_hides_a_committed_object(sandbox: Any, flex: Any) -> None:
    """lose_response_after_commit: a 500, yet the customer exists; a keyless retry doubles it."""
    sandbox.set_faults(lose_response_after_commit={"next_n": 1})
    lost = await post(flex, "/v1/customers", ADA)
    assert lost.status_code == 500
    assert "lose_response_after_commit" in lost.json()["detail"][0]["msg"]
    assert await count(flex, "customers") == 1
    await post(flex, "/v1/customers", ADA)  # the naive retry
    assert await count(flex, "customers") == 2


async def test_a_lost_answer_under_a_key_is_answered_by_the_retry(sandbox: Any, flex: Any) -> None:
    """The retry with the same key after a lost answer replays the customer that was created."""
    sandbox.set_faults(lose_response_after_commit={"next_n": 1})
    assert (await post(flex, "/v1/customers", ADA, "key-11")).status_code == 500
    retried = await post(flex, "/v1/customers", ADA, "key-11")
    assert retried.headers["idempotent-replayed"] == "true"
    assert await count(flex, "customers") == 1


async def test_a_dropped_connection_after_commit_raises_on_the_client(
    sandbox: Any, flex: Any
) -> None:
    """drop_connection: the client sees the connection close mid-answer; the customer exists."""
    sandbox.set_faults(lose_response_after_commit={"next_n": 1, "drop_connection": True})
    with pytest.raises(httpx.RemoteProtocolError):
        await post(flex, "/v1/customers", ADA)
    assert await count(flex, "customers") == 1


async def test_lost_answers_spare_reads_and_test_helpers(sandbox: Any, flex: Any) -> None:
    """A GET or a test-helper POST does not use up the next lost answer."""
    sandbox.set_faults(lose_response_after_commit={"next_n": 1})
    assert (await flex.get("/v1/customers")).status_code == 200
    helper = await flex.put("/v1/test_helpers/faults", json={"faults": {"seed": 3}})
    assert helper.json()["faults"]["lose_response_after_commit"]["next_n"] == 1
    assert (await post(flex, "/v1/customers", ADA)).status_code == 500


async def test_a_request_that_waits_too_long_for_its_key_gets_409(tmp_path: Path) -> None:
    """While the first request under a key is held up, a second one answers 409 in use."""
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow_api(_scope: Scope, _receive: Receive, send: Send) -> None:
        entered.set()
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    store = SandboxStore(make_engine(f"sqlite+aiosqlite:///{tmp_path / 'keys.sqlite3'}"))
    await store.create_all()
    app = Idempotency(slow_api, store, Clock(), busy_wait=0.05)
    headers = {"idempotency-key": "key-12", "authorization": "Bearer fsk_test_x"}
    async with serve(app, "127.0.0.1", 0) as port, httpx.AsyncClient(headers=headers) as c:
        url = f"http://127.0.0.1:{port}/v1/customers"
        first = asyncio.create_task(c.post(url, json={}))
        await entered.wait()
        busy = await c.post(url, json={})
        release.set()
        assert (await first).status_code == 200
        assert (await c.post(url, json={})).headers["idempotent-replayed"] == "true"
    await store.engine.dispose()
    assert busy.status_code == 409
    assert busy.json()["detail"][0]["type"] == "idempotency_key_in_use"
