"""A running receiver on loopback HTTP over a fresh database (both engines)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from receiver_helpers import BODY_LIMIT, SECRET, Receiver

from flexfulfill.clock import ManualClock
from flexfulfill.config import Settings
from flexfulfill.store.db import make_engine
from flexfulfill.web.app import build_app
from flexfulfill.web.server import running


@pytest.fixture
async def receiver(database_url: str) -> AsyncIterator[Receiver]:
    """The merchant app served on a free port over a fresh migrated database."""
    settings = Settings(database_url=database_url, webhook_secrets=(SECRET,), body_limit=BODY_LIMIT)
    engine = make_engine(database_url)
    clock = ManualClock(current=time.time())
    app = build_app(settings, engine, clock=clock.as_clock())
    try:
        async with running(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
            yield Receiver(base, engine, client, clock)
    finally:
        await engine.dispose()
