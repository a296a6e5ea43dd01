"""When the client tries again, as a value (after stamina): attempts, backoff, deadline, jitter.

What is retried is fixed by the client, not the policy: 429 (waiting at least its
``Retry-After``), 5xx, timeouts and connection errors; never another 4xx; a POST only when it
carries an ``Idempotency-Key`` (the client always sends one, see :class:`FlexClient`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime


def _full_jitter() -> float:
    return random.random()


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry one logical call.

    The wait before retry ``n`` (1-based) is ``jitter() * min(cap, base * 2 ** (n - 1))``
    ("full jitter"), raised to the server's ``Retry-After`` when it sent one. No retry starts
    if it could not begin before ``deadline`` seconds after the first attempt; the last error
    is raised instead. ``jitter`` returns a factor in [0, 1]; pass a constant for determinism.
    """

    max_attempts: int = 4
    base: float = 0.5
    cap: float = 8.0
    deadline: float = 30.0
    jitter: Callable[[], float] = field(default=_full_jitter, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1 (1 means: never retry)")
        if min(self.base, self.cap, self.deadline) < 0:
            raise ValueError("base, cap and deadline must not be negative")

    @classmethod
    def testing(cls, max_attempts: int = 3) -> RetryPolicy:
        """Test mode: no jitter, tiny waits, so tests assert exact sleeps on a ManualClock."""
        return cls(max_attempts=max_attempts, base=0.01, cap=0.04, deadline=60.0, jitter=_one)

    @classmethod
    def never(cls) -> RetryPolicy:
        """One attempt only: for callers that have their own retry loop."""
        return cls(max_attempts=1)

    def backoff(self, retry: int) -> float:
        """The jittered wait before retry number ``retry`` (1 = the first retry)."""
        ceiling = min(self.cap, self.base * 2.0 ** (retry - 1))
        return ceiling * min(1.0, max(0.0, self.jitter()))

    def wait(self, retry: int, retry_after: float | None) -> float:
        """The wait before ``retry``: the backoff, but never shorter than the server asked."""
        return max(self.backoff(retry), retry_after or 0.0)


def _one() -> float:
    return 1.0


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), else None."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)
