"""The worker: claims due inbox rows, runs their handlers, commits effects and ``done`` together.

Per claimed row: parse the event; a mode mismatch (test event, live key or the reverse) or an
unhandled type ends ``ignored``. Otherwise every handler for the type reads what it needs with
no transaction open; then ONE transaction marks the row done (only if this worker's claim still
holds it) and applies every handler's effects. Any error puts the row back ``pending`` with a
backoff (``next_attempt_at``) and ``last_error``, or ``dead`` after the last attempt. Each attempt
is a row in ``event_attempts``. A worker killed mid-event leaves the row ``processing`` under a
lease; when the lease expires the row is due again and another worker takes it.
"""

from __future__ import annotations

import asyncio
import json
import socket
import traceback
import uuid
from dataclasses import dataclass, field

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from flexfulfill.domain.events import mode_mismatch
from flexfulfill.flex import Event
from flexfulfill.fulfillment.context import Services, log
from flexfulfill.fulfillment.handlers import MalformedEvent
from flexfulfill.fulfillment.registry import Apply, Handler
from flexfulfill.fulfillment.retry import EventRetryPolicy
from flexfulfill.store import claims
from flexfulfill.store.claims import ClaimedEvent
from flexfulfill.store.statuses import EventStatus


class LeaseLost(Exception):
    """Another worker took the row after this worker's lease ran out; nothing was committed."""


@dataclass(frozen=True)
class WorkerConfig:
    name: str = ""
    concurrency: int = 16
    lease_seconds: float = 60.0
    poll_interval: float = 0.02
    retry: EventRetryPolicy = field(default_factory=EventRetryPolicy)


class Worker:
    """Processes inbox rows until stopped; ``run_once``/``drain`` serve tests and the CLI."""

    def __init__(self, services: Services, config: WorkerConfig | None = None) -> None:
        self.services = services
        self.config = config or WorkerConfig()
        self.name = self.config.name or f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self._inflight: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Claim and process rows, ``concurrency`` at a time, until ``stop`` is set."""
        stop = stop or asyncio.Event()
        try:
            while not stop.is_set():
                if len(self._inflight) >= self.config.concurrency:
                    await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)
                    continue
                if not await self._claim_and_start(self.config.concurrency - len(self._inflight)):
                    await self.services.clock.sleep(self.config.poll_interval)
        finally:
            if self._inflight:
                await asyncio.gather(*self._inflight, return_exceptions=True)

    async def run_once(self, limit: int | None = None) -> int:
        """Claim one batch, process it to the end; the number of rows claimed."""
        batch = await self._claim(limit or self.config.concurrency)
        await asyncio.gather(*(self.process(event) for event in batch))
        return len(batch)

    async def drain(self) -> int:
        """Process until nothing is due; the number of rows claimed in total."""
        total = 0
        while count := await self.run_once():
            total += count
        return total

    async def _claim_and_start(self, free: int) -> bool:
        try:
            batch = await self._claim(free)
        except OSError as exc:  # the database is unreachable: wait, then try again
            log.warning("worker %s cannot claim: %s", self.name, exc)
            return False
        for event in batch:
            task = asyncio.create_task(self.process(event), name=f"event-{event.row_id}")
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        return bool(batch)

    async def _claim(self, limit: int) -> list[ClaimedEvent]:
        now = self.services.clock.now()
        async with self.services.reading() as conn:
            if not await claims.any_due(conn, now):
                return []
        token = f"{self.name}/{uuid.uuid4().hex[:12]}"
        async with self.services.engine.begin() as conn:
            return await claims.claim(
                conn,
                now=now,
                lease=self.config.lease_seconds,
                token=token,
                worker=self.name,
                limit=limit,
            )

    async def process(self, claimed: ClaimedEvent) -> None:
        """Handle one claimed row to its next status; never raises."""
        try:
            await self._process(claimed)
        except (
            OSError,
            SQLAlchemyError,
        ) as exc:  # the database itself failed: the lease returns it
            log.error("event %s: could not record the outcome: %s", claimed.row_id, exc)

    async def _process(self, claimed: ClaimedEvent) -> None:
        try:
            event = _parse(claimed)
            reason = self._ignore_reason(claimed, event)
            if reason is not None:
                await self._settle(claimed, EventStatus.IGNORED, error=reason)
                return
            applies = [await h(self.services, event) for h in self._handlers(claimed)]
            await self._commit(claimed, applies)
        except LeaseLost:
            log.warning("event %s: lease lost to another worker; not committed", claimed.row_id)
        except MalformedEvent as exc:
            await self._fail(claimed, exc, final=True)
        except Exception as exc:  # any handler failure is recorded and retried, never lost
            await self._fail(claimed, exc)

    def _handlers(self, claimed: ClaimedEvent) -> list[Handler]:
        return list(self.services.registry.handlers_for(claimed.event_type))

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

    async def _commit(self, claimed: ClaimedEvent, applies: list[Apply]) -> None:
        async with self.services.engine.begin() as conn:
            now = self.services.clock.now()
            if not await claims.settle(conn, claimed, status=EventStatus.DONE, now=now):
                raise LeaseLost
            order_id = None
            for apply in applies:
                order_id = await apply(conn) or order_id
            if order_id is not None:
                await claims.note_order(conn, claimed, order_id)

    async def _settle(
        self,
        claimed: ClaimedEvent,
        status: EventStatus,
        error: str | None = None,
        next_attempt_at: float | None = None,
    ) -> bool:
        async with self.services.engine.begin() as conn:
            now = self.services.clock.now()
            return await claims.settle(
                conn, claimed, status=status, now=now, error=error, next_attempt_at=next_attempt_at
            )

    async def _fail(self, claimed: ClaimedEvent, exc: BaseException, final: bool = False) -> None:
        policy = self.config.retry
        error = _describe(exc)
        if final or policy.gives_up(claimed.attempts):
            log.error("event %s is dead (attempt %d): %s", claimed.row_id, claimed.attempts, error)
            await self._settle(claimed, EventStatus.DEAD, error=error)
            return
        wait = policy.delay(claimed.attempts, exc)
        log.warning(
            "event %s failed (attempt %d), retry in %.1fs: %s",
            claimed.row_id,
            claimed.attempts,
            wait,
            error,
        )
        next_at = self.services.clock.now() + wait
        await self._settle(claimed, EventStatus.PENDING, error=error, next_attempt_at=next_at)


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
