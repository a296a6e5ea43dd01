"""Svix's retry schedule as a value: delays, jitter, overload penalty, Retry-After, disabling.

Every duration is in seconds of *real* delivery time multiplied by ``time_scale``, so a test
can run a five-day schedule in milliseconds; the HTTP timeout is not scaled.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from flexfulfill.sandbox.tables import AttemptOutcome

# After the immediate attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (docs.svix.com/retries).
SVIX_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
FIVE_DAYS = 5 * 86_400.0
OVERLOADED = frozenset({AttemptOutcome.RATE_LIMITED, AttemptOutcome.TIMEOUT})


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a failed message again, and when to give up on an endpoint."""

    schedule: tuple[float, ...] = SVIX_SCHEDULE
    jitter: float = 0.2
    time_scale: float = 1.0
    timeout: float = 15.0
    # An overloaded endpoint (429 or timeout) is left alone at least this long (scaled).
    overload_penalty: float = 60.0
    # An endpoint failing without a single success this long (scaled) is disabled.
    disable_after: float = FIVE_DAYS

    def delay(
        self, failures: int, outcome: AttemptOutcome, retry_after: float | None, rng: random.Random
    ) -> float | None:
        """Seconds until the next attempt after ``failures`` consecutive failures; None: give up."""
        if failures > len(self.schedule):
            return None
        base = self.schedule[failures - 1] * self.time_scale
        delay = base * rng.uniform(1 - self.jitter, 1 + self.jitter)
        if outcome in OVERLOADED:
            delay = max(delay, self.overload_penalty * self.time_scale)
        if retry_after is not None:
            # Honoured, but only within [delay, 2 × delay]: never sooner, never unboundedly later.
            delay = min(max(retry_after * self.time_scale, delay), 2 * delay)
        return delay

    def should_disable(self, failing_since: float, now: float) -> bool:
        return now - failing_since >= self.disable_after * self.time_scale
