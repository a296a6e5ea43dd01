"""SMTP failures: temporary ones retry with backoff and deliver once, permanent ones stop."""

from __future__ import annotations

import asyncio
import socket

from mail_harness import (
    ScriptedHandler,
    SenderFactory,
    outbox_rows,
    plain_receipt,
    seed,
    split_receipt,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.clock import ManualClock
from flexfulfill.mail import Backoff, Outcome, SmtpServer
from flexfulfill.store.statuses import OutboxStatus


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _handler(server: SmtpServer) -> ScriptedHandler:
    assert isinstance(server.handler, ScriptedHandler)
    return server.handler


async def test_smtp_down_then_up_delivers_each_receipt_once(
    engine: AsyncEngine, make_sender: SenderFactory, clock: ManualClock
) -> None:
    """Connection refused defers every row of the batch; once the server is up, one copy each."""
    await seed(engine, plain_receipt(), split_receipt())
    port = _free_port()
    sender = make_sender(port)
    report = await sender.run_once()
    assert report[Outcome.RETRY] == 2
    rows = await outbox_rows(engine)
    assert {(r.status, r.attempts, r.next_attempt_at) for r in rows} == {
        (OutboxStatus.PENDING, 1, clock.current + 5.0)
    }
    assert all("SMTPConnectError" in (r.last_error or "") for r in rows)
    assert (await sender.run_once()).claimed == 0  # not due yet: no hammering a dead server
    async with SmtpServer(ScriptedHandler(), port=port) as server:
        clock.advance(5.0)
        assert (await sender.run_once())[Outcome.SENT] == 2
        clock.advance(3600)
        assert (await sender.run_once()).claimed == 0
    assert len(_handler(server).accepted()) == 2
    assert {r.status for r in await outbox_rows(engine)} == {OutboxStatus.SENT}


async def test_a_451_reply_then_250_delivers_once(
    engine: AsyncEngine, scripted: SmtpServer, make_sender: SenderFactory, clock: ManualClock
) -> None:
    """A 4xx reply to DATA is retried after the backoff; the second try is the only copy."""
    _handler(scripted).data_replies.append("451 4.3.0 Mail server busy, try again later")
    await seed(engine, plain_receipt())
    sender = make_sender(scripted.port)
    assert (await sender.run_once())[Outcome.RETRY] == 1
    clock.advance(5.0)
    assert (await sender.run_once())[Outcome.SENT] == 1
    [row] = await outbox_rows(engine)
    assert (row.status, row.attempts) == (OutboxStatus.SENT, 2)
    assert row.last_error == "451 4.3.0 Mail server busy, try again later"
    assert _handler(scripted).data_attempts == 2
    assert _handler(scripted).message_ids() == [row.message_id]


async def test_a_550_reply_fails_the_row_with_the_reply_and_never_retries(
    engine: AsyncEngine, scripted: SmtpServer, make_sender: SenderFactory, clock: ManualClock
) -> None:
    """A permanent rejection is recorded for operators and not attempted again."""
    reply = "550 5.1.1 <shopper1@example.com>: Recipient address rejected: no such user"
    _handler(scripted).rcpt_replies.append(reply)
    await seed(engine, plain_receipt())
    sender = make_sender(scripted.port)
    assert (await sender.run_once())[Outcome.FAILED] == 1
    for _ in range(10):
        clock.advance(86_400)
        assert (await sender.run_once()).claimed == 0
    [row] = await outbox_rows(engine)
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.FAILED, 1, reply)
    assert _handler(scripted).rcpt_attempts == 1
    assert _handler(scripted).accepted() == []


async def test_a_rejected_receipt_does_not_hold_up_the_rest_of_its_batch(
    engine: AsyncEngine, scripted: SmtpServer, make_sender: SenderFactory
) -> None:
    """One 550 among three rows: that one fails, the other two go out on the same run."""
    _handler(scripted).rcpt_replies.append("550 5.1.1 no such user")
    await seed(engine, plain_receipt(1), split_receipt(2), plain_receipt(3))
    report = await make_sender(scripted.port).run_once()
    assert (report[Outcome.FAILED], report[Outcome.SENT]) == (1, 2)
    statuses = [r.status for r in await outbox_rows(engine)]
    assert statuses == [OutboxStatus.FAILED, OutboxStatus.SENT, OutboxStatus.SENT]


async def test_a_server_that_never_answers_times_out_and_is_retried(
    engine: AsyncEngine, make_sender: SenderFactory
) -> None:
    """A silent server is a temporary failure once the SMTP timeout passes."""
    silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        await seed(engine, plain_receipt())
        report = await make_sender(port, timeout=0.2).run_once()
    finally:
        silent.close()
    assert report[Outcome.RETRY] == 1
    [row] = await outbox_rows(engine)
    assert row.status is OutboxStatus.PENDING
    assert "Timeout" in (row.last_error or "")


async def test_backoff_grows_and_a_receipt_is_failed_after_its_last_attempt(
    engine: AsyncEngine, make_sender: SenderFactory, clock: ManualClock
) -> None:
    """Delays double from the base; after max_attempts the row fails, naming the last error."""
    await seed(engine, plain_receipt())
    sender = make_sender(_free_port(), backoff=Backoff(max_attempts=4, random=lambda: 0.5))
    delays = []
    for _ in range(3):
        assert (await sender.run_once())[Outcome.RETRY] == 1
        [row] = await outbox_rows(engine)
        delays.append((row.next_attempt_at or 0) - clock.current)
        clock.advance(delays[-1])
    assert delays == [5.0, 10.0, 20.0]
    assert (await sender.run_once())[Outcome.FAILED] == 1
    [row] = await outbox_rows(engine)
    assert row.status is OutboxStatus.FAILED
    assert (row.last_error or "").startswith("gave up after 4 attempts: SMTPConnectError")
