"""The merchant app around the receiver: health, readiness, metrics, 503, extension points."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Request
from receiver_helpers import SECRET, Receiver, event, signed

from flexfulfill.config import ConfigError, Settings
from flexfulfill.store.db import make_engine
from flexfulfill.web.app import build_app
from flexfulfill.web.server import running

UNREACHABLE = {
    "sqlite": "sqlite+aiosqlite:///{tmp}/no/such/dir/flexfulfill.sqlite3",
    "postgres": "postgresql+asyncpg://postgres@127.0.0.1:1/flexfulfill",
}


async def test_healthz_and_readyz_answer_when_the_database_is_up(receiver: Receiver) -> None:
    """/healthz says the process is up; /readyz that the database answers."""
    health = await receiver.client.get("/healthz")
    ready = await receiver.client.get("/readyz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


async def test_metrics_count_received_duplicates_refused_and_ack_latency(
    receiver: Receiver,
) -> None:
    """/metrics exposes every outcome of POST /webhook in Prometheus text."""
    await receiver.post("msg_m1", event())
    await receiver.post("msg_m1", event())
    await receiver.post("msg_m2", event("charge.refunded"))
    await receiver.client.post("/webhook", content=b"{}")
    text = (await receiver.client.get("/metrics")).text
    assert 'flexfulfill_webhooks_received_total{status="pending"} 1.0' in text
    assert 'flexfulfill_webhooks_received_total{status="ignored"} 1.0' in text
    assert "flexfulfill_webhooks_duplicates_total 1.0" in text
    assert 'flexfulfill_webhooks_refused_total{reason="missing_headers"} 1.0' in text
    assert "flexfulfill_webhook_ack_seconds_count 3.0" in text


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_an_unavailable_database_answers_503_and_readyz_says_so(
    kind: str, tmp_path: Path
) -> None:
    """Only a database that cannot take the write yields 503 (Flex retries); nothing else."""
    url = UNREACHABLE[kind].format(tmp=tmp_path)
    engine = make_engine(url)
    app = build_app(Settings(database_url=url, webhook_secrets=(SECRET,)), engine)
    body = event()
    async with running(app) as base, httpx.AsyncClient(base_url=base) as client:
        response = await client.post("/webhook", content=body, headers=signed("msg_x", body))
        ready = await client.get("/readyz")
        forged = await client.post("/webhook", content=body, headers={"svix-id": "m"})
    await engine.dispose()
    assert (response.status_code, response.json()["error"]["code"]) == (503, "store_unavailable")
    assert ready.status_code == 503
    assert forged.status_code == 400


async def test_the_receiver_recovers_when_the_sqlite_file_returns(tmp_path: Path) -> None:
    """A write that failed (file moved away) answers 503; once the file is back, 200."""
    from flexfulfill.store.migrate import upgrade

    path = tmp_path / "db.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    engine = make_engine(url)
    await upgrade(engine)
    await engine.dispose()
    app = build_app(Settings(database_url=url, webhook_secrets=(SECRET,)), engine)
    async with running(app) as base, httpx.AsyncClient(base_url=base) as client:
        path.rename(tmp_path / "away.sqlite3")
        gone = await client.post("/webhook", content=event(), headers=signed("m1", event()))
        (tmp_path / "away.sqlite3").rename(path)
        back = await client.post("/webhook", content=event(), headers=signed("m1", event()))
    await engine.dispose()
    assert (gone.status_code, back.status_code) == (503, 200)


async def test_routers_and_background_tasks_plug_in(database_url: str) -> None:
    """Extra routers are served; background tasks run while serving and are cancelled after."""
    router = APIRouter()

    @router.get("/checkout/success")
    async def success(request: Request) -> dict[str, bool]:
        return {"has_engine": request.app.state.engine is not None}

    seen: list[str] = []

    async def worker() -> None:
        seen.append("started")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    async with _served(database_url, routers=[router], background=[worker]) as client:
        page = await client.get("/checkout/success")
        assert seen == ["started"]
    assert page.json() == {"has_engine": True}
    assert seen == ["started", "cancelled"]


async def test_a_background_task_that_dies_makes_readyz_fail(database_url: str) -> None:
    """A crashed worker is not silent: /readyz answers 503 naming it."""

    async def broken_worker() -> None:
        raise RuntimeError("boom")

    async with _served(database_url, background=[broken_worker]) as client:
        await asyncio.sleep(0.05)
        ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert "broken_worker" in ready.json()["reason"]


def test_building_the_app_without_a_secret_names_the_variable(tmp_path: Path) -> None:
    """No FLEX_WEBHOOK_SECRET: a ConfigError that names it, before anything starts."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/x.sqlite3")
    with pytest.raises(ConfigError, match="FLEX_WEBHOOK_SECRET"):
        build_app(Settings(), engine)


@asynccontextmanager
async def _served(database_url: str, **extensions: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client for the app built with ``extensions`` on ``database_url``, served on loopback."""
    engine = make_engine(database_url)
    app = build_app(
        Settings(database_url=database_url, webhook_secrets=(SECRET,)), engine, **extensions
    )
    try:
        async with running(app) as base, httpx.AsyncClient(base_url=base) as client:
            yield client
    finally:
        await engine.dispose()
