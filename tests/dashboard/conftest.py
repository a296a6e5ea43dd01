"""Dashboard fixtures: seeded rows on both engines and a logged-in HTTP client (ASGI transport)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from dashboard_seed import NOW, PASSWORD, SECRET, USER, log_in, seed
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.clock import ManualClock
from flexfulfill.config import Settings
from flexfulfill.web.app import build_app
from flexfulfill.web.auth import hash_password
from flexfulfill.web.dashboard import dashboard_router


@pytest.fixture(scope="session")
def password_hash() -> str:
    """The operator's scrypt hash (computed once: it is deliberately slow)."""
    return hash_password(PASSWORD)


@pytest.fixture
def settings(database_url: str, password_hash: str) -> Settings:
    return Settings(
        database_url=database_url,
        webhook_secrets=(SECRET,),
        dashboard_user=USER,
        dashboard_password_hash=password_hash,
    )


@dataclass
class Reconciles:
    """A stand-in reconciliation runner that records who asked."""

    calls: list[str]

    async def __call__(self, actor: str) -> str:
        self.calls.append(actor)
        return "1 session seen, 0 orders created"


@pytest.fixture
def reconciles() -> Reconciles:
    return Reconciles(calls=[])


@pytest.fixture
async def client(
    settings: Settings, engine: AsyncEngine, reconciles: Reconciles
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the merchant app with the dashboard mounted (not logged in)."""
    clock = ManualClock(current=NOW).as_clock()
    router = dashboard_router(settings, engine, clock=clock, reconcile=reconciles)
    app = build_app(settings, engine, routers=[router], clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dash.test") as http:
        yield http


@pytest.fixture
async def operator(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The client, logged in."""
    response = await log_in(client)
    assert response.status_code == 303
    return client


@pytest.fixture
async def seeded(engine: AsyncEngine) -> AsyncEngine:
    """The engine, with a split-cart subscription order, a refunded order, stock and an inbox."""
    await seed(engine)
    return engine
