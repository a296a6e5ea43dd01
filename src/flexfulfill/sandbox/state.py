"""Everything a request handler of the sandbox needs, in one object on ``app.state.sandbox``.

The hosted checkout pages (sandbox/hosted/) reach the store and the checkout flow through it
too: ``request.app.state.sandbox``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from flexfulfill.clock import Clock
from flexfulfill.sandbox.delivery import DeliveryEngine
from flexfulfill.sandbox.faults import FaultBox
from flexfulfill.sandbox.retry import RetryPolicy
from flexfulfill.sandbox.store import SandboxStore, Tx


@dataclass
class SandboxState:
    store: SandboxStore
    engine: DeliveryEngine
    clock: Clock
    faults: FaultBox
    policy: RetryPolicy

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """One transaction; wakes the delivery engine after a commit that queued messages."""
        async with self.store.transaction(self.clock.now(), self.faults.first_due_delay) as tx:
            yield tx
        if tx.emitted:
            self.engine.wake()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        """A transaction for reads only (never blocks writers on SQLite)."""
        async with self.store.read(self.clock.now()) as tx:
            yield tx

    async def start(self) -> None:
        await self.store.create_all()
        await self.engine.start()

    async def stop(self) -> None:
        await self.engine.stop()
