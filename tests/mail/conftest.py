"""Fixtures of the mail tests: SMTP servers on free loopback ports, senders on a manual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from mail_harness import SENDER, T0, ScriptedHandler, SenderFactory
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.clock import ManualClock
from flexfulfill.mail import (
    Backoff,
    MailboxHandler,
    OutboxSender,
    SenderPolicy,
    SmtpConfig,
    SmtpMailer,
    SmtpServer,
    build_renderer,
)


@pytest.fixture
def clock() -> ManualClock:
    """A clock that starts just after the seeded orders and only moves when told to."""
    return ManualClock(current=T0 + 7200)


@pytest.fixture
async def scripted() -> AsyncIterator[SmtpServer]:
    """A scripted SMTP server (see ScriptedHandler) on a free loopback port."""
    async with SmtpServer(ScriptedHandler()) as server:
        yield server


@pytest.fixture
async def local_mailbox(engine: AsyncEngine, clock: ManualClock) -> AsyncIterator[SmtpServer]:
    """The local mail server that stores into the test database's mailbox table."""
    async with SmtpServer(MailboxHandler(engine, clock.as_clock())) as server:
        yield server


@pytest.fixture
def make_sender(engine: AsyncEngine, clock: ManualClock) -> SenderFactory:
    """Build a sender for a port; jitter off so backoff delays are exact."""

    def build(port: int, *, timeout: float = 5.0, **policy: object) -> OutboxSender:
        mailer = SmtpMailer(
            SmtpConfig("127.0.0.1", port, timeout=timeout, local_hostname="localhost")
        )
        policy.setdefault("backoff", Backoff(random=lambda: 0.5))
        return OutboxSender(
            engine,
            mailer,
            build_renderer(SENDER.name),
            SENDER,
            clock=clock.as_clock(),
            policy=SenderPolicy(**policy),  # type: ignore[arg-type]
        )

    return build
