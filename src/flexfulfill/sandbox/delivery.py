"""The delivery engine: sends due messages, signed, and records every attempt.

One loop claims due messages and starts a task per message (up to ``concurrency`` at once);
results go through a queue to one writer that records them in batches — one commit for many
attempts. With nothing due the loop awaits a wake-up or the next due time and uses no CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from email.utils import parsedate_to_datetime

from sqlalchemy.exc import SQLAlchemyError

from flexfulfill.clock import Clock
from flexfulfill.flex import sign
from flexfulfill.sandbox import messages as q
from flexfulfill.sandbox.faults import FaultBox
from flexfulfill.sandbox.http_post import ConnectionFailed, HttpPoster, HttpResponse
from flexfulfill.sandbox.retry import RetryPolicy
from flexfulfill.sandbox.store import SandboxStore
from flexfulfill.sandbox.tables import AttemptOutcome

log = logging.getLogger(__name__)
EXCERPT_CHARS = 512
USER_AGENT = "flexfulfill-sandbox/0.1 (Svix-compatible)"


class DeliveryEngine:
    """Start with :meth:`start`, stop with :meth:`stop`; :meth:`wake` after queueing messages."""

    def __init__(
        self,
        store: SandboxStore,
        clock: Clock,
        policy: RetryPolicy,
        faults: FaultBox,
        *,
        concurrency: int = 256,
        poster: HttpPoster | None = None,
    ) -> None:
        self.store, self.clock, self.policy, self.faults = store, clock, policy, faults
        self.concurrency = concurrency
        self.poster = poster or HttpPoster()
        self._inflight: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._results: asyncio.Queue[q.Result] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self.delivered = 0

    async def start(self) -> None:
        self._loops = [
            asyncio.create_task(self._run(), name="sandbox-delivery"),
            asyncio.create_task(self._write(), name="sandbox-delivery-writer"),
        ]

    async def stop(self) -> None:
        for task in [*self._loops, *self._tasks]:
            task.cancel()
        for task in [*self._loops, *self._tasks]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._flush(self._drain_queue())
        await self.poster.close()

    def wake(self) -> None:
        self._wake.set()

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    async def _run(self) -> None:
        while True:
            try:
                await self._step()
            except SQLAlchemyError:
                # A busy or vanished database must not end delivery: say so, wait, go on.
                log.exception("sandbox delivery could not read its queue; retrying in 1 s")
                await asyncio.sleep(1.0)

    async def _step(self) -> None:
        """Claim what is due (if there is room), then wait for more work or the next due time."""
        self._wake.clear()
        # Room counts requests on the wire; sent-but-unrecorded messages stay excluded from
        # claims (the in-flight set) without holding a slot while their batch commits.
        room = self.concurrency - len(self._tasks)
        if room < self.concurrency // 2:
            await self._wake.wait()  # finished requests wake us
            return
        jobs, due = await self._claim(room)
        for job in jobs:
            self._spawn(job)
        if len(jobs) < room:
            await self._idle(due)

    async def _claim(self, room: int) -> tuple[list[q.Job], float | None]:
        """What is due now and, when that is all of it, when the next message falls due —
        on one connection, one statement each (no transaction: each is atomic by itself)."""
        async with self.store.engine.connect() as conn:
            jobs = await q.claim_due(conn, self.clock.now(), self._inflight, room)
            if len(jobs) == room:
                return jobs, None
            claimed = self._inflight.union(job.message_id for job in jobs)
            return jobs, await q.next_due_at(conn, claimed)

    async def _idle(self, due: float | None) -> None:
        """Sleep until the next due time or a wake-up, whichever is first."""
        if self._wake.is_set():
            return
        waiter = asyncio.ensure_future(self._wake.wait())
        waits: set[asyncio.Future[object]] = {waiter}  # type: ignore[arg-type]
        if due is not None:
            waits.add(asyncio.ensure_future(self.clock.sleep(max(0.0, due - self.clock.now()))))
        _done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for future in pending:
            future.cancel()

    def _spawn(self, job: q.Job) -> None:
        self._inflight.add(job.message_id)
        task = asyncio.create_task(self._deliver(job))
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if len(self._tasks) == self.concurrency // 2:
            self.wake()  # room for a new batch

    async def _deliver(self, job: q.Job) -> None:
        box = self.faults
        if job.attempts == 0 and box.chance(box.faults.drop_first_attempt_rate):
            result = q.Result(job, self.clock.now(), AttemptOutcome.DROPPED, None, 0.0, "")
        else:
            result = await self.attempt(job)
        await self._results.put(result)
        if result.ok and box.chance(box.faults.duplicate_rate):
            duplicate = await self.attempt(job)
            duplicate.duplicate = True
            await self._results.put(duplicate)

    async def attempt(self, job: q.Job) -> q.Result:
        """POST one signed message and classify the answer."""
        now = self.clock.now()
        stamp = int(now + self.faults.faults.signing_clock_skew)
        headers = [
            ("content-type", "application/json"),
            ("user-agent", USER_AGENT),
            ("svix-id", job.message_id),
            ("svix-timestamp", str(stamp)),
            ("svix-signature", signatures(job, stamp)),
        ]
        started = time.perf_counter()
        try:
            response = await self.poster.post(job.url, headers, job.body, self.policy.timeout)
        except (ValueError, UnicodeError) as exc:  # a URL the client cannot even address
            return q.Result(
                job,
                now,
                AttemptOutcome.CONNECTION_ERROR,
                None,
                _ms(started),
                f"bad endpoint URL: {exc}"[:EXCERPT_CHARS],
            )
        except TimeoutError:
            return q.Result(job, now, AttemptOutcome.TIMEOUT, None, _ms(started), "timed out")
        except ConnectionFailed as exc:
            return q.Result(
                job,
                now,
                AttemptOutcome.CONNECTION_ERROR,
                None,
                _ms(started),
                str(exc)[:EXCERPT_CHARS],
            )
        return _classify(job, now, response, _ms(started))

    async def _write(self) -> None:
        while True:
            batch = [await self._results.get(), *self._drain_queue()]
            try:
                await self._flush(batch)
            except SQLAlchemyError:
                # Unrecorded attempts are sent again (at least once), never left stuck.
                log.exception("sandbox could not record %d delivery attempts", len(batch))
                self._release([r for r in batch if not r.duplicate])

    def _drain_queue(self) -> list[q.Result]:
        batch: list[q.Result] = []
        while not self._results.empty() and len(batch) < 1000:
            batch.append(self._results.get_nowait())
        return batch

    async def _flush(self, batch: list[q.Result]) -> None:
        if not batch:
            return
        async with self.store.engine.begin() as conn:
            rescheduled = await q.record_results(conn, batch, self.policy, self.faults.rng)
        done = [r for r in batch if not r.duplicate]
        self.delivered += sum(r.ok for r in done)
        # Only a message due again can change when the loop must next wake; a delivered,
        # failed or canceled one cannot (waking anyway cost a claim per recorded batch).
        self._release(done, wake=rescheduled > 0)

    def _release(self, results: list[q.Result], *, wake: bool = True) -> None:
        for result in results:
            self._inflight.discard(result.job.message_id)
        if wake:
            self.wake()


def signatures(job: q.Job, stamp: int) -> str:
    """``v1,…`` per secret, the current secret's first (Flex's plugin reads only the first)."""
    return " ".join(sign(secret, job.message_id, stamp, job.body) for secret in job.secrets)


def _classify(job: q.Job, now: float, response: HttpResponse, ms: float) -> q.Result:
    code = response.status
    excerpt = response.body[:EXCERPT_CHARS].decode("utf-8", "replace")
    if 200 <= code < 300:
        outcome = AttemptOutcome.SUCCEEDED
    elif 300 <= code < 400:
        outcome = AttemptOutcome.REDIRECT
    elif code == 429:
        outcome = AttemptOutcome.RATE_LIMITED
    else:
        outcome = AttemptOutcome.HTTP_ERROR
    retry_after = parse_retry_after(response.headers.get("retry-after"), now)
    return q.Result(job, now, outcome, code, ms, excerpt, retry_after)


def parse_retry_after(raw: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds: a number of seconds or an HTTP date; None if absent or bad."""
    if not raw:
        return None
    raw = raw.strip()
    if raw.isdigit():
        return float(raw)
    try:
        return max(0.0, parsedate_to_datetime(raw).timestamp() - now)
    except (TypeError, ValueError):
        return None


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
