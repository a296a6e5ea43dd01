"""kill -9 of the sender after the server accepted a receipt, before the row was marked sent."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mail_harness import ScriptedHandler, SenderFactory, outbox_rows, plain_receipt, seed
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from flexfulfill.clock import ManualClock
from flexfulfill.mail import Outcome, SmtpServer
from flexfulfill.store.statuses import OutboxStatus
from flexfulfill.store.tables import outbox

FLEXFULFILL = str(Path(sys.executable).parent / "flexfulfill")


class LockingHandler(ScriptedHandler):
    """Accepts the first message, then locks its outbox row so the sender cannot mark it."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__()
        self.engine = engine
        self.lock: AsyncConnection | None = None
        self.accepted_event = asyncio.Event()

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        reply = await super().handle_DATA(server, session, envelope)
        if self.accepted_event.is_set():
            return reply  # the re-send: let it be marked
        self.lock = await self.engine.connect()
        await self.lock.begin()  # BEGIN IMMEDIATE on SQLite: the sender's next write waits
        await self.lock.execute(select(outbox).where(outbox.c.id == 1).with_for_update())
        self.accepted_event.set()
        return reply


def _sender_process(database_url: str, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        SMTP_URL=f"smtp://127.0.0.1:{port}",
        RECEIPT_FROM="receipts@shop.example",
        RECEIPT_REPLY_TO="help@shop.example",
        MERCHANT_NAME="Acme Health",
    )
    args = [FLEXFULFILL, "receipts", "send", "--once"]
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def test_a_resend_after_kill_9_carries_the_same_message_id_and_bytes(
    engine: AsyncEngine,
    database_url: str,
    make_sender: SenderFactory,
    clock: ManualClock,
) -> None:
    """The row stays 'sending'; after its lease, the same message (same Message-ID) goes again."""
    await seed(engine, plain_receipt())
    handler = LockingHandler(engine)
    async with SmtpServer(handler) as server:
        process = _sender_process(database_url, server.port)
        try:
            await asyncio.wait_for(handler.accepted_event.wait(), timeout=60)
            await asyncio.sleep(0.5)  # the 250 reaches the sender, which now waits to mark
            os.kill(process.pid, signal.SIGKILL)
            assert await asyncio.to_thread(process.wait, 10) == -signal.SIGKILL
        finally:
            process.kill()
            if handler.lock is not None:
                await handler.lock.close()
        [row] = await outbox_rows(engine)
        assert (row.status, row.attempts) == (OutboxStatus.SENDING, 1)
        clock.current = time.time() + 61  # the dead sender's 60 s lease has run out
        assert (await make_sender(server.port).run_once())[Outcome.SENT] == 1
    assert handler.message_ids() == [row.message_id, row.message_id]
    assert handler.raw[0] == handler.raw[1]
    [row] = await outbox_rows(engine)
    assert (row.status, row.attempts) == (OutboxStatus.SENT, 2)
