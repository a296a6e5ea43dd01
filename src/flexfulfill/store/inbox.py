"""The inbox: verified webhook messages stored durably before they are acknowledged.

Writes go through a :class:`GroupCommit`: concurrent requests hand their row to a writer task,
which inserts everything that is waiting in ONE transaction and answers each request after the
commit that holds its row. An fsync per batch instead of per request is what makes durable
acknowledgement fast (docs/architecture.md, "Receiver"). Each writer learns which rows were new
and which were redeliveries (same message id) in the same transaction: on PostgreSQL with
``INSERT … ON CONFLICT (message_id) DO NOTHING RETURNING message_id``; on SQLite, where the
transaction already holds the only write lock, with one ``SELECT`` of the known ids first.

The writers themselves, one kind per engine, are in :mod:`flexfulfill.store.inbox_writers`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from flexfulfill.store.statuses import EventStatus

log = logging.getLogger(__name__)

# The largest batch one statement carries (SQLite allows 32766 bound variables; 11 per row).
MAX_BATCH = 1000


class StoreUnavailable(Exception):
    """The database could not take the write; nothing was acknowledged, the sender retries."""


@dataclass(frozen=True, slots=True)
class InboxRow:
    """One verified message, as the receiver stores it."""

    message_id: str
    event_id: str | None
    event_type: str | None
    test_mode: bool | None
    body: bytes
    headers: str  # JSON of the signature headers as received
    received_at: float
    status: EventStatus
    last_error: str | None = None

    @property
    def next_attempt_at(self) -> float | None:
        """Pending rows are due at once; the worker never looks at ignored or dead rows."""
        return self.received_at if self.status is EventStatus.PENDING else None


class InboxWriter(Protocol):
    """Inserts a batch in one transaction and returns the message ids that were new."""

    async def insert(self, rows: Sequence[InboxRow]) -> set[str]: ...

    async def close(self) -> None: ...


class GroupCommit:
    """Writer tasks that commit the rows of concurrent requests together, one per writer.

    :meth:`submit` returns only after the transaction holding the row has committed: ``True``
    when the row is new, ``False`` when its message id was already stored (a redelivery). While
    a batch commits, the next one gathers (or goes to an idle writer); there is no timer, so a
    lone request is written at once. A batch that fails raises :class:`StoreUnavailable` in
    every request it held.
    """

    def __init__(self, writers: Sequence[InboxWriter], *, max_batch: int = MAX_BATCH) -> None:
        self._writers = tuple(writers)
        self._max_batch = max_batch
        self._waiting: list[tuple[InboxRow, asyncio.Future[bool]]] = []
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def submit(self, row: InboxRow) -> bool:
        """Store ``row`` durably; True if it was new, False for a known message id."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((row, future))
        self._wakeup.set()
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._run(w), name="inbox") for w in self._writers]
        return await future

    async def close(self) -> None:
        """Stop the writer tasks, fail whatever still waits, close the writer connections."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        waiting, self._waiting = self._waiting, []
        _settle(waiting, error=StoreUnavailable("the receiver is shutting down"))
        for writer in self._writers:
            await writer.close()

    async def _run(self, writer: InboxWriter) -> None:
        while True:
            await self._wakeup.wait()
            batch = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
            if not self._waiting:
                self._wakeup.clear()
            if batch:
                await self._flush(writer, batch)

    async def _flush(
        self, writer: InboxWriter, batch: list[tuple[InboxRow, asyncio.Future[bool]]]
    ) -> None:
        unique: dict[str, InboxRow] = {}
        for row, _ in batch:  # arrival order; a repeated id is inserted once
            unique.setdefault(row.message_id, row)
        try:
            inserted = await writer.insert(list(unique.values()))
        except asyncio.CancelledError:  # shutting down mid-commit: unknown outcome, sender retries
            _settle(batch, error=StoreUnavailable("the receiver stopped during the commit"))
            raise
        except StoreUnavailable as exc:
            log.warning("inbox write failed, %d request(s) answered 503: %s", len(batch), exc)
            _settle(batch, error=exc)
            return
        except Exception as exc:  # a bug, not the database: keep the writer alive, say so loudly
            log.exception("inbox write failed unexpectedly")
            _settle(batch, error=StoreUnavailable(f"unexpected {type(exc).__name__}"))
            return
        _settle(batch, inserted=inserted)


def _settle(
    batch: list[tuple[InboxRow, asyncio.Future[bool]]],
    *,
    inserted: set[str] | None = None,
    error: StoreUnavailable | None = None,
) -> None:
    """Answer every request of a batch; of repeated ids in one batch only the first is new."""
    first = set(inserted or ())
    for row, future in batch:
        if future.done():  # the request was cancelled (client gone); its row is stored anyway
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(row.message_id in first)
            first.discard(row.message_id)
