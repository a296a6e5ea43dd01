"""POST /webhook over real HTTP on both engines: what is stored, what is refused, and how."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime

import httpx
import pytest
from receiver_helpers import BODY_LIMIT, SECRET, Receiver, event, signed
from svix.webhooks import Webhook

OTHER = "whsec_" + base64.b64encode(b"a different endpoint secret").decode()


async def test_a_valid_webhook_is_stored_pending_and_acknowledged(receiver: Receiver) -> None:
    """A verified, handled event is in the inbox as pending, with its headers, when 200 comes."""
    body = event(event_id="evt_42")
    response = await receiver.post("msg_1", body)
    assert response.status_code == 200
    assert response.headers["flexfulfill-outcome"] == "stored"
    [row] = await receiver.rows()
    assert (row["message_id"], row["event_id"], row["status"]) == ("msg_1", "evt_42", "pending")
    assert (row["event_type"], row["test_mode"], row["body"]) == (
        "checkout.session.completed",
        True,
        body,
    )
    assert json.loads(str(row["headers"]))["svix-id"] == "msg_1"
    assert row["received_at"] == receiver.clock.now()


async def test_a_redelivered_message_is_acknowledged_and_stored_once(receiver: Receiver) -> None:
    """The same svix-id again answers 2xx (duplicate) and stores nothing new."""
    first = await receiver.post("msg_dup", event())
    again = await receiver.post("msg_dup", event())
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.headers["flexfulfill-outcome"] == "duplicate"
    assert len(await receiver.rows()) == 1


async def test_an_unhandled_event_type_is_stored_as_ignored(receiver: Receiver) -> None:
    """A type nobody handles is acknowledged and kept, with status ignored."""
    response = await receiver.post("msg_ign", event("charge.dispute.created"))
    assert response.status_code == 200
    [row] = await receiver.rows()
    assert row["status"] == "ignored"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff\xfe{}", "not UTF-8"),
        (b"{not json", "not JSON"),
        (b"[1, 2, 3]", "not an object"),
        (b'{"event_type": 7}', "event_type is not a string"),
        (b'{"event_id": "' + b"x" * 300 + b'"}', "longer than"),
        (b'{"event_type": "a\\u0000b"}', "NUL"),
        (b'{"event_type": "\\ud800"}', "surrogate"),
        (b"[" * 100_00 + b"]" * 100_00, "not JSON"),
    ],
)
async def test_a_signed_body_that_cannot_be_an_event_is_stored_dead(
    receiver: Receiver, body: bytes, reason: str
) -> None:
    """Validly signed but unusable bodies are kept as dead with the reason, and answered 2xx."""
    response = await receiver.post("msg_dead", body)
    assert response.status_code == 200
    [row] = await receiver.rows()
    assert row["status"] == "dead"
    assert reason in str(row["last_error"])
    assert row["body"] == body


def _headers_with(change: dict[str, str | None], body: bytes, now: float) -> dict[str, str]:
    sent: dict[str, str | None] = {**signed("msg_bad", body, timestamp=now), **change}
    return {k: v for k, v in sent.items() if v is not None}


BAD_REQUESTS = [
    ({"svix-id": None}, 400, "missing_headers"),
    ({"svix-id": None, "svix-timestamp": None, "svix-signature": None}, 400, "missing_headers"),
    ({"svix-signature": "v1"}, 400, "malformed_signature"),
    ({"svix-signature": "v1,***"}, 400, "malformed_signature"),
    ({"svix-signature": "v1,"}, 400, "malformed_signature"),
    ({"svix-signature": "v1,c2lnbmF0dXJl"}, 401, "no_matching_signature"),
    ({"svix-timestamp": "12.5"}, 400, "invalid_timestamp"),
    ({"svix-id": "m" * 300}, 400, "invalid_message_id"),
]


@pytest.mark.parametrize(("change", "status", "code"), BAD_REQUESTS)
async def test_bad_headers_get_a_4xx_with_a_code_and_store_nothing(
    receiver: Receiver, change: dict[str, str | None], status: int, code: str
) -> None:
    """Each malformed request is answered with its status, a JSON error code and a message."""
    body = event()
    headers = _headers_with(change, body, receiver.clock.now())
    if long_id := change.get("svix-id"):  # re-signed, so only the id's length is wrong
        headers = signed(long_id, body, timestamp=receiver.clock.now())
    response = await receiver.client.post("/webhook", content=body, headers=headers)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert await receiver.rows() == []


@pytest.mark.parametrize(("age", "code"), [(301, "stale_timestamp"), (-301, "future_timestamp")])
async def test_timestamps_outside_the_tolerance_are_refused(
    receiver: Receiver, age: int, code: str
) -> None:
    """A message signed more than five minutes before or after the server's clock gets 400."""
    response = await receiver.post("msg_old", event(), timestamp=receiver.clock.now() - age)
    assert (response.status_code, response.json()["error"]["code"]) == (400, code)
    assert await receiver.rows() == []


