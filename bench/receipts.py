"""Receipt sending: outbox rows to accepted SMTP messages per second, as ratios in one run.

`.venv/bin/python -m bench receipts`. For SQLite and PostgreSQL, pending receipt rows are
drained by one `OutboxSender` into an aiosmtpd server on loopback, once answering at once and
once answering DATA after 20 ms (a stand-in for a remote mail server), with 1 and with 4 SMTP
connections per batch. Configurations run round-robin; the median of the rounds is reported,
and every run checks that each row became exactly one message with its own Message-ID.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.report import machine, write_section
from flexfulfill.clock import Clock
from flexfulfill.domain.receipts import (
    OUTBOX_KIND_RECEIPT,
    Receipt,
    ReceiptLine,
    ReceiptPayment,
    receipt_key,
    receipt_message_id,
)
from flexfulfill.mail import (
    OutboxSender,
    Sender,
    SenderPolicy,
    SmtpConfig,
    SmtpMailer,
    SmtpServer,
    build_renderer,
    compose,
)
from flexfulfill.store.db import make_engine
from flexfulfill.store.migrate import upgrade
from flexfulfill.store.tables import orders, outbox

PG_ADMIN = os.environ.get("FLEXFULFILL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
COMMAND = ".venv/bin/python -m bench receipts   # or: make bench"
SENDER = Sender("receipts@shop.example", "Bench Store")
SERVERS = {"loopback": (0.0, 400), "20 ms DATA reply": (0.02, 160)}  # delay, messages


@dataclass
class CountingHandler:
    delay: float
    message_ids: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(self.delay)
        raw = envelope.original_content or b""
        start = raw.find(b"Message-ID: ")
        self.message_ids.append(raw[start : raw.find(b"\r\n", start)])
        return "250 OK"


def receipt(order_id: int) -> Receipt:
    return Receipt(
        order_id=order_id,
        checkout_session_id=f"fcs_bench_{order_id}",
        email=f"shopper{order_id}@example.com",
        created_at=1_795_651_200.0,
        lines=(
            ReceiptLine("Blood pressure monitor", 1, 5999, 5999, "auto_substantiation"),
            ReceiptLine("Scented candle", 2, 1250, 2500, "not_eligible"),
        ),
        amount_subtotal=8499,
        amount_tax=0,
        amount_shipping=0,
        amount_discount=500,
        amount_total=7999,
        payments=(
            ReceiptPayment(f"fpi_{order_id}_a", 5499, hsa_fsa=True, card_last4="4242"),
            ReceiptPayment(f"fpi_{order_id}_b", 2500, hsa_fsa=False, card_last4="0005"),
        ),
    )


async def seed(engine: AsyncEngine, count: int) -> None:
    receipts = [receipt(i) for i in range(1, count + 1)]
    order_rows = [
        {"id": r.order_id, "checkout_session_id": r.checkout_session_id, "status": "paid"}
        | {"mode": "payment", "fulfilled_via": "webhook", "created_at": 0.0, "updated_at": 0.0}
        for r in receipts
    ]
    outbox_rows = [
        {"kind": OUTBOX_KIND_RECEIPT, "key": receipt_key(r.checkout_session_id)}
        | {"order_id": r.order_id, "payload": r.to_json(), "status": "pending", "attempts": 0}
        | {"message_id": receipt_message_id(r.order_id, r.checkout_session_id, "shop.example")}
        | {"recipient": r.email, "created_at": r.created_at, "next_attempt_at": 0.0}
        for r in receipts
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(orders), order_rows)
        await conn.execute(insert(outbox), outbox_rows)


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def fresh_database(kind: str, scratch: Path) -> tuple[str, str | None]:
    """A migrated database's URL, and the PostgreSQL database name to drop afterwards."""
    if kind == "SQLite":
        return f"sqlite+aiosqlite:///{scratch}/{uuid.uuid4().hex}.sqlite3", None
    name = f"ff_bench_receipts_{uuid.uuid4().hex[:10]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    return PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + (
        f"/{name}"
    ), name


async def one_run(kind: str, server_name: str, connections: int, scratch: Path) -> float:
    """Messages per second for one configuration, after checking every row went out once."""
    delay, count = SERVERS[server_name]
    url, pg_name = await fresh_database(kind, scratch)
    engine = make_engine(url)
    try:
        await upgrade(engine)
        await seed(engine, count)
        handler = CountingHandler(delay)
        async with SmtpServer(handler) as server:
            mailer = SmtpMailer(SmtpConfig("127.0.0.1", server.port, local_hostname="bench"))
            policy = SenderPolicy(connections=connections)
            renderer = build_renderer(SENDER.name)
            sender = OutboxSender(engine, mailer, renderer, SENDER, clock=Clock(), policy=policy)
            started = time.perf_counter()
            await sender.drain()
            elapsed = time.perf_counter() - started
        assert len(handler.message_ids) == len(set(handler.message_ids)) == count
        return count / elapsed
    finally:
        await engine.dispose()
        if pg_name:
            await _pg_admin(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


def compose_cost() -> float:
    """Microseconds of CPU to render and compose one receipt."""
    renderer, sample = build_renderer(SENDER.name), receipt(1)
    started = time.process_time()
    for i in range(500):
        compose(renderer.render(sample), SENDER, sample.email, f"<{i}@bench>", 0.0).as_bytes()
    return (time.process_time() - started) / 500 * 1e6


async def measure() -> dict[tuple[str, str, int], float]:
    configs = [(k, s, c) for k in ("SQLite", "PostgreSQL") for s in SERVERS for c in (1, 4)]
    results: dict[tuple[str, str, int], list[float]] = {c: [] for c in configs}
    with tempfile.TemporaryDirectory(prefix="bench-receipts-") as scratch:
        for _ in range(ROUNDS):
            for config in configs:
                rate = await one_run(*config, Path(scratch))
                results[config].append(rate)
                print(f"  {config}: {rate:.0f} msg/s", flush=True)
    return {config: statistics.median(rates) for config, rates in results.items()}


def main() -> None:
    rates = asyncio.run(measure())
    rows = []
    for (kind, server, connections), rate in rates.items():
        ratio = rate / rates[(kind, server, 1)]
        count = SERVERS[server][1]
        rows.append(f"| {kind} | {server} | {connections} | {count} | {rate:.0f} | {ratio:.2f}× |")
    body = "\n".join(
        [
            "## Receipts: outbox to SMTP",
            "",
            f"`{COMMAND}` — {machine()}; median of {ROUNDS} round-robin rounds.",
            "",
            "Pending receipt rows drained by one `OutboxSender` (batches of 20) into an aiosmtpd",
            "server on loopback; each row checked to be exactly one message with its own",
            "Message-ID. Ratios compare 4 SMTP connections per batch to 1, same engine and server.",
            "",
            "| Database | SMTP server | Connections | Messages | Messages/s | × 1 connection |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            f"Rendering and composing one receipt (text + HTML): {compose_cost():.0f} µs of CPU.",
        ]
    )
    write_section("receipts", body)
    print(body)


if __name__ == "__main__":
    main()
