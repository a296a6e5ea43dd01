"""The composition root: the only place real engines, clients, mailers and clocks are built."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.clock import Clock
from flexfulfill.config import ConfigError, Settings
from flexfulfill.flex import FlexClient, RetryPolicy
from flexfulfill.mail import (
    MailboxHandler,
    Mailer,
    OutboxSender,
    ReceiptRenderer,
    Sender,
    SenderPolicy,
    SmtpConfig,
    SmtpMailer,
    SmtpServer,
    TemplateError,
    build_renderer,
)
from flexfulfill.store.db import make_engine

if TYPE_CHECKING:  # fulfillment is imported where it is built, keeping this module light
    from fastapi import APIRouter

    from flexfulfill.fulfillment.context import Services
    from flexfulfill.fulfillment.ports import FlexReader
    from flexfulfill.fulfillment.registry import Registry
    from flexfulfill.fulfillment.worker import Worker


def build_engine(settings: Settings) -> AsyncEngine:
    """The database engine for the configured ``DATABASE_URL``."""
    return make_engine(settings.database_url)


def build_flex_client(
    settings: Settings, *, retry: RetryPolicy | None = None, clock: Clock | None = None
) -> FlexClient:
    """The Flex API client for ``FLEX_API_BASE`` with ``FLEX_API_KEY``; close it with ``aclose``.

    Raises :class:`ConfigError` when no key is configured.
    """
    if not settings.flex_api_key:
        raise ConfigError("FLEX_API_KEY", "is not set", "fsk_test_4f3c…")
    return FlexClient(
        settings.flex_api_key, settings.flex_api_base, retry=retry, clock=clock or Clock()
    )


# --- Receipts (mail) -------------------------------------------------------------------------


def build_receipt_renderer(settings: Settings) -> ReceiptRenderer:
    """The receipt renderer, every template validated now; a broken one is a ConfigError."""
    try:
        return build_renderer(settings.merchant_name, settings.receipt_templates_dir)
    except TemplateError as exc:
        raise ConfigError(
            "RECEIPT_TEMPLATES_DIR", f"a receipt template is broken: {exc}", "/etc/flexfulfill/mail"
        ) from exc


def build_mailer(settings: Settings, *, local_port: int | None = None) -> SmtpMailer:
    """The SMTP mailer for ``SMTP_URL``; without one, for the local server on ``local_port``."""
    if settings.smtp_url:
        try:
            return SmtpMailer(SmtpConfig.from_url(settings.smtp_url))
        except ValueError as exc:
            raise ConfigError("SMTP_URL", str(exc), "smtps://user:pw@smtp.example.com") from exc
    if local_port is None:
        raise ValueError("SMTP_URL is unset: start the local mail server and pass its port")
    return SmtpMailer(SmtpConfig("127.0.0.1", local_port))


def build_sender(
    settings: Settings,
    engine: AsyncEngine,
    mailer: Mailer,
    *,
    clock: Clock | None = None,
    renderer: ReceiptRenderer | None = None,
    policy: SenderPolicy | None = None,
) -> OutboxSender:
    """The outbox sender: receipts from ``RECEIPT_FROM`` / ``MERCHANT_NAME`` via ``mailer``."""
    return OutboxSender(
        engine,
        mailer,
        renderer or build_receipt_renderer(settings),
        Sender(settings.receipt_from, settings.merchant_name, settings.receipt_reply_to),
        clock=clock or Clock(),
        policy=policy or SenderPolicy(lease_seconds=settings.lease_seconds),
    )


@asynccontextmanager
async def receipt_sender(
    settings: Settings,
    engine: AsyncEngine,
    *,
    clock: Clock | None = None,
    renderer: ReceiptRenderer | None = None,
) -> AsyncIterator[OutboxSender]:
    """A ready sender; with no ``SMTP_URL`` the local mail server runs for as long as it does."""
    clock = clock or Clock()
    renderer = renderer or build_receipt_renderer(settings)
    if settings.smtp_url:
        yield build_sender(settings, engine, build_mailer(settings), clock=clock, renderer=renderer)
        return
    async with SmtpServer(MailboxHandler(engine, clock)) as server:
        mailer = build_mailer(settings, local_port=server.port)
        yield build_sender(settings, engine, mailer, clock=clock, renderer=renderer)


def build_receipt_task(
    settings: Settings, engine: AsyncEngine, *, clock: Clock | None = None
) -> Callable[..., Awaitable[None]]:
    """The receipt sender as a background task for ``serve`` / ``worker``.

    The task runs until cancelled, or until the ``stop`` event it may be given is set. With no
    ``SMTP_URL`` it runs the local mail server too. Templates are validated here, when the task
    is built, so a broken override stops start-up.
    """
    renderer = build_receipt_renderer(settings)

    async def run_receipt_sender(stop: asyncio.Event | None = None) -> None:
        async with receipt_sender(settings, engine, clock=clock, renderer=renderer) as sender:
            await sender.run(stop)

    return run_receipt_sender


# --- Fulfillment (worker, reconciler, success page) ------------------------------------------


def build_services(
    settings: Settings,
    engine: AsyncEngine,
    flex: FlexReader,
    *,
    clock: Clock | None = None,
    registry: Registry | None = None,
) -> Services:
    """What handlers, the worker, the reconciler and the success page share.

    Pass ``registry`` to add merchant handlers and hooks (see docs/architecture.md).
    """
    from flexfulfill.domain.events import key_is_test
    from flexfulfill.fulfillment.context import Services
    from flexfulfill.fulfillment.handlers import default_registry

    return Services(
        engine,
        flex,
        clock or Clock(),
        registry or default_registry(),
        key_is_test=key_is_test(settings.flex_api_key),
        restock_on_refund=settings.restock_on_refund,
        receipt_domain=settings.receipt_from.rpartition("@")[2] or "localhost",
    )


def build_worker(
    settings: Settings,
    engine: AsyncEngine,
    flex: FlexReader,
    *,
    clock: Clock | None = None,
    registry: Registry | None = None,
    concurrency: int = 16,
) -> Worker:
    """The worker with the settings' lease and attempts (WORKER_LEASE_SECONDS, …)."""
    from flexfulfill.fulfillment.retry import EventRetryPolicy
    from flexfulfill.fulfillment.worker import Worker, WorkerConfig

    services = build_services(settings, engine, flex, clock=clock, registry=registry)
    config = WorkerConfig(
        concurrency=concurrency,
        lease_seconds=settings.lease_seconds,
        retry=EventRetryPolicy(max_attempts=settings.max_attempts),
    )
    return Worker(services, config)


def build_fulfillment_parts(
    settings: Settings, engine: AsyncEngine, *, registry: Registry | None = None
) -> tuple[list[APIRouter], list[Callable[[], Awaitable[None]]]]:
    """The success page router and the worker + reconciler tasks ``serve`` runs.

    Without FLEX_API_KEY nothing can be confirmed with Flex, so nothing is added (a warning
    says so); with SERVE_WITH_WORKER=false only the success page is.
    """
    from flexfulfill.fulfillment.context import log
    from flexfulfill.fulfillment.reconciler import Reconciler
    from flexfulfill.web.success import success_router

    if not settings.flex_api_key:
        log.warning("FLEX_API_KEY is not set: no worker and no success page in this server")
        return [], []
    flex = build_flex_client(settings)
    worker = build_worker(settings, engine, flex, registry=registry)
    routers = [success_router(worker.services)]
    if not settings.run_worker_in_serve:
        return routers, []
    reconciler = Reconciler(worker.services)

    async def reconcile() -> None:
        await reconciler.run_forever(settings.reconcile_interval)

    return routers, [worker.run, reconcile]