async def test_a_forged_message_is_refused_without_revealing_the_secret(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """Signed with another secret: 401, nothing stored, the secret in no answer and no log."""
    response = await receiver.post("msg_forged", event(), secret=OTHER)
    assert response.status_code == 401
    key = SECRET.removeprefix("whsec_")
    assert key not in response.text
    assert key not in caplog.text
    assert await receiver.rows() == []


async def test_other_methods_are_refused(receiver: Receiver) -> None:
    """GET /webhook answers 405 with the JSON error shape."""
    response = await receiver.client.get("/webhook")
    assert (response.status_code, response.json()["error"]["code"]) == (405, "method_not_allowed")


async def test_a_declared_oversized_body_is_refused_before_it_is_sent(receiver: Receiver) -> None:
    """Content-Length over the limit gets 413 while the client has sent none of the body."""
    reader, writer = await asyncio.open_connection(*_host_port(receiver.base))
    writer.write(
        b"POST /webhook HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"content-length: 10000000000\r\n\r\n"
    )
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), timeout=5)
    writer.close()
    assert b" 413 " in status_line


async def test_a_streamed_oversized_body_is_refused_without_reading_it_all(
    receiver: Receiver,
) -> None:
    """A chunked body that passes the limit gets 413 although its end was never sent."""
    reader, writer = await asyncio.open_connection(*_host_port(receiver.base))
    writer.write(b"POST /webhook HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n")
    chunk = b"x" * 8192
    for _ in range(BODY_LIMIT // len(chunk) + 2):
        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    await writer.drain()  # the terminating 0-length chunk is never sent
    status_line = await asyncio.wait_for(reader.readline(), timeout=5)
    writer.close()
    assert b" 413 " in status_line
    assert await receiver.rows() == []


async def test_a_body_at_the_limit_is_accepted(receiver: Receiver) -> None:
    """Exactly the limit is allowed; only more is refused."""
    prefix = b'{"event_type":"customer.created","pad":"'
    body = prefix + b"x" * (BODY_LIMIT - len(prefix) - 2) + b'"}'
    assert len(body) == BODY_LIMIT
    assert (await receiver.post("msg_limit", body)).status_code == 200


async def test_the_same_message_posted_concurrently_leaves_one_row(receiver: Receiver) -> None:
    """Forty connections racing with one svix-id: all 2xx, exactly one stored, one row."""
    body = event()
    headers = signed("msg_race", body, timestamp=receiver.clock.now())
    limits = httpx.Limits(max_connections=40)
    async with httpx.AsyncClient(base_url=receiver.base, limits=limits) as client:
        answers = await asyncio.gather(
            *(client.post("/webhook", content=body, headers=headers) for _ in range(40))
        )
    assert {a.status_code for a in answers} == {200}
    outcomes = sorted(a.headers["flexfulfill-outcome"] for a in answers)
    assert outcomes == ["duplicate"] * 39 + ["stored"]
    assert len(await receiver.rows()) == 1


async def test_concurrent_distinct_messages_are_all_stored(receiver: Receiver) -> None:
    """Two hundred different messages at once: batched commits lose and mix up none."""
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=receiver.base, limits=limits) as client:
        answers = await asyncio.gather(*(_post_distinct(client, receiver, i) for i in range(200)))
    assert all(a.status_code == 200 for a in answers)
    rows = await receiver.rows()
    assert sorted(str(r["event_id"]) for r in rows) == sorted(f"evt_{i}" for i in range(200))
    assert all(r["message_id"] == f"msg_{str(r['event_id'])[4:]}" for r in rows)


async def _post_distinct(client: httpx.AsyncClient, receiver: Receiver, i: int) -> httpx.Response:
    body = event(event_id=f"evt_{i}")
    headers = signed(f"msg_{i}", body, timestamp=receiver.clock.now())
    return await client.post("/webhook", content=body, headers=headers)


def _host_port(base: str) -> tuple[str, int]:
    host, port = base.removeprefix("http://").split(":")
    return host, int(port)


async def test_a_message_signed_by_the_svix_library_is_accepted(receiver: Receiver) -> None:
    """What the official svix package signs, the receiver verifies and stores."""
    stamp = datetime.fromtimestamp(receiver.clock.now(), tz=UTC)
    body = event(event_id="evt_svix").decode()
    headers = {
        "svix-id": "msg_from_svix",
        "svix-timestamp": str(int(stamp.timestamp())),
        "svix-signature": Webhook(SECRET).sign("msg_from_svix", stamp, body),
    }
    response = await receiver.client.post("/webhook", content=body.encode(), headers=headers)
    assert response.status_code == 200
    assert [r["message_id"] for r in await receiver.rows()] == ["msg_from_svix"]


@pytest.mark.parametrize(
    ("names", "bare"),
    [
        (("webhook-id", "webhook-timestamp", "webhook-signature"), False),
        (("flex-event-id", "flex-timestamp", "flex-signature"), True),
    ],
)
async def test_standard_and_legacy_header_families_are_accepted(
    receiver: Receiver, names: tuple[str, str, str], bare: bool
) -> None:
    """webhook-* (Standard Webhooks) and Flex's legacy flex-* (bare signature) both store."""
    body = event()
    svix = signed("msg_family", body, timestamp=receiver.clock.now())
    signature = svix["svix-signature"].removeprefix("v1,") if bare else svix["svix-signature"]
    values = (svix["svix-id"], svix["svix-timestamp"], signature)
    response = await receiver.client.post(
        "/webhook", content=body, headers=dict(zip(names, values, strict=True))
    )
    assert response.status_code == 200
    [row] = await receiver.rows()
    assert json.loads(str(row["headers"]))[names[2]] == signature
