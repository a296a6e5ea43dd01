"""The reconciler: fulfills completed sessions that no webhook (and no redirect) brought.

Each run lists the sessions Flex reports ``complete`` created since the stored cursor minus an
overlap, and calls :func:`fulfill_checkout` for those without an order. The overlap is as long
as a session can stay open (a session created before the cursor may complete after it), so a
missed webhook is caught by the next run. Every run is a row in ``reconcile_runs``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from flexfulfill.flex import CheckoutSession, FlexError
from flexfulfill.fulfillment.checkout import Outcome, fulfill_checkout
from flexfulfill.fulfillment.context import Services, log
from flexfulfill.store import orders as order_store
from flexfulfill.store.conflicts import upsert
from flexfulfill.store.statuses import FulfilledVia
from flexfulfill.store.tables import reconcile_runs, reconcile_state

CURSOR = "checkout_sessions"
PAGE = 100


@dataclass(frozen=True)
class ReconcileRun:
    since: float
    sessions_seen: int
    orders_created: int
    cursor: float
    error: str | None = None


@dataclass(frozen=True)
class ReconcilerConfig:
    overlap: float = 24 * 3600.0  # the longest a session stays open before it completes
    first_lookback: float = 7 * 24 * 3600.0  # how far back the very first run looks
    # Flex's list filter, an ISO-8601 time (the name is inferred, API.md §9; None: filter here)
    created_filter: str | None = "created_gte"


class Reconciler:
    def __init__(self, services: Services, config: ReconcilerConfig | None = None) -> None:
        self.services = services
        self.config = config or ReconcilerConfig()

    async def run_once(
        self, actor: str = "worker", progress: Callable[[int, int], None] | None = None
    ) -> ReconcileRun:
        """One pass; the outcome is also stored in ``reconcile_runs``.

        ``progress(sessions_seen, orders_created)`` is called after each page (the CLI's bar).
        """
        started = self.services.clock.now()
        cursor = await self._cursor()
        since = self._since(cursor, started)
        seen = created = 0
        newest = cursor if cursor is not None else since
        error = None
        try:
            async for batch in self._completed(since):
                seen += len(batch)
                created += await self._fulfill_missing(batch)
                newest = max([newest, *(float(s.created_at or 0) for s in batch)])
                if progress is not None:
                    progress(seen, created)
        except FlexError as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.warning("reconciler stopped early: %s", error)
        # The cursor never passes the run's start, and does not move when the run failed.
        reached = (
            min(newest, started) if error is None else (cursor if cursor is not None else since)
        )
        run = ReconcileRun(since, seen, created, reached, error)
        await self._record(run, started, actor)
        return run

    async def run_forever(self, interval: float, stop: asyncio.Event | None = None) -> None:
        """A run every ``interval`` seconds (the first at once) until ``stop`` is set."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:  # a failed run must not end the loop; the next one retries
                log.exception("reconcile run failed")
            await self._pause(interval, stop)

    async def _pause(self, interval: float, stop: asyncio.Event) -> None:
        """Sleep ``interval`` on the injected clock, but end at once when ``stop`` is set
        (a SIGTERM must not wait out a five-minute reconcile interval)."""
        sleeping = asyncio.ensure_future(self.services.clock.sleep(interval))
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({sleeping, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeping.cancel()
            stopping.cancel()

    def _since(self, cursor: float | None, now: float) -> float:
        if cursor is None:
            return now - self.config.first_lookback
        return cursor - self.config.overlap

    async def _completed(self, since: float) -> AsyncIterator[list[CheckoutSession]]:
        bound = datetime.fromtimestamp(since, UTC).isoformat()
        filters = {self.config.created_filter: bound} if self.config.created_filter else {}
        batch: list[CheckoutSession] = []
        async for session in self.services.flex.list_checkout_sessions(
            status="complete", limit=PAGE, **filters
        ):
            if session.created_at is not None and session.created_at < since:
                continue
            batch.append(session)
            if len(batch) == PAGE:
                yield batch
                batch = []
        if batch:
            yield batch

    async def _fulfill_missing(self, batch: list[CheckoutSession]) -> int:
        ids = [s.checkout_session_id for s in batch]
        async with self.services.reading() as conn:
            done = set(await order_store.find_orders(conn, ids))
        created = 0
        for session_id in ids:
            if session_id in done:
                continue
            result = await fulfill_checkout(self.services, session_id, FulfilledVia.RECONCILER)
            if result.outcome is Outcome.CREATED:
                log.warning("reconciler fulfilled %s: its webhook never came", session_id)
                created += 1
        return created

    async def _cursor(self) -> float | None:
        async with self.services.reading() as conn:
            stmt = select(reconcile_state.c.cursor).where(reconcile_state.c.name == CURSOR)
            return (await conn.execute(stmt)).scalar_one_or_none()

    async def _record(self, run: ReconcileRun, started: float, actor: str) -> None:
        now = self.services.clock.now()
        async with self.services.engine.begin() as conn:
            await conn.execute(
                insert(reconcile_runs).values(
                    started_at=started,
                    finished_at=now,
                    since=run.since,
                    sessions_seen=run.sessions_seen,
                    orders_created=run.orders_created,
                    error=run.error,
                    actor=actor,
                )
            )
            await _store_cursor(conn, run.cursor, now)


async def _store_cursor(conn: AsyncConnection, cursor: float, now: float) -> None:
    values = {"name": CURSOR, "cursor": cursor, "updated_at": now}
    await upsert(conn, reconcile_state, values, ["name"], {"cursor": cursor, "updated_at": now})
