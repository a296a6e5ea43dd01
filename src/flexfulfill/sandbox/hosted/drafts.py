"""What a buyer has entered on the hosted page so far, per checkout session.

Contact details wait here until Pay (the checkout flow turns them into a customer then, as
the test helper does); the one-time submission token of the Pay form lives here too. Drafts
are kept in memory, bounded, and are only a convenience: losing them (a sandbox restart) asks
the buyer to type the contact details again, it never loses or doubles a payment.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from flexfulfill.sandbox.hosted.forms import Contact
from flexfulfill.sandbox.hosted.guard import TokenSource


@dataclass
class Draft:
    contact: Contact | None = None
    intake: dict[str, str] | None = None
    submission_token: str | None = None
    notice: str | None = None
    notice_field: str | None = None

    def spend(self, token: str | None) -> bool:
        """Consume the one-time submission token; True only for the first use."""
        if token is None or token != self.submission_token:
            return False
        self.submission_token = None
        return True


class Drafts:
    """Drafts keyed by checkout session id, with a lock per session for the Pay step."""

    def __init__(self, new_token: TokenSource, capacity: int = 10_000) -> None:
        self._new_token = new_token
        self._capacity = capacity
        self._drafts: OrderedDict[str, Draft] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    def get(self, session_id: str) -> Draft:
        draft = self._drafts.pop(session_id, None) or Draft()
        self._drafts[session_id] = draft
        while len(self._drafts) > self._capacity:
            evicted, _ = self._drafts.popitem(last=False)
            self._locks.pop(evicted, None)
        return draft

    def submission_token(self, session_id: str) -> str:
        """The Pay form's token, issued once and reused until it is spent."""
        draft = self.get(session_id)
        if draft.submission_token is None:
            draft.submission_token = self._new_token()
        return draft.submission_token

    @asynccontextmanager
    async def locked(self, session_id: str) -> AsyncIterator[Draft]:
        """Serialize Pay submissions for one session (a double click waits for the first)."""
        lock = self._locks.setdefault(session_id, asyncio.Lock())
        async with lock:
            yield self.get(session_id)
