"""What every handler, the worker, the reconciler and the success page share."""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from flexfulfill.clock import Clock
from flexfulfill.fulfillment.lookups import SessionOrders
from flexfulfill.fulfillment.ports import FlexReader
from flexfulfill.fulfillment.registry import Registry
from flexfulfill.store import db

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

    def reading(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection for reads (see :func:`flexfulfill.store.db.reading`)."""
        return db.reading(self.engine)
