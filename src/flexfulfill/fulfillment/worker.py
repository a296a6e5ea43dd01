"""The worker: claims due inbox rows, runs their handlers, commits effects and ``done`` together.

Rows are handled in batches. A batch is claimed in one short transaction (a lease per row).
Then, with no transaction open, each row's event is parsed and every handler registered for
its type reads what it needs (the Flex API). Finally the whole batch is settled in ONE
transaction (batches of different workers one at a time, see :meth:`Worker.process_batch`):
a row is marked done, only while this worker's claim still holds it, and its handlers'
effects are applied. The batch is first tried without savepoints; if any row fails, it is
rolled back and settled again with a SAVEPOINT per row, so the failing row alone goes back
``pending`` with a backoff and ``last_error`` (``dead`` after the last attempt). A row's
effects and its ``done`` always commit together.

A mode mismatch (a test event under a live key, or the reverse) or a type nothing handles ends
``ignored``. Every attempt is a row in ``event_attempts``. A worker killed mid-batch leaves its
rows ``processing`` under a lease; when the lease expires they are due again.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import traceback
import uuid
from dataclasses import dataclass, field

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from flexfulfill.domain.events import mode_mismatch
from flexfulfill.flex import Event
from flexfulfill.fulfillment.context import Services, log
from flexfulfill.fulfillment.handlers import MalformedEvent
from flexfulfill.fulfillment.registry import Apply, BatchApply
from flexfulfill.fulfillment.retry import EventRetryPolicy
from flexfulfill.store import claims
from flexfulfill.store.claims import ClaimedEvent
from flexfulfill.store.ingest_rate import IngestRate, pause_for
from flexfulfill.store.statuses import EventStatus


class LeaseLost(Exception):
    """Another worker took the row after this worker's lease ran out; nothing was committed."""


class _Undone(Exception):
    """A lone row's effects failed; its transaction is rolled back and the failure recorded."""

    def __init__(self, item: Prepared) -> None:
        self.item = item


@dataclass(frozen=True)
class WorkerConfig:
    name: str = ""
    concurrency: int = 32  # rows per batch, their Flex reads made concurrently
    lease_seconds: float = 60.0
    poll_interval: float = 0.01
    pipeline: int = 2  # batches in flight in ``run`` (claimed, being read or committed)
    retry: EventRetryPolicy = field(default_factory=EventRetryPolicy)
    # Acknowledgements first: while webhooks arrive faster than ``ingest_storm`` per second,
    # ``run`` keeps the worker busy at most ``ingest_share`` of the time (see _yield_to_ingest).
    ingest_storm: float = 200.0  # 0 turns yielding off
    ingest_share: float = 0.05


@dataclass
class Prepared:
    """A claimed row after the read phase: what to apply, or why it is ignored or failed."""

    claimed: ClaimedEvent
    applies: list[Apply] = field(default_factory=list)
    ignore: str | None = None
    error: BaseException | None = None
    final: bool = False


