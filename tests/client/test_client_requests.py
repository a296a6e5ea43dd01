"""What the client puts on the wire: paths, envelopes, query parameters and page cursors."""

from __future__ import annotations

import pytest
from flex_loopback import API_KEY, Reply, ScriptedServer

from flexfulfill.clock import ManualClock
from flexfulfill.flex import FlexClient, FlexError, NotFoundError, RetryPolicy

WEBHOOK = {"webhook_id": "fwh_1", "url": "https://shop.example.com/webhook", "events": []}


def sessions(*ids: str) -> Reply:
    return Reply(200, {"checkout_sessions": [{"checkout_session_id": i} for i in ids]})


async def test_create_webhook_sends_the_body_api_md_documents(
    server: ScriptedServer, client: FlexClient
) -> None:
    """POST /v1/webhooks with {"webhook": {"url", "events"}}, as Flex's fulfillment guide shows."""
    server.script(Reply(200, {"webhook": WEBHOOK}))
    params = {"url": "https://shop.example.com/webhook", "events": ["checkout.session.completed"]}
    await client.create_webhook(params)
    assert (server.seen[0].method, server.seen[0].path) == ("POST", "/v1/webhooks")
    assert server.seen[0].body == {"webhook": params}


async def test_retry_event_sends_the_body_api_md_documents(
    server: ScriptedServer, client: FlexClient
) -> None:
    """POST /v1/events/{id}/retry with {"event": {"webhook_id": ...}}."""
    server.script(Reply(200, {"event": {"event_id": "fevt_1", "event_type": "x.y"}}))
    event = await client.retry_event("fevt_1", "fwh_1")
    assert event.event_id == "fevt_1"
    assert server.seen[0].path == "/v1/events/fevt_1/retry"
    assert server.seen[0].body == {"event": {"webhook_id": "fwh_1"}}


async def test_updates_use_flexs_methods(server: ScriptedServer, client: FlexClient) -> None:
    """Customers and subscriptions update with PATCH, webhooks with POST (as Flex's plugin)."""
    server.script(
        Reply(200, {"customer": {"customer_id": "fcus_1"}}),
        Reply(200, {"subscription": {"subscription_id": "fsub_1"}}),
        Reply(200, {"webhook": WEBHOOK}),
    )
    await client.update_customer("fcus_1", {"phone": "+1555"})
    await client.update_subscription("fsub_1", {"cancel_at_period_end": True})
    await client.update_webhook("fwh_1", {"enabled": False})
    assert [(s.method, s.path) for s in server.seen] == [
        ("PATCH", "/v1/customers/fcus_1"),
        ("PATCH", "/v1/subscriptions/fsub_1"),
        ("POST", "/v1/webhooks/fwh_1"),
    ]
    assert server.seen[2].body == {"webhook": {"enabled": False}}


async def test_a_list_walks_pages_by_starting_after_until_a_short_page(
    server: ScriptedServer, client: FlexClient
) -> None:
    """Each next page starts after the last id seen; a page shorter than limit ends the walk."""
    server.script(sessions("fcs_5", "fcs_4"), sessions("fcs_3", "fcs_2"), sessions("fcs_1"))
    found = [s.checkout_session_id async for s in client.list_checkout_sessions(limit=2)]
    assert found == ["fcs_5", "fcs_4", "fcs_3", "fcs_2", "fcs_1"]
    assert [s.query.get("starting_after") for s in server.seen] == [None, "fcs_4", "fcs_2"]
    assert {s.query["limit"] for s in server.seen} == {"2"}


async def test_a_list_of_exactly_full_pages_ends_on_an_empty_page(
    server: ScriptedServer, client: FlexClient
) -> None:
    """Without has_more the client must ask once more to learn the list has ended."""
    server.script(sessions("fcs_2", "fcs_1"), sessions())
    found = [s.checkout_session_id async for s in client.list_checkout_sessions(limit=2)]
    assert found == ["fcs_2", "fcs_1"]
    assert len(server.seen) == 2


async def test_a_server_that_ignores_the_cursor_is_an_error_not_an_endless_loop(
    server: ScriptedServer, client: FlexClient
) -> None:
    """The same full page twice means starting_after was ignored: stop and say so."""
    server.script(sessions("fcs_2", "fcs_1"))
    with pytest.raises(FlexError, match="same page again"):
        _ = [s async for s in client.list_checkout_sessions(limit=2)]


async def test_list_filters_are_sent_and_none_filters_are_left_out(
    server: ScriptedServer, client: FlexClient
) -> None:
    """Flex's filter names pass through; None means no filter; booleans read true/false."""
    server.script(sessions())
    stream = client.list_checkout_sessions(
        status="complete", client_reference_id=None, expand_customer=True, limit=50
    )
    _ = [s async for s in stream]
    assert server.seen[0].query == {"status": "complete", "expand_customer": "true", "limit": "50"}


@pytest.mark.parametrize("limit", [0, 101])
def test_a_limit_outside_flexs_range_is_refused_at_once(limit: int) -> None:
    """Flex accepts 1–100; anything else is a programming error, raised before any request."""
    with pytest.raises(ValueError, match="between 1 and 100"):
        FlexClient(API_KEY).list_customers(limit=limit)


async def test_line_items_come_from_their_own_endpoint(
    server: ScriptedServer, client: FlexClient
) -> None:
    """GET /v1/checkout/sessions/{id}/line_items answers {"line_items": [...]}."""
    server.script(Reply(200, {"line_items": [{"line_item_id": "fli_1", "quantity": 2}]}))
    items = await client.list_line_items("fcs_1")
    assert [(i.line_item_id, i.quantity) for i in items] == [("fli_1", 2)]
    assert server.seen[0].path == "/v1/checkout/sessions/fcs_1/line_items"


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
async def test_a_base_url_with_or_without_v1_reaches_the_same_paths(
    server: ScriptedServer, clock: ManualClock, suffix: str
) -> None:
    """FLEX_API_BASE may be written with a trailing slash or /v1; paths come out the same."""
    server.script(Reply(200, {"product": {"product_id": "fprod_1"}}))
    retry = RetryPolicy.never()
    async with FlexClient(API_KEY, server.url + suffix, retry=retry, clock=clock.as_clock()) as f:
        await f.get_product("fprod_1")
    assert server.seen[0].path == "/v1/products/fprod_1"


async def test_deleting_a_webhook_accepts_an_empty_answer(
    server: ScriptedServer, client: FlexClient
) -> None:
    """DELETE answers vary (empty, the object, a flag); none of them is an error."""
    server.script(Reply(200, raw=b""))
    await client.delete_webhook("fwh_1")
    assert (server.seen[0].method, server.seen[0].path) == ("DELETE", "/v1/webhooks/fwh_1")


async def test_an_id_cannot_reach_another_endpoint(
    server: ScriptedServer, client: FlexClient
) -> None:
    """A session id from a URL is one path segment: its / and ? are escaped, not followed."""
    server.script(Reply(404, {"detail": "Not Found"}))
    with pytest.raises(NotFoundError):
        await client.get_checkout_session("../../customers?email=x")
    assert server.seen[0].raw_path == b"/v1/checkout/sessions/..%2F..%2Fcustomers%3Femail%3Dx"
    assert server.seen[0].query == {}
