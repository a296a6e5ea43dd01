"""The merchant's whole ASGI app: the lean receiver at ``/webhook``, FastAPI for the rest.

Extension points (add features without editing this module):

- ``routers``: FastAPI ``APIRouter`` objects, included as they are (the success page, the
  dashboard, ...). Handlers reach shared objects through ``request.app.state``: ``settings``,
  ``engine``, ``clock`` and ``metrics_registry`` (register your own Prometheus metrics there and
  they appear on ``/metrics``).
- ``background``: async callables taking no arguments (the worker, the outbox sender, the
  reconciler). Each starts as a task when the server starts and is cancelled when it stops; it
  should loop until cancelled and let ``CancelledError`` propagate. A task that ends with an
  error is logged and makes ``/readyz`` answer 503, so a supervisor notices.

Example::

    app = build_app(settings, engine, routers=[success_router], background=[worker.run])
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.clock import Clock
from flexfulfill.config import ConfigError, Settings
from flexfulfill.flex import Verifier
from flexfulfill.store.inbox import GroupCommit, InboxWriter
from flexfulfill.store.inbox_writers import open_writers
from flexfulfill.web.health import health_router
from flexfulfill.web.metrics import ReceiverMetrics
from flexfulfill.web.receiver import Receive, Scope, Send, WebhookReceiver

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhook"
Background = Callable[[], Awaitable[None]]


class MerchantApp:
    """Routes ``/webhook`` to the raw receiver and everything else (lifespan too) to ``api``."""

    def __init__(self, receiver: WebhookReceiver, api: FastAPI) -> None:
        self.receiver = receiver
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == WEBHOOK_PATH:
            await self.receiver(scope, receive, send)
        else:
            await self.api(scope, receive, send)


def build_app(
    settings: Settings,
    engine: AsyncEngine,
    *,
    routers: Sequence[APIRouter] = (),
    background: Sequence[Background] = (),
    clock: Clock | None = None,
    writer: InboxWriter | None = None,
    close_engine: bool = False,
) -> MerchantApp:
    """The merchant app on ``engine``; see the module docstring for ``routers``/``background``.

    ``writer`` replaces the dedicated inbox writer connection; ``close_engine`` disposes the
    engine when the server stops (for apps built inside a server worker process).
    """
    if not settings.webhook_secrets:
        raise ConfigError("FLEX_WEBHOOK_SECRET", "is not set", "fwhsec_Y2NhZDczMDYtNDEy…")
    clock = clock or Clock()
    registry = CollectorRegistry()
    inbox = GroupCommit([writer] if writer else open_writers(engine.url))
    verifier = Verifier(
        settings.webhook_secrets, tolerance=settings.timestamp_tolerance, now=clock.now
    )
    receiver = WebhookReceiver(
        verifier,
        inbox,
        ReceiverMetrics(registry),
        body_limit=settings.body_limit,
        now=clock.now,
    )
    tasks = BackgroundTasks(background)
    closing = [tasks.stop, inbox.close, *([engine.dispose] if close_engine else [])]
    api = FastAPI(title="flexfulfill", lifespan=_lifespan(tasks.start, closing))
    api.state.settings, api.state.engine, api.state.clock = settings, engine, clock
    api.state.metrics_registry = registry
    api.include_router(health_router(engine, registry, stopped=lambda: tasks.failed))
    for router in routers:
        api.include_router(router)
    return MerchantApp(receiver, api)


class BackgroundTasks:
    """Runs the ``background`` callables for the lifetime of the server."""

    def __init__(self, functions: Sequence[Background]) -> None:
        self._functions = tuple(functions)
        self._tasks: list[asyncio.Task[None]] = []
        self.failed: list[str] = []

    def start(self) -> None:
        for function in self._functions:
            name = getattr(function, "__qualname__", repr(function))
            task = asyncio.create_task(_run(function), name=name)
            task.add_done_callback(self._note_failure)
            self._tasks.append(task)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    def _note_failure(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s stopped", task.get_name(), exc_info=task.exception())
            self.failed.append(task.get_name())


async def _run(function: Background) -> None:
    await function()


def _lifespan(
    start: Callable[[], None], closing: Sequence[Callable[[], Awaitable[None]]]
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(_api: FastAPI) -> AsyncIterator[None]:
        start()
        try:
            yield
        finally:
            for close in closing:  # background tasks first, then the inbox, then the engine
                await close()

    return lifespan
