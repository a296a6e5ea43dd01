"""Recording deliveries as sent in group commits that overlap the next sends.

Each accepted message's row id is handed to a background task that marks everything waiting in
one UPDATE and one commit, while the sender already talks to the SMTP server about the next
message. Rows are marked moments after acceptance, never before; the crash window (accepted but
not yet marked, so re-sent with the same Message-ID after the lease) stays about one commit long.
"""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.clock import Clock
from flexfulfill.store import outbox


class SentMarks:
    """``async with SentMarks(...) as marks: marks.add(row_id)``; leaving waits for the commits."""

    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock
        self._waiting: list[int] = []
        self._wakeup = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def add(self, row_id: int) -> None:
        self._waiting.append(row_id)
        self._wakeup.set()

    async def __aenter__(self) -> SentMarks:
        self._task = asyncio.create_task(self._record())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def _record(self) -> None:
        while self._waiting or not self._closing:
            if not self._waiting:
                await self._wakeup.wait()
                self._wakeup.clear()
                continue
            row_ids, self._waiting = self._waiting, []
            await outbox.mark_sent(self._engine, row_ids, now=self._clock.now())
