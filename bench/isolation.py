"""Isolation: the receiver's acknowledgements while the rest of the system is busy or slow.

`.venv/bin/python -m bench isolation` (or `make bench`). Per engine, with wrk posting distinct
signed events to `flexfulfill serve` (the load of bench/ingest.py), in the same run:

1. idle: the receiver alone;
2. draining: a `flexfulfill worker` fulfilling a backlog of ISOLATION_BACKLOG (default 100,000)
   stored `checkout.session.completed` events (orders, lines, stock, payments, receipt rows)
   and a `flexfulfill receipts send` mailing them, against a fast fake Flex and SMTP server;
3. slow dependencies: the same, with every Flex API and SMTP answer delayed 200 ms;
4. the naive handler (bench/isolation_parts.py), which does the work inline before answering,
   as a first integration would — with fast and with slow dependencies.

Goal: draining ≥ 0.9× idle; slow dependencies leave acknowledgements unaffected.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from bench.growth import _migrate, _pg_admin, _plain, ingest, seed_postgres, seed_sqlite
from bench.ingest import PG_ADMIN, SECRET, event_body, free_port, measure, write_pool
from bench.report import machine, write_section
from flexfulfill.config import normalize_database_url

ROOT = Path(__file__).resolve().parent.parent
FLEXFULFILL = str(ROOT / ".venv" / "bin" / "flexfulfill")
BACKLOG = int(os.environ.get("ISOLATION_BACKLOG", "100000"))
SLOW_MS = 200
COMMAND = ".venv/bin/python -m bench isolation   # ISOLATION_BACKLOG=100000 by default"


@dataclass
class Row:
    engine: str
    case: str
    rps: float
    p99_ms: float
    drained_per_s: float | None = None


@contextmanager
def process(cmd: list[str], env: dict[str, str], log: Path, port: int | None = None) -> Iterator[None]:
    """A child process for the duration of the block (its output to ``log``)."""
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=out, cwd=ROOT)
    try:
        if port is not None:
            _wait_port(port, proc)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    import socket

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


async def capture_templates(folder: Path) -> None:
    """One paid session from the sandbox: its session, line items and payment intent JSON."""
    from flexfulfill.sandbox import run_sandbox

    async with run_sandbox(None, time_scale=0.001) as sandbox:
        post = sandbox.request
        product = (await post("POST", "/v1/products", {"product": {"name": "Thermometer", "hsa_fsa_eligibility": "auto_substantiation"}}))["product"]
        price = (await post("POST", "/v1/prices", {"price": {"product": product["product_id"], "unit_amount": 2499}}))["price"]
        body = {"line_items": [{"price": price["price_id"], "quantity": 2}], "success_url": "http://127.0.0.1:9/s",
                "mode": "payment", "defaults": {"email": "buyer@example.com"}}
        session = (await post("POST", "/v1/checkout/sessions", {"checkout_session": body}))["checkout_session"]
        sid = session["checkout_session_id"]
        await sandbox.complete_checkout(sid, card={"number": "4242424242424242"})
        paid = await post("GET", f"/v1/checkout/sessions/{sid}")
        pid = paid["checkout_session"]["payment_intents"][0]
        docs = {
            "session": paid,
            "line_items": await post("GET", f"/v1/checkout/sessions/{sid}/line_items"),
            "payment_intent": await post("GET", f"/v1/payment_intents/{pid}"),
        }
    for name, doc in docs.items():
        raw = json.dumps(doc).replace(pid, "fpi_for_fcs_TEMPLATE").replace(sid, "fcs_TEMPLATE")
        (folder / f"{name}.json").write_text(raw)


def backlog_rows(count: int) -> Iterator[tuple[Any, ...]]:
    run, now = uuid.uuid4().hex[:6], time.time()
    for i in range(count):
        session = f"fcs_{run}{i:07d}"
        event = {"event_id": f"fevt_{run}_{i}", "event_type": "checkout.session.completed",
                 "event_dt": int(now), "test_mode": True,
                 "object": {"checkout_session": {"checkout_session_id": session, "status": "complete"}}}
        yield (f"msg_{run}_{i}", f"fevt_{run}_{i}", "checkout.session.completed", True,
               json.dumps(event).encode(), "{}", now - 60, "pending", 0, None)


async def done_count(url: str) -> int:
    from sqlalchemy import text

    from flexfulfill.store.db import make_engine

    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            sql = "SELECT count(*) FROM webhook_events WHERE status = 'done'"
            return int((await conn.execute(text(sql))).scalar_one())
    finally:
        await engine.dispose()
