"""What every handler, the worker, the reconciler and the success page share."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from flexfulfill.clock import Clock
from flexfulfill.fulfillment.lookups import SessionOrders
from flexfulfill.fulfillment.ports import FlexReader
from flexfulfill.fulfillment.registry import Registry

log = logging.getLogger("flexfulfill.fulfillment")


@dataclass(frozen=True)
class Services:
    """The engine, the Flex reads, the clock, the routing table and the few settings used."""

    engine: AsyncEngine
    flex: FlexReader
    clock: Clock
    registry: Registry
    key_is_test: bool = True
    restock_on_refund: bool = False
    receipt_domain: str = "example.com"

    @cached_property
    def session_orders(self) -> SessionOrders:
        """Batched "does this session have an order yet?" (see :mod:`.lookups`)."""
        return SessionOrders(self.reading)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads: a deferred transaction on SQLite (never waits for the
        writer); autocommit on PostgreSQL (no BEGIN/ROLLBACK round trips for a lookup)."""
        async with self.engine.connect() as conn:
            if self.engine.dialect.name == "postgresql":
                yield await conn.execution_options(isolation_level="AUTOCOMMIT")
            else:
                yield await conn.execution_options(readonly=True)
