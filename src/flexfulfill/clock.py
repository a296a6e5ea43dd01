"""Time as a value passed in, so tests move it instead of sleeping (STYLE.md rule 8)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Clock:
    """Wall-clock seconds and an async sleep; tests pass a :class:`ManualClock` instead."""

    now: Callable[[], float] = time.time
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


@dataclass
class ManualClock:
    """A clock that only moves when told to; ``sleep`` advances it at once."""

    current: float = 1_700_000_000.0
    slept: list[float] = field(default_factory=list)

    def now(self) -> float:
        return self.current

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.current += seconds
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self.current += seconds

    def as_clock(self) -> Clock:
        return Clock(now=self.now, sleep=self.sleep)
