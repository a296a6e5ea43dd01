"""When to try a temporarily failed receipt again: capped exponential backoff with jitter.

A value, not a loop: the sender asks for the delay of attempt *n* and stores the due time on
the row. The random source is passed in, so tests get exact delays.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backoff:
    """``base × factor^(n-1)`` seconds, ±``jitter`` of itself, never above ``cap``.

    With the defaults a receipt is retried after about 5 s, 10 s, 20 s … then hourly, and
    ``max_attempts`` (30) gives the mail server roughly a day to recover before the row is
    marked failed, where operators see it and can resend it.
    """

    base: float = 5.0
    factor: float = 2.0
    cap: float = 3600.0
    jitter: float = 0.2
    max_attempts: int = 30
    random: Callable[[], float] = field(default=random.random, repr=False)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the ``attempt``-th failure (1-based)."""
        exponent = min(max(attempt, 1) - 1, 64)  # bounded: no float overflow on huge counts
        raw = min(self.cap, self.base * self.factor**exponent)
        spread = raw * self.jitter * (2.0 * self.random() - 1.0)
        return min(self.cap, max(0.0, raw + spread))

    def exhausted(self, attempts: int) -> bool:
        """Whether ``attempts`` used up the allowance (the row is then marked failed)."""
        return attempts >= self.max_attempts
