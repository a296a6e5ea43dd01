"""When a failed event is tried again: capped exponential backoff with jitter, as a value."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from flexfulfill.flex import RateLimitedError


def _jitter() -> float:
    return random.uniform(0.5, 1.0)


@dataclass(frozen=True)
class EventRetryPolicy:
    """The wait before attempt ``n + 1`` after ``n`` failed attempts, and when to give up.

    The wait is ``jitter() * min(cap, base * 2 ** (n - 1))`` seconds, never shorter than a
    ``Retry-After`` Flex sent with a 429. After ``max_attempts`` attempts the event is dead.
    ``jitter`` returns a factor (default uniform in [0.5, 1]); tests pass a constant.
    """

    max_attempts: int = 8
    base: float = 2.0
    cap: float = 600.0
    jitter: Callable[[], float] = field(default=_jitter, compare=False)

    def gives_up(self, attempts: int) -> bool:
        """Whether an event that has failed ``attempts`` times is dead."""
        return attempts >= self.max_attempts

    def delay(self, attempts: int, error: BaseException | None = None) -> float:
        """Seconds to wait before the next attempt after ``attempts`` failures."""
        ceiling = min(self.cap, self.base * 2 ** max(0, attempts - 1))
        wait = ceiling * self.jitter()
        if isinstance(error, RateLimitedError) and error.retry_after:
            wait = max(wait, error.retry_after)
        return float(wait)
