"""Fixtures of the client tests: a scripted loopback server, a manual clock, a client."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn
from flex_loopback import API_KEY, ScriptedServer

from flexfulfill.clock import ManualClock
from flexfulfill.flex import FlexClient, RetryPolicy
from flexfulfill.sandbox import RunningSandbox, run_sandbox


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    """A scripted server listening on a free loopback port for the length of one test."""
    app = ScriptedServer()
    config = uvicorn.Config(
        app, log_level="warning", lifespan="off", ws="none", timeout_graceful_shutdown=1
    )
    runner = uvicorn.Server(config)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    app.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    task = asyncio.create_task(runner.serve(sockets=[sock]))
    while not runner.started:
        await asyncio.sleep(0.01)
    yield app
    runner.should_exit = True
    await task
    sock.close()


@pytest.fixture
def clock() -> ManualClock:
    """A clock that only moves when the client sleeps, so retries take no real time."""
    return ManualClock()


@pytest.fixture
async def client(server: ScriptedServer, clock: ManualClock) -> AsyncIterator[FlexClient]:
    """A client for the scripted server, test retry policy (3 attempts), manual clock."""
    async with FlexClient(
        API_KEY, server.url, retry=RetryPolicy.testing(), clock=clock.as_clock(), timeout=2.0
    ) as flex:
        yield flex


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    """A fresh sandbox (its own SQLite file) on a free loopback port."""
    async with run_sandbox(time_scale=0.001) as running:
        yield running
