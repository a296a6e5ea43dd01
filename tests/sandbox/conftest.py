"""Fixtures for the sandbox's tests (helpers live in sandbox_support.py)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sandbox_support import Receiver


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A real webhook endpoint on a free loopback port, answering 200 unless scripted."""
    server = Receiver()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def sandbox() -> AsyncIterator[Any]:
    """A running sandbox on a free port with its own SQLite file."""
    from flexfulfill.sandbox import run_sandbox

    async with run_sandbox(seed=1) as running:
        yield running


@pytest.fixture
async def flex(sandbox: Any) -> AsyncIterator[Any]:
    """An httpx client for the sandbox's API, with a test key."""
    async with sandbox.client() as client:
        yield client


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """One sandbox for the module, served from a thread so hypothesis can drive it synchronously."""
    ready, holder = threading.Event(), {}

    from flexfulfill.sandbox import run_sandbox

    async def serve() -> None:
        async with run_sandbox() as sandbox:
            stop = asyncio.Event()
            holder.update(url=sandbox.base_url, loop=asyncio.get_running_loop(), stop=stop)
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(30), "the sandbox did not start"
    yield holder["url"]
    holder["loop"].call_soon_threadsafe(holder["stop"].set)
    thread.join(10)
