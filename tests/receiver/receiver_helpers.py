"""Helpers of the receiver tests: signing like Flex, and a handle on a running receiver."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.clock import ManualClock
from flexfulfill.flex import sign
from flexfulfill.store.tables import webhook_events

SECRET = "whsec_" + base64.b64encode(b"receiver tests: 24 bytes").decode()
BODY_LIMIT = 64 * 1024


def event(event_type: str = "checkout.session.completed", event_id: str = "evt_1") -> bytes:
    payload = {
        "event_id": event_id,
        "event_type": event_type,
        "event_dt": 1714000000,
        "object": {"checkout_session": {"checkout_session_id": "fcs_1", "status": "complete"}},
        "test_mode": True,
    }
    return json.dumps(payload).encode()


def signed(
    message_id: str,
    body: bytes,
    *,
    timestamp: float | None = None,
    secret: str = SECRET,
) -> dict[str, str]:
    """svix-* headers for ``body`` as Flex sends them."""
    ts = int(time.time() if timestamp is None else timestamp)
    return {
        "content-type": "application/json",
        "svix-id": message_id,
        "svix-timestamp": str(ts),
        "svix-signature": sign(secret, message_id, ts, body),
    }


@dataclass
class Receiver:
    base: str
    engine: AsyncEngine
    client: httpx.AsyncClient
    clock: ManualClock

    async def post(self, message_id: str, body: bytes, **kw: object) -> httpx.Response:
        ts = kw.pop("timestamp", self.clock.now())
        headers = signed(message_id, body, timestamp=ts, **kw)  # type: ignore[arg-type]
        return await self.client.post("/webhook", content=body, headers=headers)

    async def rows(self) -> list[dict[str, object]]:
        async with self.engine.connect() as conn:
            result = await conn.execute(select(webhook_events).order_by(webhook_events.c.id))
            return [dict(r._mapping) for r in result]
