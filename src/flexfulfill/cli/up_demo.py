"""`flexfulfill up --demo`: a handful of checkouts through the sandbox, then what came of them.

The checkouts are paid with the sandbox's test helper (the code path of its hosted page): a
plain cart, a split cart (HSA/FSA card plus a regular card), a subscription, an LMN item, and a
declined card followed by a good one. The demo then waits until each is an order whose receipt
was sent, and reports orders, receipts and stock from the merchant's database.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import func, select

from flexfulfill.cli.up_stack import Stack
from flexfulfill.store.statuses import OutboxStatus
from flexfulfill.store.tables import mailbox, orders, outbox, payments
from flexfulfill.web.dashboard import queries

GOOD_CARD = {"number": "4242424242424242"}
DECLINED_CARD = {"number": "4000000000009995"}


@dataclass(frozen=True)
class Scenario:
    label: str
    items: list[str]
    email: str
    first_name: str
    second_card: bool = False
    declined_first: bool = False


SCENARIOS = (
    Scenario("plain cart", ["thermometer"], "ana@example.com", "Ana"),
    Scenario("split cart", ["thermometer", "chocolate"], "bo@example.com", "Bo", second_card=True),
    Scenario("subscription", ["sleep"], "cy@example.com", "Cy"),
    Scenario("LMN item", ["socks"], "dee@example.com", "Dee"),
    Scenario("declined, then paid", ["socks"], "eve@example.com", "Eve", declined_first=True),
)


@dataclass
class DemoResult:
    sessions: dict[str, str] = field(default_factory=dict)  # label → checkout session id
    declines: list[str] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    receipts: list[dict[str, Any]] = field(default_factory=list)
    stock: list[dict[str, Any]] = field(default_factory=list)
    complete: bool = False


async def run_demo(stack: Stack, console: Console, *, wait_seconds: float = 60.0) -> DemoResult:
    """Pay every scenario, wait for orders and receipts, and collect the report."""
    result = DemoResult()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        paying = progress.add_task("Paying checkouts in the sandbox", total=len(SCENARIOS))
        for scenario in SCENARIOS:
            result.sessions[scenario.label] = await _pay(stack, scenario, result)
            progress.advance(paying)
        fulfilled = progress.add_task("Orders fulfilled", total=len(SCENARIOS))
        sent = progress.add_task("Receipts sent", total=len(SCENARIOS))
        result.complete = await _wait(stack, result, progress, (fulfilled, sent), wait_seconds)
    await _collect(stack, result)
    return result


async def _pay(stack: Stack, scenario: Scenario, result: DemoResult) -> str:
    defaults = {"email": scenario.email, "first_name": scenario.first_name}
    session = await stack.new_session(
        scenario.items, client_reference_id=f"demo-{scenario.first_name.lower()}", defaults=defaults
    )
    session_id = str(session["checkout_session_id"])
    contact = {**defaults, "last_name": "Demo"}
    if scenario.declined_first:
        declined = await _complete(stack, session_id, {"contact": contact, "card": DECLINED_CARD})
        if declined.status_code < 400:
            raise RuntimeError("the sandbox accepted the decline test card")
        result.declines.append(_decline_message(declined))
    body: dict[str, Any] = {"contact": contact, "card": GOOD_CARD}
    if scenario.second_card:
        body["second_card"] = GOOD_CARD
    paid = await _complete(stack, session_id, body)
    paid.raise_for_status()
    return session_id


async def _complete(stack: Stack, session_id: str, body: dict[str, Any]) -> httpx.Response:
    path = f"/v1/test_helpers/checkout_sessions/{session_id}/complete"
    async with stack.sandbox.client(timeout=30) as client:
        return await client.post(path, json=body)


def _decline_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        return f"HTTP {response.status_code}, {detail[0].get('msg', '')}"
    return f"HTTP {response.status_code}"


async def _wait(
    stack: Stack,
    result: DemoResult,
    progress: Progress,
    tasks: tuple[Any, Any],
    wait_seconds: float,
) -> bool:
    """Poll the merchant's database until every session has an order and a sent receipt."""
    ids = list(result.sessions.values())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while loop.time() < deadline:
        made, mailed = await _progress_counts(stack, ids)
        progress.update(tasks[0], completed=made)
        progress.update(tasks[1], completed=mailed)
        if made == len(ids) and mailed == len(ids):
            return True
        await asyncio.sleep(0.2)
    return False


async def _progress_counts(stack: Stack, session_ids: list[str]) -> tuple[int, int]:
    mine = orders.c.checkout_session_id.in_(session_ids)
    async with stack.engine.connect() as conn:
        made = await conn.scalar(select(func.count()).where(mine))
        mailed = await conn.scalar(
            select(func.count(func.distinct(outbox.c.order_id)))
            .select_from(outbox.join(orders, orders.c.id == outbox.c.order_id))
            .where(mine, outbox.c.status == OutboxStatus.SENT.value)
        )
    return int(made or 0), int(mailed or 0)


async def _collect(stack: Stack, result: DemoResult) -> None:
    labels = {sid: label for label, sid in result.sessions.items()}
    async with stack.engine.connect() as conn:
        rows = await queries.list_orders(conn)
        for order in reversed(rows):
            if order["checkout_session_id"] not in labels:
                continue
            cards = await conn.execute(
                select(
                    payments.c.amount_received, payments.c.payment_card_type, payments.c.card_last4
                ).where(payments.c.checkout_session_id == order["checkout_session_id"])
            )
            order["cards"] = [dict(c._mapping) for c in cards]
            order["scenario"] = labels[order["checkout_session_id"]]
            result.orders.append(order)
        result.receipts = await _receipts(conn, [int(o["id"]) for o in result.orders])
        result.stock = await queries.list_stock(conn)


async def _receipts(conn: Any, order_ids: list[int]) -> list[dict[str, Any]]:
    stmt = (
        select(outbox.c.order_id, outbox.c.recipient, outbox.c.status, mailbox.c.subject)
        .outerjoin(mailbox, mailbox.c.message_id == outbox.c.message_id)
        .where(outbox.c.order_id.in_(order_ids))
        .order_by(outbox.c.id)
    )
    return [dict(r._mapping) for r in await conn.execute(stmt)]
