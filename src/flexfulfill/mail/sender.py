"""The outbox sender: claims due receipt rows, sends each over SMTP, records the outcome.

Never inside a database transaction: the claim commits, the SMTP exchange runs with no
transaction open, and the outcome is recorded in a new one (for deliveries, a group commit that
overlaps the next send: :mod:`flexfulfill.mail.marks`). A crash between the server's
acceptance and that record leaves the row ``sending``; when its lease runs out it is sent again
with the same ``Message-ID`` (the row's), the same content (the row's snapshot) and the same
``Date`` (the row's creation time): the same message, delivered at least once.

Run it as a background task of the worker (see docs/architecture.md, "Receipts")::

    sender = bootstrap.build_sender(settings, engine, mailer)
    task = asyncio.create_task(sender.run(stop_event))
    ...
    sender.wake()  # optional: after committing an order, so its receipt goes out at once
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from enum import StrEnum

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.clock import Clock
from flexfulfill.domain.receipts import Receipt, receipt_message_id
from flexfulfill.mail.backoff import Backoff
from flexfulfill.mail.errors import (
    PermanentDeliveryError,
    RenderError,
    TemporaryDeliveryError,
)
from flexfulfill.mail.marks import SentMarks
from flexfulfill.mail.message import Sender, compose
from flexfulfill.mail.render import ReceiptRenderer
from flexfulfill.mail.smtp import Mailer, MailSession
from flexfulfill.store import outbox
from flexfulfill.store.db import reading
from flexfulfill.store.ingest_rate import IngestRate, pause_for
from flexfulfill.store.outbox import OutboxRow

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    SKIPPED = "skipped"  # the lease ran too short to start this row; it is claimed again later


@dataclass(frozen=True)
class SenderPolicy:
    """How much a sender claims at once, over how many connections, for how long, how it retries.

    A batch is shared by up to ``connections`` SMTP connections, each sending one message at a
    time. The lease must outlast a batch: ``batch_size / connections`` messages per connection,
    each bounded by the SMTP timeout. A row whose lease has less than :attr:`margin` left is
    not started (it is claimed again when the lease runs out).
    """

    batch_size: int = 20
    connections: int = 4
    lease_seconds: float = 60.0
    lease_margin: float = 15.0
    poll_interval: float = 1.0
    backoff: Backoff = field(default_factory=Backoff)
    # Acknowledgements first (flexfulfill.store.ingest_rate): while webhooks arrive faster than
    # ``ingest_storm`` per second, sending takes at most ``ingest_share`` of the time.
    ingest_storm: float = 200.0
    ingest_share: float = 0.05

    @property
    def margin(self) -> float:
        """``lease_margin``, but never more than a quarter of the lease: with a short lease
        (WORKER_LEASE_SECONDS below the margin) every row would otherwise be skipped forever."""
        return min(self.lease_margin, self.lease_seconds / 4)


@dataclass
class SendReport:
    """What one :meth:`OutboxSender.run_once` did."""

    claimed: int = 0
    counts: dict[Outcome, int] = field(default_factory=dict)

    def add(self, outcome: Outcome) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1

    def __getitem__(self, outcome: Outcome) -> int:
        return self.counts.get(outcome, 0)


def message_for(row: OutboxRow, renderer: ReceiptRenderer, sender: Sender) -> Message:
    """The exact message an outbox row stands for (also what `receipts show` prints)."""
    try:
        receipt = Receipt.from_json(row.payload)
    except (ValueError, TypeError, KeyError) as exc:
        raise RenderError(f"outbox row {row.id} has an unreadable receipt: {exc}") from exc
    recipient = row.recipient or receipt.email
    if not recipient:
        raise RenderError(f"outbox row {row.id} has no recipient")
    message_id = row.message_id or receipt_message_id(
        receipt.order_id, receipt.checkout_session_id, sender.domain
    )
    rendered = renderer.render(receipt)
    return compose(rendered, sender, recipient, message_id, row.created_at)


def worker_name() -> str:
    """A name for ``locked_by``: host, process and a random part (unique per sender)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class OutboxSender:
    """Delivers receipt rows from the outbox; one instance per process is enough."""

    def __init__(
        self,
        engine: AsyncEngine,
        mailer: Mailer,
        renderer: ReceiptRenderer,
        sender: Sender,
        *,
        clock: Clock,
        policy: SenderPolicy | None = None,
        name: str | None = None,
    ) -> None:
        self._engine = engine
        self._mailer = mailer
        self._renderer = renderer
        self._sender = sender
        self._clock = clock
        self.policy = policy or SenderPolicy()
        self.name = name or worker_name()
        self._wake = asyncio.Event()
        self._ingest = IngestRate(lambda: reading(engine), self.policy.ingest_storm)

    def wake(self) -> None:
        """Look for due rows now instead of at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Send until ``stop`` is set or the task is cancelled; database outages are waited out."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            report = SendReport()
            started = time.monotonic()
            try:
                report = await self.run_once()
            except* (SQLAlchemyError, OSError) as group:  # a group when raised inside a lane
                names = sorted({type(e).__name__ for e in group.exceptions})
                log.warning("receipt sender: database unavailable (%s)", ", ".join(names))
            if report.claimed and await self._ingest.storm():
                busy = time.monotonic() - started
                await asyncio.sleep(pause_for(busy, self.policy.ingest_share))
            if report.claimed < self.policy.batch_size:
                await self._idle(stop)

    async def drain(self) -> SendReport:
        """Run batches until none is due; the sum of their reports."""
        total = SendReport()
        while (report := await self.run_once()).claimed:
            total.claimed += report.claimed
            for outcome, count in report.counts.items():
                total.counts[outcome] = total[outcome] + count
        return total

    async def run_once(self) -> SendReport:
        """Claim one batch of due rows (a commit), send them, record each outcome."""
        rows = await outbox.claim_due(
            self._engine,
            worker=self.name,
            now=self._clock.now(),
            lease_seconds=self.policy.lease_seconds,
            limit=self.policy.batch_size,
        )
        report = SendReport(claimed=len(rows))
        if rows:
            async with SentMarks(self._engine, self._clock) as marks, asyncio.TaskGroup() as lanes:
                queue = iter(rows)  # shared: each row goes to exactly one lane
                for _ in range(min(self.policy.connections, len(rows))):
                    lanes.create_task(self._lane(queue, marks, report))
        return report

    async def _lane(self, queue: Iterator[OutboxRow], marks: SentMarks, report: SendReport) -> None:
        """One SMTP connection working through the batch alongside the others."""
        async with self._mailer.session() as session:
            for row in queue:
                report.add(await self._deliver(session, row, marks))

    async def _deliver(self, session: MailSession, row: OutboxRow, marks: SentMarks) -> Outcome:
        if self._clock.now() >= (row.lease_until or 0.0) - self.policy.margin:
            return Outcome.SKIPPED
        try:
            message = self.message_for(row)
        except RenderError as exc:
            return await self._fail(row, f"render: {exc}")
        try:
            await session.send(message)
        except PermanentDeliveryError as exc:
            return await self._fail(row, exc.reply)
        except TemporaryDeliveryError as exc:
            return await self._retry(row, exc.reply)
        marks.add(row.id)
        log.info("receipt sent: outbox row %s, %s", row.id, message["Message-ID"])
        return Outcome.SENT

    def message_for(self, row: OutboxRow) -> Message:
        """The exact message a row stands for."""
        return message_for(row, self._renderer, self._sender)

    async def _fail(self, row: OutboxRow, reason: str) -> Outcome:
        # Shielded, as every write here: a lane is cancelled when another lane fails, and a
        # cancel during a statement on aiosqlite's thread can leave its transaction open.
        await asyncio.shield(
            outbox.mark_failed(self._engine, row.id, worker=self.name, error=reason)
        )
        log.warning("receipt failed for good: outbox row %s: %s", row.id, reason)
        return Outcome.FAILED

    async def _retry(self, row: OutboxRow, reason: str) -> Outcome:
        backoff = self.policy.backoff
        if backoff.exhausted(row.attempts):
            return await self._fail(row, f"gave up after {row.attempts} attempts: {reason}")
        due = self._clock.now() + backoff.delay(row.attempts)
        await asyncio.shield(
            outbox.mark_retry(
                self._engine, row.id, worker=self.name, error=reason, next_attempt_at=due
            )
        )
        log.info("receipt deferred: outbox row %s (attempt %s): %s", row.id, row.attempts, reason)
        return Outcome.RETRY

    async def _idle(self, stop: asyncio.Event) -> None:
        waits = [
            asyncio.ensure_future(self._clock.sleep(self.policy.poll_interval)),
            asyncio.ensure_future(self._wake.wait()),
            asyncio.ensure_future(stop.wait()),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
            self._wake.clear()
