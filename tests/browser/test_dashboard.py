"""The operators' dashboard in Debian's Chromium, on the system `flexfulfill up --demo` builds.

One module-wide system: the sandbox and the merchant app (receiver, worker, receipt sender with
its local SMTP server, dashboard) from ``flexfulfill.cli.up_stack``, the demo's five checkouts
paid, and one more paid while the Flex API answered 503, so its events died (one attempt
allowed) — the dead event an operator replays here.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect
from rich.console import Console
from sqlalchemy import select
from stack import LoopThread

from flexfulfill.cli.up_demo import run_demo
from flexfulfill.cli.up_stack import DASHBOARD_USER, Stack, local_stack
from flexfulfill.store.tables import orders, webhook_events

pytestmark = pytest.mark.browser
DESKTOP = {"width": 1280, "height": 800}


@dataclass
class System:
    stack: Stack
    loop: LoopThread
    dead_event_id: int
    dead_session: str

    @property
    def dashboard(self) -> str:
        return self.stack.dashboard_url

    def order_id(self, session_id: str) -> int | None:
        return self.loop.call(_order_id(self.stack, session_id))


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    loop = LoopThread()
    scope = AsyncExitStack()
    directory = tmp_path_factory.mktemp("up")
    started = local_stack(
        directory, host="127.0.0.1", port=0, sandbox_port=0, time_scale=0.01, max_attempts=1
    )
    stack = loop.call(scope.enter_async_context(started), timeout=60)
    try:
        demo = loop.call(run_demo(stack, Console(file=io.StringIO())), timeout=120)
        assert demo.complete
        event_id, session = loop.call(_dead_checkout(stack), timeout=120)
        yield System(stack, loop, event_id, session)
    finally:
        loop.call(scope.aclose(), timeout=60)
        loop.close()


async def _dead_checkout(stack: Stack) -> tuple[int, str]:
    """Pay a checkout while the Flex API fails: its completion event dies on its one attempt."""
    session = await stack.new_session(["thermometer"], defaults={"email": "fay@example.com"})
    session_id = session["checkout_session_id"]
    stack.sandbox.set_faults(api_5xx={"rate": 1.0, "status": 503})
    await stack.sandbox.complete_checkout(session_id, contact={"email": "fay@example.com"})
    try:
        async with asyncio.timeout(90):
            while (found := await _dead_row(stack, session_id)) is None:
                await asyncio.sleep(0.2)
    finally:
        stack.sandbox.set_faults(api_5xx={"rate": 0.0, "status": 503})
    return found, session_id


async def _dead_row(stack: Stack, session_id: str) -> int | None:
    stmt = select(webhook_events.c.id, webhook_events.c.body).where(
        webhook_events.c.status == "dead",
        webhook_events.c.event_type == "checkout.session.completed",
    )
    async with stack.engine.connect() as conn:
        for row_id, body in await conn.execute(stmt):
            if session_id.encode() in bytes(body):
                return int(row_id)
    return None


async def _order_id(stack: Stack, session_id: str) -> int | None:
    stmt = select(orders.c.id).where(orders.c.checkout_session_id == session_id)
    async with stack.engine.connect() as conn:
        return await conn.scalar(stmt)


def _log_in(page: Page, system: System, target: str = "/orders") -> None:
    page.goto(system.dashboard + target)
    expect(page).to_have_url(re.compile(r"/dashboard/login\?next="))
    page.get_by_label("User").fill(DASHBOARD_USER)
    page.get_by_label("Password").fill(system.stack.password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(re.escape(system.dashboard + target) + "$"))


@pytest.fixture
def operator(system: System, make_page: Any) -> tuple[Page, Any]:
    page, shots = make_page(DESKTOP)
    _log_in(page, system)
    return page, shots


def test_an_operator_logs_in_and_sees_the_demo_orders(
    system: System, operator: tuple[Page, Any]
) -> None:
    """After login the orders list shows the demo's customers and a paid total."""
    page, shots = operator
    table = page.locator("#orders")
    for email in ("ana@example.com", "bo@example.com", "cy@example.com", "eve@example.com"):
        expect(table).to_contain_text(email)
    expect(page.locator(".totals")).to_contain_text("orders")
    shots.take("orders")
    page.get_by_placeholder("email, session id or client reference").fill("demo-bo")
    page.get_by_role("button", name="Search").click()
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table).to_contain_text("bo@example.com")


