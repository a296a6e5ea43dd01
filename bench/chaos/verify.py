"""After the storm: what the databases hold, checked against what the shoppers did.

The truth about payments is the sandbox's (its sessions, messages and delivery attempts); the
truth about carts is the shoppers' own record. Each check names what was expected and what was
found; any mismatch fails the run.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.chaos.driver import Purchase


@dataclass(frozen=True)
class Check:
    name: str
    expected: str
    found: str
    ok: bool
    note: str = ""


@dataclass
class Facts:
    """Everything read from both databases once the run is quiet."""

    completed: set[str] = field(default_factory=set)
    orders: dict[str, tuple[int, str]] = field(default_factory=dict)  # session → (id, via)
    without_email: set[str] = field(default_factory=set)  # sessions whose order has no email
    lines: dict[int, Counter[str]] = field(default_factory=dict)  # order id → product → qty
    line_movements: list[int] = field(default_factory=list)  # sale movements per order line
    stock: dict[str, int] = field(default_factory=dict)
    receipts: dict[int, tuple[str, str | None]] = field(default_factory=dict)  # order → status, id
    mail: Counter[str] = field(default_factory=Counter)  # Message-ID → copies
    mail_identical: bool = True
    mail_times: dict[str, list[float]] = field(default_factory=dict)  # repeated ones only
    inbox: dict[str, str] = field(default_factory=dict)  # message id → status
    outbox_open: int = 0
    sent: set[str] = field(default_factory=set)  # sandbox messages with a 2xx attempt
    sandbox_messages: dict[str, str] = field(default_factory=dict)  # message id → status
    lost_completions: dict[str, str] = field(default_factory=dict)  # session → failed message
    duplicates_sent: int = 0


async def rows(engine: AsyncEngine, sql: str) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(sql))).all())


async def read_sandbox(engine: AsyncEngine, facts: Facts) -> None:
    for (data,) in await rows(
        engine, "SELECT data FROM sandbox_objects WHERE kind = 'checkout_session'"
    ):
        doc = json.loads(data)
        if doc.get("status") == "complete":
            facts.completed.add(doc["checkout_session_id"])
    for message_id, status in await rows(engine, "SELECT message_id, status FROM sandbox_messages"):
        facts.sandbox_messages[message_id] = status
    sent = "SELECT message_id, duplicate FROM sandbox_attempts WHERE outcome = 'succeeded'"
    for message_id, duplicate in await rows(engine, sent):
        facts.sent.add(message_id)
        facts.duplicates_sent += int(bool(duplicate))
    failed = """SELECT m.message_id, e.body FROM sandbox_messages m JOIN sandbox_events e
                ON e.event_id = m.event_id
                WHERE m.status = 'failed' AND e.event_type = 'checkout.session.completed'"""
    for message_id, body in await rows(engine, failed):
        session = json.loads(body)["object"]["checkout_session"]
        facts.lost_completions[session["checkout_session_id"]] = message_id


async def read_merchant(engine: AsyncEngine, facts: Facts) -> None:
    orders = "SELECT id, checkout_session_id, fulfilled_via, email FROM orders"
    for oid, session, via, email in await rows(engine, orders):
        facts.orders[session] = (oid, via)
        if not email:
            facts.without_email.add(session)
    for oid, product, qty in await rows(
        engine, "SELECT order_id, product_id, quantity FROM order_lines"
    ):
        facts.lines.setdefault(oid, Counter())[product] += qty
    per_line = """SELECT count(m.id) FROM order_lines l LEFT JOIN stock_movements m
                  ON m.order_line_id = l.id AND m.reason = 'sale' GROUP BY l.id"""
    facts.line_movements = [n for (n,) in await rows(engine, per_line)]
    facts.stock = {p: n for p, n in await rows(engine, "SELECT product_id, on_hand FROM stock")}
    receipts = "SELECT order_id, status, message_id FROM outbox WHERE kind = 'receipt'"
    for oid, status, message_id in await rows(engine, receipts):
        facts.receipts[oid] = (status, message_id)
    facts.outbox_open = len(await rows(engine, "SELECT id FROM outbox WHERE status <> 'sent'"))
    for mid, status in await rows(engine, "SELECT message_id, status FROM webhook_events"):
        facts.inbox[mid] = status
    await _read_mail(engine, facts)


async def _read_mail(engine: AsyncEngine, facts: Facts) -> None:
    for (message_id,) in await rows(engine, "SELECT message_id FROM mailbox"):
        facts.mail[message_id] += 1
    repeated = [m for m, n in facts.mail.items() if n > 1]
    copies: dict[str, set[bytes]] = defaultdict(set)
    for start in range(0, len(repeated), 500):
        chunk = repeated[start : start + 500]
        params = ", ".join("'" + m.replace("'", "''") + "'" for m in chunk)
        sql = f"SELECT message_id, raw, received_at FROM mailbox WHERE message_id IN ({params})"  # noqa: S608
        for message_id, raw, received_at in await rows(engine, sql):
            copies[message_id].add(bytes(raw))
            facts.mail_times.setdefault(message_id, []).append(received_at)
    facts.mail_identical = all(len(v) == 1 for v in copies.values())


def check(name: str, expected: object, found: object, ok: bool, note: str = "") -> Check:
    return Check(
        name,
        f"{expected:,}" if isinstance(expected, int) else str(expected),
        f"{found:,}" if isinstance(found, int) else str(found),
        ok,
        note,
    )


def order_checks(facts: Facts, purchases: list[Purchase], start: dict[str, int]) -> list[Check]:
    ordered = set(facts.orders)
    missing, extra = facts.completed - ordered, ordered - facts.completed
    by_session = {p.session_id: p for p in purchases}
    wrong_lines = [
        s
        for s in ordered & facts.completed
        if by_session.get(s) and facts.lines.get(facts.orders[s][0]) != +by_session[s].lines
    ]
    sold: Counter[str] = Counter()
    for session in facts.completed:
        sold.update(by_session[session].lines if session in by_session else Counter())
    off = {
        p: (facts.stock.get(p), n - sold[p])
        for p, n in start.items()
        if facts.stock.get(p) != n - sold[p]
    }
    unpaid = sum(1 for p in purchases if not p.paid)
    movements = sum(facts.line_movements)
    return [
        check(
            "orders = completed checkout sessions",
            len(facts.completed),
            len(ordered),
            not missing and not extra,
            f"{len(missing)} missing, {len(extra)} without a paid session",
        ),
        check("no order for a declined session", 0, len(extra), not extra, f"{unpaid} declined"),
        check(
            "order lines = the cart", len(ordered), len(ordered) - len(wrong_lines), not wrong_lines
        ),
        check(
            "one sale movement per order line",
            len(facts.line_movements),
            movements,
            all(n == 1 for n in facts.line_movements),
        ),
        check(
            "stock = start − sold, per product",
            len(start),
            len(start) - len(off),
            not off,
            "; ".join(f"{p}: {a} ≠ {b}" for p, (a, b) in off.items()),
        ),
    ]


def explained_by_kills(times: list[float], kills: list[float], slack: float = 1.0) -> bool:
    """Each later copy of a message follows a sender kill that came after the copy before it."""
    ordered = sorted(times)
    return all(
        any(a - slack <= k <= b + slack for k in kills) for a, b in itertools.pairwise(ordered)
    )


def receipt_checks(
    facts: Facts,
    sender_kills: list[float],
    smtp_cuts: list[float] = (),  # type: ignore[assignment]
) -> list[Check]:
    """Receipts: one per order; a Message-ID repeats only after a sender kill or a cut SMTP
    connection (the server accepted, the sender never heard: it sends the same message again)."""
    orders = {oid for oid, _via in facts.orders.values()}
    receipt_ids = {mid for _status, mid in facts.receipts.values()}
    distinct = set(facts.mail)
    repeats = sum(n - 1 for n in facts.mail.values())
    repeated = sum(1 for n in facts.mail.values() if n > 1)
    causes = [*sender_kills, *smtp_cuts]
    unexplained = [m for m, t in facts.mail_times.items() if not explained_by_kills(t, causes)]
    return [
        check(
            "every order knows the buyer's email",
            len(orders),
            len(orders) - len(facts.without_email),
            not facts.without_email,
            "" if not facts.without_email else "the rest cannot get a receipt",
        ),
        check(
            "one receipt row per order",
            len(orders),
            len(set(facts.receipts) & orders),
            set(facts.receipts) == orders,
        ),
        check("every receipt row sent", 0, facts.outbox_open, facts.outbox_open == 0, "unsent"),
        check(
            "distinct Message-IDs delivered = orders",
            len(orders),
            len(distinct),
            distinct == receipt_ids and len(distinct) == len(orders),
        ),
        check(
            "repeated Message-IDs, each after a sender kill or SMTP cut",
            "explained",
            f"{repeats:,} copies of {repeated:,}",
            not unexplained and facts.mail_identical,
            f"{len(sender_kills)} sender kills, {len(smtp_cuts)} cuts; "
            + (f"unexplained: {', '.join(unexplained[:3])}; " if unexplained else "")
            + ("copies byte-identical" if facts.mail_identical else "COPIES DIFFER"),
        ),
    ]


def inbox_checks(facts: Facts, poisoned: list[str], outages: int) -> list[Check]:
    missing = facts.sent - set(facts.inbox)
    strangers = set(facts.inbox) - set(facts.sandbox_messages) - set(poisoned)
    dead = {m for m, s in facts.inbox.items() if s == "dead"}
    open_rows = sum(1 for s in facts.inbox.values() if s in ("pending", "processing"))
    # A failed message may still have been stored (its 2xx cut by the outage): not lost.
    lost = {s for s, m in facts.lost_completions.items() if m not in facts.inbox}
    rescued = {s for s in lost if facts.orders.get(s, (0, ""))[1] == "reconciler"}
    failed = sum(1 for s in facts.sandbox_messages.values() if s == "failed")
    return [
        check(
            "every delivered message in the inbox, once",
            len(facts.sent),
            len(facts.sent) - len(missing),
            not missing and not strangers,
            f"{facts.duplicates_sent:,} duplicate deliveries; {len(strangers)} unknown rows",
        ),
        check("dead events = the poisoned ones", len(poisoned), len(dead), dead == set(poisoned)),
        check("no inbox row left pending or processing", 0, open_rows, open_rows == 0),
        check(
            "messages whose retries ran out (endpoint down)",
            "> 0" if outages else "—",
            failed,
            failed > 0 or not outages,
        ),
        check(
            "their checkouts fulfilled by the reconciler",
            len(lost),
            len(rescued),
            rescued == lost and (bool(lost) or not outages),
        ),
    ]
