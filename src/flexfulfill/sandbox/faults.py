"""Fault injection: how the sandbox misbehaves on purpose, set at start-up or at run time.

Delivery faults test the merchant's receiver the way production treats it (duplicates,
reordering, lost first attempts, late and skewed messages); API faults test the merchant's
Flex client (429 with ``Retry-After``, 5xx, an answer lost after the commit). All randomness
comes from one seedable ``random.Random``, so a failing run can be replayed with the same seed.
"""

from __future__ import annotations

import random
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ApiFault(BaseModel):
    """Answer API requests with an error: with probability ``rate``, or the next ``next_n``."""

    model_config = ConfigDict(extra="forbid")

    rate: float = Field(default=0.0, ge=0.0, le=1.0)
    next_n: int = Field(default=0, ge=0)
    status: int = Field(default=429, ge=400, le=599)
    retry_after: int = Field(default=1, ge=0, description="Retry-After seconds (429 only)")


class LostResponse(BaseModel):
    """Carry out a POST and commit, then lose its answer: the next ``next_n`` POSTs, or each
    with probability ``rate``. The client sees a 500, or with ``drop_connection`` a connection
    closed in the middle of the answer; only an ``Idempotency-Key`` makes its retry safe."""

    model_config = ConfigDict(extra="forbid")

    rate: float = Field(default=0.0, ge=0.0, le=1.0)
    next_n: int = Field(default=0, ge=0)
    drop_connection: bool = False


class Faults(BaseModel):
    """Every fault the sandbox can inject; all off by default."""

    model_config = ConfigDict(extra="forbid")

    duplicate_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    reorder_window: float = Field(default=0.0, ge=0.0, le=86_400.0)
    drop_first_attempt_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    extra_delay: float = Field(default=0.0, ge=0.0, le=86_400.0)
    signing_clock_skew: float = Field(default=0.0, ge=-86_400.0, le=86_400.0)
    api_429: ApiFault = Field(default_factory=lambda: ApiFault(status=429))
    api_5xx: ApiFault = Field(default_factory=lambda: ApiFault(status=503))
    lose_response_after_commit: LostResponse = Field(default_factory=LostResponse)
    seed: int | None = None


class FaultBox:
    """The current faults and the random source; changed at run time by the faults API."""

    def __init__(self, faults: Faults | None = None, *, seed: int | None = None) -> None:
        self.faults = faults or Faults()
        self.rng = random.Random(seed if seed is not None else self.faults.seed)

    def update(self, changes: dict[str, Any]) -> Faults:
        """Apply the given fields (others keep their values); a ``seed`` re-seeds at once."""
        merged = self.faults.model_dump()
        for key, value in changes.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
        self.faults = Faults.model_validate(merged)
        if "seed" in changes and self.faults.seed is not None:
            self.rng.seed(self.faults.seed)
        return self.faults

    def chance(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate

    def first_due_delay(self) -> float:
        """Seconds before a new message's first attempt: extra delay plus a reorder shuffle."""
        window = self.faults.reorder_window
        shuffle = self.rng.uniform(0.0, window) if window > 0 else 0.0
        return self.faults.extra_delay + shuffle

    def take_api_fault(self) -> ApiFault | None:
        """The fault to answer this API request with, if any (429 wins over 5xx)."""
        for name in ("api_429", "api_5xx"):
            fault: ApiFault = getattr(self.faults, name)
            if fault.next_n > 0:
                fault.next_n -= 1
                return fault
            if self.chance(fault.rate):
                return fault
        return None

    def take_lost_response(self) -> LostResponse | None:
        """Whether to lose this POST's answer after carrying it out."""
        fault = self.faults.lose_response_after_commit
        if fault.next_n > 0:
            fault.next_n -= 1
            return fault
        return fault if self.chance(fault.rate) else None
