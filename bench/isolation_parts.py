"""Stand-ins for bench/isolation.py, each run as its own process on loopback.

- ``fake_flex``: answers the worker's reads (session, line items, payment intent) from
  templates captured from the sandbox, after ``FAKE_FLEX_DELAY_MS``; fast enough that the
  worker's database writes, not the API, set its pace.
- ``python -m bench.isolation_parts smtp PORT DELAY_MS``: an SMTP server that accepts every
  message after ``DELAY_MS`` and keeps nothing.
- ``naive_app``: the handler a first integration writes — verify, fetch the session from Flex,
  insert the order, send the receipt, and only then answer — for comparison.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
from sqlalchemy import text

from flexfulfill.flex import Verifier, WebhookVerificationError
from flexfulfill.store.db import make_engine

TEMPLATES = Path(os.environ.get("FAKE_FLEX_TEMPLATES", "/nonexistent"))
SESSION = "fcs_TEMPLATE"


def _delay() -> float:
    return int(os.environ.get("FAKE_FLEX_DELAY_MS", "0")) / 1000


async def _read_body(receive: Any) -> bytes:
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


async def _answer(send: Any, status: int, body: bytes = b"") -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


_templates: dict[str, str] = {}


def _template(name: str) -> str:
    if name not in _templates:
        _templates[name] = (TEMPLATES / f"{name}.json").read_text()
    return _templates[name]


def _route(path: str) -> str | None:
    parts = path.strip("/").split("/")
    if parts[:3] == ["v1", "checkout", "sessions"] and len(parts) == 5:
        return _template("line_items").replace(SESSION, parts[3])
    if parts[:3] == ["v1", "checkout", "sessions"] and len(parts) == 4:
        return _template("session").replace(SESSION, parts[3])
    if parts[:2] == ["v1", "payment_intents"] and len(parts) == 3:
        session = parts[2].removeprefix("fpi_for_")
        return _template("payment_intent").replace(SESSION, session)
    return None


async def fake_flex(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The three reads fulfillment makes, answered from templates after the delay."""
    if scope["type"] != "http":
        return
    await _read_body(receive)
    if delay := _delay():
        await asyncio.sleep(delay)
    found = _route(scope["path"])
    await _answer(send, 404 if found is None else 200, (found or "{}").encode())


class SlowSink:
    """aiosmtpd handler: wait, then accept (nothing is stored)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay)
        return "250 2.0.0 accepted"


async def serve_smtp(port: int, delay_ms: int) -> None:
    from flexfulfill.mail import SmtpServer

    async with SmtpServer(SlowSink(delay_ms / 1000), "127.0.0.1", port):
        await asyncio.Event().wait()


class Naive:
    """What a first integration does inside the webhook request, before answering."""

    def __init__(self) -> None:
        self.verifier = Verifier([os.environ["FLEX_WEBHOOK_SECRET"]])
        self.engine = make_engine(os.environ["NAIVE_DATABASE_URL"])
        self.flex = httpx.AsyncClient(base_url=os.environ["FAKE_FLEX_URL"])
        self.smtp_port = int(os.environ["NAIVE_SMTP_PORT"])

    async def handle(self, headers: dict[str, str], body: bytes) -> int:
        try:
            self.verifier.verify(headers, body)
        except WebhookVerificationError:
            return 400
        event = json.loads(body)
        session_id = event["object"]["checkout_session"]["checkout_session_id"]
        session = (await self.flex.get(f"/v1/checkout/sessions/{session_id}")).json()
        await self.flex.get(f"/v1/checkout/sessions/{session_id}/line_items")
        total = session["checkout_session"].get("amount_total", 0)
        async with self.engine.begin() as conn:
            sql = "INSERT INTO naive_orders (session_id, total, created_at) VALUES (:s, :t, :c)"
            await conn.execute(text(sql), {"s": session_id, "t": total, "c": time.time()})
        await aiosmtplib.send(_receipt(session_id), hostname="127.0.0.1", port=self.smtp_port)
        return 200


def _receipt(session_id: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"] = "shop@example.com", "buyer@example.com"
    message["Subject"] = f"Your order {session_id}"
    message.set_content("Thank you for your order.")
    return message


_naive: list[Naive] = []


async def naive_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The naive handler as an ASGI app (uvicorn ``bench.isolation_parts:naive_app``)."""
    if scope["type"] != "http":
        return
    if not _naive:
        _naive.append(Naive())
    body = await _read_body(receive)
    headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
    await _answer(send, await _naive[0].handle(headers, body))


async def capture_templates(folder: Path) -> None:
    """One paid session from the sandbox: its session, line items and payment intent JSON."""
    from flexfulfill.sandbox import run_sandbox

    async with run_sandbox(None, time_scale=0.001) as sandbox:
        post = sandbox.request
        product = (
            await post(
                "POST",
                "/v1/products",
                {"product": {"name": "Thermometer", "hsa_fsa_eligibility": "auto_substantiation"}},
            )
        )["product"]
        price = (
            await post(
                "POST",
                "/v1/prices",
                {"price": {"product": product["product_id"], "unit_amount": 2499}},
            )
        )["price"]
        body = {
            "line_items": [{"price": price["price_id"], "quantity": 2}],
            "success_url": "http://127.0.0.1:9/s",
            "mode": "payment",
            "defaults": {"email": "buyer@example.com"},
        }
        session = (await post("POST", "/v1/checkout/sessions", {"checkout_session": body}))[
            "checkout_session"
        ]
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
        event = {
            "event_id": f"fevt_{run}_{i}",
            "event_type": "checkout.session.completed",
            "event_dt": int(now),
            "test_mode": True,
            "object": {"checkout_session": {"checkout_session_id": session, "status": "complete"}},
        }
        yield (
            f"msg_{run}_{i}",
            f"fevt_{run}_{i}",
            "checkout.session.completed",
            True,
            json.dumps(event).encode(),
            "{}",
            now - 60,
            "pending",
            0,
            None,
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["smtp"]:
        asyncio.run(serve_smtp(int(sys.argv[2]), int(sys.argv[3])))
