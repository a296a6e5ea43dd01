"""GroupCommit with a fake writer: batching, answers only after their commit, failures."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from flexfulfill.store.inbox import GroupCommit, InboxRow, StoreUnavailable
from flexfulfill.store.statuses import EventStatus


class GatedWriter:
    """A fake inbox writer whose commits finish only when the test opens the gate."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.committed: set[str] = set()
        self.gate = asyncio.Event()
        self.fail_next = False

    async def insert(self, rows: Sequence[InboxRow]) -> set[str]:
        self.batches.append([r.message_id for r in rows])
        await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise StoreUnavailable("the fake database is down")
        new = {r.message_id for r in rows} - self.committed
        self.committed |= new
        return new

    async def close(self) -> None:
        return None


def row(message_id: str) -> InboxRow:
    return InboxRow(message_id, None, None, None, b"{}", "{}", 0.0, EventStatus.IGNORED)


async def test_requests_arriving_during_a_commit_share_the_next_one() -> None:
    """While one commit runs, later rows gather and go in a single next batch."""
    writer = GatedWriter()
    commits = GroupCommit([writer])
    first = asyncio.create_task(commits.submit(row("a")))
    await asyncio.sleep(0.01)
    rest = [asyncio.create_task(commits.submit(row(f"b{i}"))) for i in range(10)]
    await asyncio.sleep(0.01)
    assert not first.done()
    assert not any(t.done() for t in rest)
    writer.gate.set()
    assert await first is True
    assert await asyncio.gather(*rest) == [True] * 10
    assert writer.batches == [["a"], [f"b{i}" for i in range(10)]]
    await commits.close()


async def test_no_request_is_answered_before_its_row_is_committed() -> None:
    """A submit resolves only after the insert holding its row has returned."""
    writer = GatedWriter()
    commits = GroupCommit([writer])
    pending = asyncio.create_task(commits.submit(row("x")))
    await asyncio.sleep(0.05)
    assert not pending.done()
    writer.gate.set()
    assert await pending is True
    assert "x" in writer.committed
    await commits.close()


async def test_a_repeated_id_in_one_batch_is_new_once_and_duplicate_after() -> None:
    """Two requests for one message id in one batch: one stored, one duplicate, one insert row."""
    writer = GatedWriter()
    writer.gate.set()
    commits = GroupCommit([writer])
    answers = await asyncio.gather(commits.submit(row("same")), commits.submit(row("same")))
    assert sorted(answers) == [False, True]
    assert writer.batches == [["same"]]
    assert await commits.submit(row("same")) is False
    await commits.close()


async def test_a_failed_commit_fails_its_batch_and_the_next_one_succeeds() -> None:
    """StoreUnavailable reaches every request of the failed batch; the writer carries on."""
    writer = GatedWriter()
    writer.gate.set()
    writer.fail_next = True
    commits = GroupCommit([writer])
    with pytest.raises(StoreUnavailable):
        await commits.submit(row("lost"))
    assert await commits.submit(row("lost")) is True
    await commits.close()


async def test_closing_fails_requests_still_waiting() -> None:
    """On shutdown, requests mid-commit or still queued are told so, not left hanging."""
    writer = GatedWriter()
    commits = GroupCommit([writer])
    stuck = asyncio.create_task(commits.submit(row("late")))
    await asyncio.sleep(0.01)
    later = asyncio.create_task(commits.submit(row("later")))
    await asyncio.sleep(0.01)
    await commits.close()
    for request in (stuck, later):
        with pytest.raises(StoreUnavailable):
            await request
