"""The sender as a background task: woken by fulfillment, stopped by its event, outage-proof."""

from __future__ import annotations

import asyncio
import socket

import pytest
from mail_harness import SENDER, ScriptedHandler, plain_receipt, seed
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.bootstrap import build_mailer, build_receipt_task
from flexfulfill.clock import Clock, ManualClock
from flexfulfill.config import ConfigError, Settings
from flexfulfill.mail import (
    OutboxSender,
    SenderPolicy,
    SmtpConfig,
    SmtpMailer,
    SmtpServer,
    build_renderer,
    list_mail,
)
from flexfulfill.store.db import make_engine
from flexfulfill.store.tables import webhook_events


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _sender(engine: AsyncEngine, port: int, clock: Clock, poll: float) -> OutboxSender:
    mailer = SmtpMailer(SmtpConfig("127.0.0.1", port, local_hostname="localhost"))
    policy = SenderPolicy(poll_interval=poll)
    return OutboxSender(
        engine, mailer, build_renderer(SENDER.name), SENDER, clock=clock, policy=policy
    )


async def test_a_woken_sender_sends_at_once_and_stops_when_told(
    engine: AsyncEngine, scripted: SmtpServer
) -> None:
    """With an hour-long poll, wake() alone gets a new receipt out; stop ends the task."""
    handler = scripted.handler
    assert isinstance(handler, ScriptedHandler)
    sender = _sender(engine, scripted.port, Clock(), poll=3600)
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    await asyncio.sleep(0.2)  # the first (empty) round is over: the sender idles
    await seed(engine, plain_receipt())
    sender.wake()
    for _ in range(200):
        if handler.raw:
            break
        await asyncio.sleep(0.05)
    assert len(handler.raw) == 1
    stop.set()
    await asyncio.wait_for(task, timeout=5)


async def test_a_database_outage_is_logged_and_waited_out() -> None:
    """An unreachable database does not end the loop: it idles and tries again."""
    broken = make_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/none")
    clock = ManualClock()
    stop = asyncio.Event()

    async def sleep(seconds: float) -> None:
        await clock.sleep(seconds)
        if len(clock.slept) == 3:
            stop.set()

    sender = _sender(broken, 1, Clock(now=clock.now, sleep=sleep), poll=1.0)
    await asyncio.wait_for(sender.run(stop), timeout=10)
    await broken.dispose()
    assert clock.slept == [1.0, 1.0, 1.0]


async def test_the_background_task_without_smtp_url_delivers_into_the_mailbox(
    engine: AsyncEngine, database_url: str
) -> None:
    """build_receipt_task: local mail server + sender, as serve and worker run it, until stop."""
    await seed(engine, plain_receipt())
    settings = Settings(database_url=database_url, merchant_name="Acme Health")
    stop = asyncio.Event()
    task = asyncio.create_task(build_receipt_task(settings, engine)(stop))
    for _ in range(200):
        if await list_mail(engine):
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    [mail] = await list_mail(engine)
    assert mail.message_id == "<receipt.1.fcs_plain_1@shop.example>"
    assert mail.parsed()["From"] == "Acme Health <receipts@example.com>"


def test_a_malformed_smtp_url_stops_start_up_naming_the_variable() -> None:
    """A URL without a host is a ConfigError on SMTP_URL, not a failure at the first send."""
    with pytest.raises(ConfigError, match="SMTP_URL: no host after the scheme"):
        build_mailer(Settings(smtp_url="smtp://"))


async def test_during_an_ingest_storm_the_sender_pauses_after_each_batch(
    engine: AsyncEngine, scripted: SmtpServer
) -> None:
    """Batches of 2 with a 1 % share: after the first batch a long pause, the rest wait."""
    handler = scripted.handler
    assert isinstance(handler, ScriptedHandler)
    mailer = SmtpMailer(SmtpConfig("127.0.0.1", scripted.port, local_hostname="localhost"))
    policy = SenderPolicy(batch_size=2, poll_interval=0.01, ingest_storm=1.0, ingest_share=0.01)
    sender = OutboxSender(
        engine, mailer, build_renderer(SENDER.name), SENDER, clock=Clock(), policy=policy
    )
    await seed(engine, *(plain_receipt(k) for k in range(1, 7)))
    await sender._ingest.storm()  # the first look: nothing to compare with yet
    sender._ingest.sampled_at -= 1.0
    async with engine.begin() as conn:  # 5 webhooks in about a second: a storm at 1/s
        rows = [
            {"message_id": f"msg_{k}", "body": b"{}", "headers": "{}", "received_at": 0.0}
            | {"status": "ignored", "attempts": 0}
            for k in range(5)
        ]
        await conn.execute(webhook_events.insert(), rows)
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    await asyncio.sleep(0.5)
    assert len(handler.raw) == 2  # one batch, then a pause of ~99× its duration
    stop.set()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    calm = OutboxSender(  # the same with no storm: everything goes out at once
        engine, mailer, build_renderer(SENDER.name), SENDER, clock=Clock(), policy=policy
    )
    calm._ingest.storm_rate = 0
    stop = asyncio.Event()
    task = asyncio.create_task(calm.run(stop))
    for _ in range(100):
        if len(handler.raw) == 6:
            break
        await asyncio.sleep(0.05)
    assert len(handler.raw) == 6
    stop.set()
    await asyncio.wait_for(task, timeout=5)