def test_an_order_page_shows_cards_stock_receipt_and_timeline(
    system: System, operator: tuple[Page, Any]
) -> None:
    """The split-cart order shows both cards, its stock movements, the mail and its webhooks."""
    page, shots = operator
    page.goto(system.dashboard + "/orders?q=demo-bo")
    page.locator("#orders tbody a").first.click()
    expect(page.locator("#payments")).to_contain_text("HSA/FSA card")
    expect(page.locator("#payments")).to_contain_text("regular card")
    expect(page.locator("#movements")).to_contain_text("sale")
    expect(page.locator(".receipt").first).to_contain_text("sent")
    mail = page.frame_locator(".receipt iframe").first.locator("body")
    expect(mail).to_contain_text("Chocolate bar")  # the HTML part, as the SMTP server got it
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("checkout.session.completed")
    expect(timeline).to_contain_text("payment_intent.succeeded")
    expect(timeline.locator(".attempts li").first).to_contain_text("done")
    shots.take("order")


def test_a_dead_event_replayed_turns_done_and_becomes_an_order(
    system: System, operator: tuple[Page, Any]
) -> None:
    """The dead completion shows its error; Replay queues it; the page watches it turn done."""
    page, shots = operator
    assert system.order_id(system.dead_session) is None
    page.goto(system.dashboard + "/inbox?status=dead&type=checkout.session.completed")
    row = page.locator(f"#inbox tbody tr:has(a[href='/dashboard/inbox/{system.dead_event_id}'])")
    expect(row).to_contain_text("503")
    shots.take("dead-event")
    row.get_by_role("link").first.click()
    page.get_by_role("button", name="Replay this event").click()
    expect(page.locator(".flash")).to_contain_text("queued again")
    expect(page.locator("#event-status")).to_contain_text("done", timeout=30_000)
    shots.take("replayed")
    assert system.order_id(system.dead_session) is not None


def test_resending_a_receipt_sends_a_second_message(
    system: System, operator: tuple[Page, Any]
) -> None:
    """Resend queues a new receipt; the live page shows it sent by the local SMTP server."""
    page, shots = operator
    page.goto(system.dashboard + "/orders?q=demo-ana")
    page.locator("#orders tbody a").first.click()
    expect(page.locator(".receipt")).to_have_count(1)
    page.get_by_role("button", name="Resend receipt").click()
    expect(page.locator(".flash")).to_contain_text("queued to be sent again to ana@example.com")
    expect(page.locator(".receipt")).to_have_count(2)
    expect(page.locator(".receipt").nth(1)).to_contain_text("As received", timeout=30_000)
    shots.take("resent")
    page.goto(system.dashboard + "/audit")
    expect(page.locator("#audit")).to_contain_text("receipt.resend")
    expect(page.locator("#audit")).to_contain_text(DASHBOARD_USER)


def test_running_reconciliation_from_the_dashboard_records_a_run(
    system: System, operator: tuple[Page, Any]
) -> None:
    """The button runs the real reconciler against the sandbox and lists the operator's run."""
    page, _ = operator
    page.goto(system.dashboard + "/reconcile")
    page.get_by_role("button", name="Run reconciliation now").click()
    expect(page.locator(".flash")).to_contain_text("completed sessions seen")
    expect(page.locator("#runs tbody tr").first).to_contain_text(DASHBOARD_USER)


def test_no_session_or_no_csrf_token_is_refused(system: System, make_page: Any) -> None:
    """Without a session pages lead to the login and POSTs get 401; without the token, 403."""
    page, _ = make_page(DESKTOP)
    page.goto(system.dashboard + "/inbox")
    expect(page).to_have_url(re.compile(r"/dashboard/login"))
    action = f"{system.dashboard}/inbox/{system.dead_event_id}/replay"
    assert page.request.post(action, form={"csrf_token": "guess"}).status == 401
    _log_in(page, system)
    assert page.request.post(action, form={}).status == 403
    assert page.request.post(action, form={"csrf_token": "guess"}).status == 403
    assert httpx.get(system.dashboard + "/orders").status_code == 303  # cookies matter


def test_the_webhook_and_health_stay_public(system: System) -> None:
    """/healthz answers without a login and /webhook judges signatures, not sessions."""
    base = system.stack.merchant_url
    assert httpx.get(base + "/healthz").status_code == 200
    assert httpx.post(base + "/webhook", content=b"{}").status_code == 400
