"""Property: whatever arrives at POST /webhook, the answer is 2xx or 4xx and only verified
messages are stored."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from receiver_helpers import SECRET
from sqlalchemy import select

from flexfulfill.config import Settings
from flexfulfill.flex import sign
from flexfulfill.store.db import make_engine
from flexfulfill.store.tables import webhook_events
from flexfulfill.web.app import build_app
from flexfulfill.web.server import running

FAMILIES = {
    "svix": ("svix-id", "svix-timestamp", "svix-signature"),
    "webhook": ("webhook-id", "webhook-timestamp", "webhook-signature"),
    "flex": ("flex-event-id", "flex-timestamp", "flex-signature"),
}
# Header values a client can put on the wire: visible latin-1, single inner spaces.
token = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0xFF, exclude_characters="\x7f"),
    min_size=1,
    max_size=40,
)
header_value = st.lists(token, min_size=1, max_size=3).map(" ".join)
bodies = st.one_of(
    st.binary(max_size=2000),
    st.from_regex(rb'\A\{"event_type": "[a-z._]{0,30}", "event_id": "[^"]{0,20}"\}\Z'),
)


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[dict[str, bytes], bytes, bool]:
    """(headers, body, validly signed?) — a mix of genuine, damaged and random requests."""
    body = draw(bodies)
    id_name, ts_name, sig_name = FAMILIES[draw(st.sampled_from(sorted(FAMILIES)))]
    message_id = draw(header_value)
    ts = str(int(time.time()) + draw(st.sampled_from([0, 0, 0, -400, 400])))
    genuine = sign(SECRET, message_id, int(ts), body)
    if sig_name == "flex-signature" and draw(st.booleans()):
        genuine = genuine.removeprefix("v1,")
    headers = {id_name: message_id, ts_name: draw(st.just(ts) | header_value)}
    headers[sig_name] = draw(st.just(genuine) | header_value)
    for name in draw(st.sets(st.sampled_from(sorted(headers)), max_size=2)):
        del headers[name]
    extra = draw(
        st.dictionaries(
            st.sampled_from(["x-extra", "svix-id", "content-type"]), header_value, max_size=2
        )
    )
    headers = {**extra, **headers} if draw(st.booleans()) else {**headers, **extra}
    valid = (headers.get(id_name), headers.get(ts_name), headers.get(sig_name)) == (
        message_id,
        ts,
        genuine,
    )
    return {k: v.encode("latin-1") for k, v in headers.items()}, body, valid


@pytest.fixture
def served_in_thread(database_url: str) -> Iterator[str]:
    """The app served from its own thread and loop, so a synchronous hypothesis test can call it."""
    box: dict[str, str] = {}
    started, stop = threading.Event(), threading.Event()

    async def main() -> None:
        engine = make_engine(database_url)
        app = build_app(Settings(database_url=database_url, webhook_secrets=(SECRET,)), engine)
        async with running(app) as base:
            box["base"] = base
            started.set()
            while not stop.is_set():
                await asyncio.sleep(0.02)
        await engine.dispose()

    thread = threading.Thread(target=asyncio.run, args=(main(),))
    thread.start()
    assert started.wait(30)
    yield box["base"]
    stop.set()
    thread.join(30)


async def _stored_ids(database_url: str) -> set[str]:
    engine = make_engine(database_url)
    async with engine.connect() as conn:
        ids = set((await conn.execute(select(webhook_events.c.message_id))).scalars())
    await engine.dispose()
    return ids


@pytest.mark.slow
def test_any_request_gets_2xx_or_4xx_and_only_verified_messages_are_stored(
    served_in_thread: str, database_url: str
) -> None:
    """Random and damaged deliveries never cause a 5xx, and never store an unverified id."""
    verified: set[str] = set()
    with httpx.Client(base_url=served_in_thread, timeout=30) as client:

        @settings(
            max_examples=80,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        )
        @given(delivery=deliveries())
        def post_one(delivery: tuple[dict[str, bytes], bytes, bool]) -> None:
            headers, body, valid = delivery
            response = client.post("/webhook", content=body, headers=headers)
            assert 200 <= response.status_code < 500, response.text
            if response.status_code < 300:
                assert valid, f"accepted an unverified request: {headers!r}"
                verified.add(
                    next(v.decode("latin-1") for k, v in headers.items() if k.endswith("id"))
                )
            else:
                assert set(response.json()["error"]) == {"code", "message"}

        post_one()
    assert asyncio.run(_stored_ids(database_url)) <= verified
