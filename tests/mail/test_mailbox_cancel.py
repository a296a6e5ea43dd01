"""The local mailbox keeps a message it accepted even if the SMTP client hangs up mid-store.

aiosmtpd cancels the DATA handler when its client disconnects. A cancel landing while SQLite ran
the INSERT or COMMIT on aiosqlite's thread used to leave that connection inside its transaction,
holding the write lock for every other writer (a 10,000-checkout chaos run stalled on it).
"""

from __future__ import annotations

import asyncio

from aiosmtpd.smtp import Envelope
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.clock import Clock
from flexfulfill.mail import MailboxHandler
from flexfulfill.store.tables import mailbox


def envelope() -> Envelope:
    env = Envelope()
    env.mail_from = "shop@example.com"
    env.rcpt_tos = ["ada@example.com"]
    env.original_content = b"Message-ID: <m1@example.com>\r\nSubject: hi\r\n\r\nbody\r\n"
    return env


async def test_a_cancelled_handler_still_stores_and_leaves_no_transaction_open(
    engine: AsyncEngine,
) -> None:
    handler = MailboxHandler(engine, Clock())
    blocker = await engine.connect()
    if engine.dialect.name == "sqlite":  # hold the write lock: the store waits in its BEGIN
        await blocker.begin()
        await blocker.execute(text("UPDATE mailbox SET subject = subject WHERE 1 = 0"))
    task = asyncio.create_task(handler.handle_DATA(None, None, envelope()))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    task.cancel()  # the client hung up
    await asyncio.gather(task, return_exceptions=True)
    if engine.dialect.name == "sqlite":
        await blocker.rollback()
    await blocker.close()

    async def stored() -> int:
        async with engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(mailbox))).scalar_one())

    for _ in range(100):  # the shielded store finishes on its own
        if await stored() == 1:
            break
        await asyncio.sleep(0.02)
    assert await stored() == 1
    async with asyncio.timeout(5):  # and the write lock is free again
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE mailbox SET subject = 'x'"))