class Worker:
    """Processes inbox rows until stopped; ``run_once``/``drain`` serve tests and the CLI."""

    def __init__(self, services: Services, config: WorkerConfig | None = None) -> None:
        self.services = services
        self.config = config or WorkerConfig()
        self.name = self.config.name or f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self._busy = False  # the last claim found rows: claim again without peeking first
        self._ingest = IngestRate(services.reading, self.config.ingest_storm)
        self._batch_seconds = 0.0  # wall time of the last batch, claim to commit

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Claim and process batches until ``stop`` is set (or the task is cancelled).

        Up to ``pipeline`` batches are in flight: the next batch is claimed and read from
        Flex while the previous one waits for its Flex answers or commits, so an event that
        arrives during a batch does not wait for that whole batch to end.
        """
        stop = stop or asyncio.Event()
        inflight: set[asyncio.Task[None]] = set()
        try:
            while not stop.is_set():
                if len(inflight) >= self.config.pipeline:
                    await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
                    continue
                if await self._ingest.storm() and inflight:
                    await asyncio.wait(inflight)  # one batch at a time, then the pause
                    continue
                await self._yield_to_ingest()
                batch = await self._claim_or_wait()
                if batch:
                    task = asyncio.create_task(self.process_batch(batch))
                    inflight.add(task)
                    task.add_done_callback(inflight.discard)
            await asyncio.gather(*inflight)
        finally:
            for task in inflight:
                task.cancel()  # cancelled mid-batch: nothing commits, the leases return them

    async def _yield_to_ingest(self) -> None:
        """Pause between batches while the receivers are flooded with webhooks.

        Flex waits for every acknowledgement (and retries, then disables, an endpoint that is
        slow to answer); a backlog can wait. On SQLite a worker's commits hold the one write
        lock the receivers' commits need, on PostgreSQL its queries take CPU they need. So while
        inbox rows arrive faster than ``ingest_storm`` per second (the inbox's newest id,
        sampled every 0.1 s: :mod:`flexfulfill.store.ingest_rate`), batches run one at a time
        (no pipeline), each followed by a pause that keeps the worker busy at most
        ``ingest_share`` of the time. Below that rate, including any ordinary flow of
        checkouts, nothing changes.
        """
        if await self._ingest.storm() and self._batch_seconds > 0:
            await asyncio.sleep(pause_for(self._batch_seconds, self.config.ingest_share))
            self._batch_seconds = 0.0  # one pause per batch

    async def _claim_or_wait(self) -> list[ClaimedEvent]:
        try:
            batch = await self._claim(self.config.concurrency)
        except (OSError, SQLAlchemyError) as exc:  # the database is unreachable: wait
            log.warning("worker %s cannot claim: %s", self.name, exc)
            batch = []
        if not batch:
            await self.services.clock.sleep(self.config.poll_interval)
        return batch

    async def run_once(self, limit: int | None = None) -> int:
        """Claim one batch and process it to the end; the number of rows claimed."""
        batch = await self._claim(limit or self.config.concurrency)
        if batch:
            await self.process_batch(batch)
        return len(batch)

    async def drain(self) -> int:
        """Process until nothing is due; the number of rows claimed in total."""
        total = 0
        while count := await self.run_once():
            total += count
        return total

    async def _claim(self, limit: int) -> list[ClaimedEvent]:
        now = self.services.clock.now()
        if not self._busy:  # idle: a cheap read first, so polling never opens a write
            async with self.services.reading() as conn:
                if not await claims.any_due(conn, now):
                    return []
        token = f"{self.name}/{uuid.uuid4().hex[:12]}"
        async with self.services.engine.begin() as conn:
            batch = await claims.claim(
                conn,
                now=now,
                lease=self.config.lease_seconds,
                token=token,
                worker=self.name,
                limit=limit,
            )
        self._busy = bool(batch)
        return batch

    async def process(self, claimed: ClaimedEvent) -> None:
        """Handle one claimed row to its next status."""
        await self.process_batch([claimed])

    async def process_batch(self, batch: list[ClaimedEvent]) -> None:
        """Read for every row at once, then settle them all in one transaction.

        One transaction per batch saves a commit (an fsync) per row. Batches of different
        workers write one at a time (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a transaction
        advisory lock), so two batches each holding hot rows (stock levels, customers) never
        deadlock; orders touching the same stock row were serialized by its row lock anyway.
        The Flex reads, the slow part, still run in every worker at once.
        """
        started = time.monotonic()
        prepared = await asyncio.gather(*(self._prepare(claimed) for claimed in batch))
        await self._commit(prepared)
        self._batch_seconds = time.monotonic() - started

    async def _commit(self, items: list[Prepared], nested: bool = False) -> None:
        # Optimistic first: every row straight in the one transaction, without a SAVEPOINT
        # (two statements fewer per row). If any row's effects fail or its lease was lost,
        # that transaction rolls back whole and the rows are settled again, each inside its
        # own SAVEPOINT, so only the failing row is undone. A lone row needs no savepoint:
        # if its effects fail, the failure is recorded in a fresh transaction.
        try:
            async with self.services.engine.begin() as conn:
                await claims.one_writer(conn)
                if nested:
                    for item in items:
                        await self._settle(conn, item, nested=True)
                else:
                    await self._settle_all(conn, items)
        except (_Undone, LeaseLost) as exc:
            if len(items) > 1:
                await self._commit(items, nested=True)
            elif isinstance(exc, _Undone):
                await self._commit(items)  # item.error is set: this records the failure
        except (OSError, SQLAlchemyError) as exc:  # the database failed: the leases return them
            log.error("worker %s could not commit %d row(s): %s", self.name, len(items), exc)

    async def _settle_all(self, conn: AsyncConnection, items: list[Prepared]) -> None:
        """The optimistic pass: rows whose one apply function is a :class:`BatchApply` go
        together (one set of statements per class, then one ``done`` for all), the rest one by
        one. Any failure raises, the transaction rolls back and the rows are settled again
        alone (see :meth:`_commit`); a row's effects and its ``done`` still commit together."""
        groups: dict[type[BatchApply], list[tuple[Prepared, BatchApply]]] = {}
        for item in items:
            apply = item.applies[0] if len(item.applies) == 1 else None
            if item.ignore is None and item.error is None and isinstance(apply, BatchApply):
                groups.setdefault(type(apply), []).append((item, apply))
        grouped = {
            id(item) for members in groups.values() if len(members) > 1 for item, _ in members
        }
        for item in items:
            if id(item) not in grouped:
                await self._settle(conn, item, nested=False)
        done: list[tuple[ClaimedEvent, int | None]] = []
        for kind, members in groups.items():
            if len(members) < 2:
                continue  # settled alone above
            try:
                order_ids = await kind.apply_many(conn, [apply for _, apply in members])
            except Exception as exc:  # which row failed is unknown: each is retried alone
                raise _Undone(members[0][0]) from exc
            done += [(item.claimed, oid) for (item, _), oid in zip(members, order_ids, strict=True)]
        if done and not await claims.settle_done(conn, done, now=self.services.clock.now()):
            raise LeaseLost

    async def _prepare(self, claimed: ClaimedEvent) -> Prepared:
        item = Prepared(claimed)
        try:
            event = _parse(claimed)
            item.ignore = self._ignore_reason(claimed, event)
            if item.ignore is None:
                handlers = self.services.registry.handlers_for(claimed.event_type)
                item.applies = [await handler(self.services, event) for handler in handlers]
        except MalformedEvent as exc:
            item.error, item.final = exc, True
        except Exception as exc:  # any read failure is recorded and retried, never lost
            item.error = exc
        return item

    def _ignore_reason(self, claimed: ClaimedEvent, event: Event) -> str | None:
        test_mode = event.test_mode if event.test_mode is not None else claimed.test_mode
        if mode_mismatch(test_mode, self.services.key_is_test):
            mode = "test" if test_mode else "live"
            key = "test" if self.services.key_is_test else "live"
            message = f"ignored: a {mode}-mode event while FLEX_API_KEY is a {key} key"
            log.warning("event %s (%s) %s", claimed.message_id, event.event_type, message)
            return message
        if not self.services.registry.handlers_for(claimed.event_type):
            return f"ignored: no handler for {claimed.event_type!r}"
        return None

    async def _settle(self, conn: AsyncConnection, item: Prepared, nested: bool) -> None:
        now = self.services.clock.now()
        claimed = item.claimed
        if item.ignore is not None:
            await claims.settle(
                conn, claimed, status=EventStatus.IGNORED, now=now, error=item.ignore
            )
            return
        if item.error is None:
            try:
                await self._apply_alone(conn, item, now, nested)
                return
            except LeaseLost:
                log.warning("event %s: lease lost to another worker; not committed", claimed.row_id)
                if not nested:
                    raise
                return
            except Exception as exc:  # the row's effects are undone; the row is retried
                item.error = exc
                if not nested:
                    raise _Undone(item) from exc
        await self._fail(conn, item, now)

    async def _apply_alone(
        self, conn: AsyncConnection, item: Prepared, now: float, nested: bool
    ) -> None:
        if not nested:
            await self._apply(conn, item, now)
            return
        async with conn.begin_nested():
            await self._apply(conn, item, now)

    async def _apply(self, conn: AsyncConnection, item: Prepared, now: float) -> None:
        order_id = None
        for apply in item.applies:
            order_id = await apply(conn) or order_id
        # Done only while this claim holds the row; else the savepoint undoes the effects.
        done = EventStatus.DONE
        if not await claims.settle(conn, item.claimed, status=done, now=now, order_id=order_id):
            raise LeaseLost

    async def _fail(self, conn: AsyncConnection, item: Prepared, now: float) -> None:
        claimed, exc = item.claimed, item.error
        assert exc is not None
        policy = self.config.retry
        error = _describe(exc)
        if item.final or policy.gives_up(claimed.attempts):
            log.error("event %s is dead (attempt %d): %s", claimed.row_id, claimed.attempts, error)
            await claims.settle(conn, claimed, status=EventStatus.DEAD, now=now, error=error)
            return
        wait = policy.delay(claimed.attempts, exc)
        log.warning(
            "event %s failed (attempt %d), retry in %.1fs: %s",
            claimed.row_id,
            claimed.attempts,
            wait,
            error,
        )
        await claims.settle(
            conn,
            claimed,
            status=EventStatus.PENDING,
            now=now,
            error=error,
            next_attempt_at=now + wait,
        )


def _parse(claimed: ClaimedEvent) -> Event:
    try:
        return Event.model_validate(json.loads(claimed.body))
    except (ValueError, ValidationError) as exc:
        raise MalformedEvent(f"the stored body is not a Flex event: {exc}") from exc


def _describe(exc: BaseException) -> str:
    """The error and where it came from, for ``last_error`` and the dashboard's timeline."""
    where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    origin = f" (at {where[0].filename.rsplit('/', 1)[-1]}:{where[0].lineno})" if where else ""
    return f"{type(exc).__name__}: {exc}{origin}"[:2000]
