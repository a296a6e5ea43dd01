"""Fixtures for the sandbox's tests (helpers live in sandbox_support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
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
