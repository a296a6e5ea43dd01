"""``run_sandbox``: a whole sandbox (API + delivery) on a free loopback port, for tests and CLI.

async with run_sandbox(database_url, time_scale=0.001) as sandbox:
    hook = await sandbox.create_webhook("http://127.0.0.1:4242/webhook")
    async with sandbox.client() as flex:          # httpx, base_url + Bearer key set
        ...
    await sandbox.wait_idle()                     # every due delivery attempted
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn

from flexfulfill.clock import Clock, ManualClock
from flexfulfill.sandbox import messages as q
from flexfulfill.sandbox.app import build_sandbox
from flexfulfill.sandbox.faults import Faults
from flexfulfill.sandbox.retry import RetryPolicy
from flexfulfill.sandbox.state import SandboxState

T = TypeVar("T")

# The throwaway default database lives on tmpfs when there is one (nothing to fsync), in a
# private TemporaryDirectory.
SCRATCH = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on uvloop when it is installed (as uvicorn would), else on asyncio."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.run(main)
    return uvloop.run(main)


def new_test_key() -> str:
    return "fsk_test_" + secrets.token_urlsafe(18)


@dataclass
class RunningSandbox:
    """A started sandbox: its URL, a test key, and helpers for tests."""

    base_url: str
    api_key: str
    state: SandboxState
    app: Any

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An httpx client for the sandbox API, authenticated with :attr:`api_key`."""
        headers = {"authorization": f"Bearer {self.api_key}", **kwargs.pop("headers", {})}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, **kwargs)

    async def request(self, method: str, path: str, json: Any = None) -> Any:
        """One API call; returns the decoded body, raises on a non-2xx answer."""
        async with self.client() as client:
            response = await client.request(method, path, json=json)
        response.raise_for_status()
        return response.json()

    async def create_webhook(self, url: str, events: list[str] | None = None) -> dict[str, Any]:
        """Register an endpoint; the answer holds ``webhook_id`` and ``signing_secret``."""
        body = await self.request(
            "POST", "/v1/webhooks", {"webhook": {"url": url, "events": events or []}}
        )
        return dict(body["webhook"])

    async def complete_checkout(self, session_id: str, **body: Any) -> dict[str, Any]:
        """``POST /v1/test_helpers/checkout_sessions/{id}/complete``: contact, card, second_card."""
        path = f"/v1/test_helpers/checkout_sessions/{session_id}/complete"
        return dict((await self.request("POST", path, body))["checkout_session"])

    def set_faults(self, **changes: Any) -> Faults:
        """Change faults now (same as ``PUT /v1/test_helpers/faults``)."""
        return self.state.faults.update(changes)

    async def wait_idle(self, within: float = 10.0) -> None:
        """Wait until no delivery is due or in flight (future retries may remain)."""
        async with asyncio.timeout(within):
            while True:
                async with self.state.store.reading() as conn:
                    due = await q.count_due(conn, self.state.clock.now())
                if due == 0 and self.state.engine.inflight == 0:
                    return
                await asyncio.sleep(0.01)


@asynccontextmanager
async def run_sandbox(
    database_url: str | None = None,
    *,
    time_scale: float = 1.0,
    clock: Clock | ManualClock | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    seed: int | None = None,
    faults: Faults | None = None,
    policy: RetryPolicy | None = None,
    concurrency: int = 256,
) -> AsyncIterator[RunningSandbox]:
    """Start the sandbox (uvicorn on ``host:port``, 0 = a free port) and its delivery engine.

    ``database_url`` defaults to a SQLite file in a fresh temporary directory; ``time_scale``
    multiplies every retry delay (``policy`` overrides the whole retry policy).
    """
    if isinstance(clock, ManualClock):
        clock = clock.as_clock()
    if policy is None or time_scale != 1.0:  # an explicit time_scale wins over the policy's
        policy = replace(policy or RetryPolicy(), time_scale=time_scale)
    with tempfile.TemporaryDirectory(prefix="flex-sandbox-", dir=SCRATCH) as tmp:
        url = database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'sandbox.sqlite3'}"
        app, state = build_sandbox(
            url, clock=clock, policy=policy, faults=faults, seed=seed, concurrency=concurrency
        )
        await state.start()
        try:
            async with serve(app, host, port) as bound:
                yield RunningSandbox(f"http://{host}:{bound}", new_test_key(), state, app)
        finally:
            await state.stop()
            await state.store.engine.dispose()


@asynccontextmanager
async def serve(app: Any, host: str, port: int) -> AsyncIterator[int]:
    """Serve ``app`` with uvicorn in this event loop; yields the bound port."""
    server, task, bound = await _start(app, host, port)
    try:
        yield bound
    finally:
        server.should_exit = True
        await task


async def serve_until_signal(
    app: Any, host: str, port: int, on_ready: Callable[[int], None]
) -> None:
    """Serve until uvicorn stops on SIGINT/SIGTERM; ``on_ready`` gets the bound port."""
    _server, task, bound = await _start(app, host, port)
    on_ready(bound)
    await task


async def _start(app: Any, host: str, port: int) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="off", ws="none", access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises why uvicorn could not start (port in use …)
        await asyncio.sleep(0.005)
    return server, task, server.servers[0].sockets[0].getsockname()[1]
