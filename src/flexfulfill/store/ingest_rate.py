"""How fast webhooks arrive, for the background work that yields to them.

Flex waits for every acknowledgement (and retries, then disables, an endpoint that is slow to
answer); a backlog of fulfillment or receipts can wait. The worker and the receipt sender ask
:meth:`IngestRate.storm` between batches: the inbox's newest id, sampled at most every 0.1 s,
tells how many rows the receivers stored per second since the last look. While that is above
``storm_rate`` they pause after each batch (see ``Worker._yield_to_ingest`` and
``OutboxSender.run``), so that on SQLite their commits leave the one write lock to the
receivers, and on any engine their CPU (and the database's) goes to acknowledgements.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from flexfulfill.store.tables import webhook_events

SAMPLE_SECONDS = 0.1
Reading = Callable[[], AbstractAsyncContextManager[AsyncConnection]]


async def newest_id(conn: AsyncConnection) -> int:
    """The id of the newest inbox row (0 when empty)."""
    return int((await conn.execute(select(func.max(webhook_events.c.id)))).scalar() or 0)


class IngestRate:
    """Whether webhooks arrive faster than ``storm_rate`` per second (0: never a storm)."""

    def __init__(self, reading: Reading, storm_rate: float) -> None:
        self._reading = reading
        self.storm_rate = storm_rate
        self.sampled_at = float("-inf")
        self.newest: int | None = None
        self.storming = False

    async def storm(self) -> bool:
        if self.storm_rate <= 0:
            return False
        now = time.monotonic()
        if now - self.sampled_at < SAMPLE_SECONDS:
            return self.storming
        try:
            async with self._reading() as conn:
                newest = await newest_id(conn)
        except (OSError, SQLAlchemyError):
            return self.storming  # the caller's next statement reports the database
        if self.newest is not None:
            self.storming = (newest - self.newest) / (now - self.sampled_at) >= self.storm_rate
        self.newest, self.sampled_at = newest, now
        return self.storming


def pause_for(busy_seconds: float, share: float) -> float:
    """The pause after ``busy_seconds`` of work that keeps it to ``share`` of the time."""
    share = min(max(share, 0.01), 1.0)
    return busy_seconds * (1 / share - 1)
