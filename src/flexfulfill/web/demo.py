"""`flexfulfill demo`: the receiver on a SQLite file, fed signed webhooks over loopback HTTP."""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from flexfulfill.bootstrap import build_engine
from flexfulfill.config import Settings
from flexfulfill.flex import sign
from flexfulfill.store.migrate import upgrade
from flexfulfill.store.tables import webhook_events
from flexfulfill.web.app import build_app
from flexfulfill.web.server import running


@dataclass(frozen=True)
class Post:
    """One demo delivery and the receiver's answer."""

    label: str
    message_id: str
    status: int
    answer: str


@dataclass(frozen=True)
class DemoOutcome:
    database: str
    posts: list[Post]
    rows: list[dict[str, Any]]


def _secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


def _event(event_type: str, session: str) -> bytes:
    event = {
        "event_id": f"evt_demo_{session}",
        "event_type": event_type,
        "event_dt": int(time.time()),
        "object": {"checkout_session": {"checkout_session_id": session, "status": "complete"}},
        "test_mode": True,
    }
    return json.dumps(event).encode()


def _deliveries(secret: str) -> list[tuple[str, str, int, bytes, str]]:
    """(label, message id, timestamp, body, signing secret) of each demo post."""
    now = int(time.time())
    paid = _event("checkout.session.completed", "fcs_demo_1")
    other = _event("charge.dispute.created", "fcs_demo_2")
    return [
        ("valid checkout.session.completed", "msg_demo_1", now, paid, secret),
        ("the same message again (redelivery)", "msg_demo_1", now, paid, secret),
        ("forged: signed with another secret", "msg_demo_2", now, paid, _secret()),
        ("stale: signed 10 minutes ago", "msg_demo_3", now - 600, paid, secret),
        ("an event type nobody handles", "msg_demo_4", now, other, secret),
    ]


async def run_demo(path: Path) -> DemoOutcome:
    """Serve the receiver on ``path`` (absolute; migrated first), post, read the inbox."""
    secret = _secret()
    url = f"sqlite+aiosqlite:///{path}"
    settings = Settings(database_url=url, webhook_secrets=(secret,))
    engine = build_engine(settings)
    try:
        await upgrade(engine)
        async with running(build_app(settings, engine)) as base:
            posts = [await _post(base, d) for d in _deliveries(secret)]
        async with engine.connect() as conn:
            result = await conn.execute(select(webhook_events).order_by(webhook_events.c.id))
            rows = [dict(r._mapping) for r in result]
    finally:
        await engine.dispose()
    return DemoOutcome(str(path), posts, rows)


async def _post(base: str, delivery: tuple[str, str, int, bytes, str]) -> Post:
    label, message_id, timestamp, body, secret = delivery
    headers = {
        "content-type": "application/json",
        "svix-id": message_id,
        "svix-timestamp": str(timestamp),
        "svix-signature": sign(secret, message_id, timestamp, body),
    }
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post("/webhook", content=body, headers=headers)
    return Post(label, message_id, response.status_code, _summary(response))


def _summary(response: httpx.Response) -> str:
    if response.is_success:
        outcome = response.headers.get("flexfulfill-outcome")
        return "already stored: acknowledged, nothing new" if outcome == "duplicate" else "stored"
    error = response.json()["error"]
    return f"{error['code']}: {error['message']}"


def print_outcome(outcome: DemoOutcome, *, json_output: bool = False) -> None:
    """Two tables: what each post got back, and what the inbox holds."""
    console = Console()
    if json_output:
        rows = [{k: v for k, v in r.items() if k != "body"} for r in outcome.rows]
        posts = [p.__dict__ for p in outcome.posts]
        console.print_json(json.dumps({"posts": posts, "rows": rows}, default=str))
        return
    answers = Table(title="What the receiver answered", show_lines=False)
    for column in ("delivery", "svix-id", "HTTP", "answer"):
        answers.add_column(column)
    for p in outcome.posts:
        style = "green" if p.status < 300 else "red"
        answers.add_row(p.label, p.message_id, f"[{style}]{p.status}[/]", p.answer)
    stored = Table(title=f"What was stored ({outcome.database})")
    for column in ("message id", "event type", "status", "bytes"):
        stored.add_column(column)
    for r in outcome.rows:
        stored.add_row(
            str(r["message_id"]), str(r["event_type"]), str(r["status"]), str(len(r["body"]))
        )
    console.print(answers, stored)
    console.print(
        "One row per message: the redelivery was acknowledged but not stored twice; "
        "the forged and stale posts were refused and stored nothing."
    )
