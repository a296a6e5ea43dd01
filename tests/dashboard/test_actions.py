"""Dashboard actions change state, say what happened and record who did it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from dashboard_seed import USER, csrf_of, log_in
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.cli.dashboard_commands import dashboard_component
from flexfulfill.config import Settings
from flexfulfill.store.tables import (
    audit_log,
    mailbox,
    orders,
    outbox,
    stock,
    stock_movements,
    webhook_events,
)
from flexfulfill.web.app import build_app

pytestmark = pytest.mark.usefixtures("seeded")


async def _post(http: httpx.AsyncClient, page: str, action: str, **form: Any) -> httpx.Response:
    """Submit an action the way the browser does: with the token from the page it is on."""
    token = csrf_of((await http.get(page)).text)
    response = await http.post(action, data={"csrf_token": token, **form})
    assert response.status_code == 303
    return await http.get(response.headers["location"])


async def _audit(engine: AsyncEngine) -> list[tuple[str, str, str | None]]:
    async with engine.connect() as conn:
        stmt = select(audit_log.c.actor, audit_log.c.action, audit_log.c.target)
        return [tuple(r) for r in await conn.execute(stmt.order_by(audit_log.c.id))]


async def test_replaying_a_dead_event_queues_it_again(
    operator: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """Replay puts the dead event back to pending, due now, and logs the operator's name."""
    page = await _post(operator, "/dashboard/inbox/3", "/dashboard/inbox/3/replay")
    assert "Event 3 queued again" in page.text
    async with engine.connect() as conn:
        row = (await conn.execute(select(webhook_events).where(webhook_events.c.id == 3))).one()
    assert row.status == "pending"
    assert row.attempts == 0
    assert row.next_attempt_at is not None
    assert (USER, "events.replay", None) in await _audit(engine)


async def test_replaying_a_queued_event_changes_nothing_and_says_so(
    operator: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """A second replay of the same (now pending) event is refused with a readable reason."""
    await _post(operator, "/dashboard/inbox/3", "/dashboard/inbox/3/replay")
    page = await _post(operator, "/dashboard/inbox/3", "/dashboard/inbox/3/replay")
    assert "Not done: event 3 is unknown or already queued" in page.text
    assert [a for a in await _audit(engine) if a[1] == "events.replay"] == [
        (USER, "events.replay", None)
    ]


async def test_resending_a_receipt_queues_it_again(
    operator: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """Resend queues a second receipt row (its own Message-ID) for the sender, and logs it."""
    page = await _post(operator, "/dashboard/orders/1", "/dashboard/orders/1/resend-receipt")
    assert "queued to be sent again to ana@example.com" in page.text
    async with engine.connect() as conn:
        stmt = select(outbox.c.status, outbox.c.message_id).where(outbox.c.order_id == 1)
        rows = (await conn.execute(stmt.order_by(outbox.c.id))).all()
    assert [r.status for r in rows] == ["sent", "pending"]
    assert rows[0].message_id != rows[1].message_id
    assert (USER, "receipt.resend", "order:1") in await _audit(engine)


async def test_resending_for_an_order_without_receipt_says_so(
    operator: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """Order 2 has no receipt row: nothing changes and the page says why."""
    page = await _post(operator, "/dashboard/orders/2", "/dashboard/orders/2/resend-receipt")
    assert "order 2 has no receipt" in page.text
    assert not [a for a in await _audit(engine) if a[1] == "receipt.resend"]


async def test_adjusting_stock_moves_it_and_records_the_movement(
    operator: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """+10 on socks makes 13 on hand, with an adjust movement by the operator and an audit row."""
    form = {"delta": "10", "note": "delivery"}
    page = await _post(operator, "/dashboard/stock", "/dashboard/stock/fprod_SOCKS/adjust", **form)
    assert "fprod_SOCKS: +10, now 13 on hand." in page.text
    async with engine.connect() as conn:
        on_hand = await conn.scalar(
            select(stock.c.on_hand).where(stock.c.product_id == "fprod_SOCKS")
        )
        move = (
            await conn.execute(select(stock_movements).where(stock_movements.c.reason == "adjust"))
        ).one()
    assert on_hand == 13
    assert (move.delta, move.on_hand_after, move.actor, move.note) == (10, 13, USER, "delivery")
    assert (USER, "stock.adjust", "product:fprod_SOCKS") in await _audit(engine)


async def test_adjusting_an_unknown_product_says_how_to_add_it(operator: httpx.AsyncClient) -> None:
    """An unknown product is refused with the command that adds it."""
    form = {"delta": "1"}
    page = await _post(operator, "/dashboard/stock", "/dashboard/stock/fprod_NOPE/adjust", **form)
    assert "flexfulfill stock set" in page.text


async def test_running_reconciliation_calls_the_reconciler_as_the_operator(
    operator: httpx.AsyncClient, engine: AsyncEngine, reconciles: Any
) -> None:
    """The reconcile button runs the reconciler once, shows its summary and logs it."""
    page = await _post(operator, "/dashboard/reconcile", "/dashboard/reconcile/run")
    assert "1 session seen, 0 orders created" in page.text
    assert reconciles.calls == [USER]
    assert (USER, "reconcile.run", "reconciler") in await _audit(engine)


async def test_logins_and_logouts_are_audited(
    operator: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """The audit page lists the login; logging out adds a row too."""
    page = (await operator.get("/dashboard/audit")).text
    assert "login" in page
    await operator.post("/dashboard/logout", data={"csrf_token": csrf_of(page)})
    actions = [a[1] for a in await _audit(engine)]
    assert actions == ["login", "logout"]


async def test_an_order_without_email_shows_and_finds_its_customers(
    operator: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """An order whose session carried no email lists (and is found by) its customer's email."""
    async with engine.begin() as conn:
        await conn.execute(
            insert(orders).values(
                checkout_session_id="fcs_01NOEMAIL",
                status="paid",
                mode="payment",
                customer_id="fcus_01ANA",
                fulfilled_via="webhook",
                created_at=1.0,
                updated_at=1.0,
            )
        )
    page = (await operator.get("/dashboard/orders", params={"q": "ana@example"})).text
    row = next(r for r in page.split("<tr") if "fcs_01NOEMAIL" in r)
    assert "ana@example.com" in row


async def test_a_receipt_sent_elsewhere_is_shown_as_rendered_from_its_snapshot(
    settings: Settings, engine: AsyncEngine
) -> None:
    """Without the local mailbox's copy, the order page renders the outbox snapshot instead."""
    async with engine.begin() as conn:
        await conn.execute(delete(mailbox))
    router = dashboard_component(settings, engine).routers[0]
    app = build_app(settings, engine, routers=[router])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dash.test") as http:
        assert (await log_in(http)).status_code == 303
        page = (await http.get("/dashboard/orders/1")).text
    assert "As rendered from its outbox snapshot" in page
    assert "Compression socks" in page.split("As rendered from its outbox snapshot")[1]
