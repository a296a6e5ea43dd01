"""The routing table (event type → handlers) and the merchant's extension points.

A handler runs in two phases. Called with the services and the event, it reads whatever it
needs (the Flex API, any outside system) with no transaction open, and returns an *apply*
function. The worker then opens ONE transaction, runs the apply functions of every handler
registered for the type (built-in first, then the merchant's, in registration order), marks
the inbox row done, and commits. If any of them raises, nothing of it commits and the event is
retried later, so a merchant handler shares every guarantee of the built-in ones.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Self, TypeAlias

from sqlalchemy.ext.asyncio import AsyncConnection

from flexfulfill.domain.orders import OrderDraft
from flexfulfill.flex import Event

if TYPE_CHECKING:
    from flexfulfill.fulfillment.context import Services

# Runs inside the transaction; returns the id of the order it touched, if any.
Apply: TypeAlias = Callable[[AsyncConnection], Awaitable[int | None]]
Handler: TypeAlias = Callable[["Services", Event], Awaitable[Apply]]


@dataclass(frozen=True)
class FulfilledOrder:
    """What an after-fulfilled hook is told about the order just created."""

    order_id: int
    draft: OrderDraft
    via: str


AfterFulfilled: TypeAlias = Callable[[AsyncConnection, FulfilledOrder], Awaitable[None]]


class BatchApply(ABC):
    """An apply function the worker may run together with others of its class.

    When several rows of one batch each have exactly one apply function of the same
    ``BatchApply`` subclass, the worker calls :meth:`apply_many` once for all of them (one set
    of statements instead of a set per event) in the batch's transaction. If that raises, the
    transaction rolls back and every row is settled again alone, so a failure still touches one
    row only. Called alone, an instance applies just itself.
    """

    async def __call__(self, conn: AsyncConnection) -> int | None:
        return (await self.apply_many(conn, [self]))[0]

    @classmethod
    @abstractmethod
    async def apply_many(cls, conn: AsyncConnection, items: Sequence[Self]) -> list[int | None]:
        """Apply every item; the order id each touched (or None), in order."""


async def nothing(_conn: AsyncConnection) -> int | None:
    """The apply function of a handler that found nothing to change."""
    return None


class Registry:
    """Event type → handlers, plus hooks run after an order is created."""

    def __init__(self, routes: dict[str, Handler] | None = None) -> None:
        self._handlers: dict[str, list[Handler]] = {t: [h] for t, h in (routes or {}).items()}
        self._after: list[AfterFulfilled] = []

    def on(self, event_type: str) -> Callable[[Handler], Handler]:
        """Decorator: also run ``handler`` for ``event_type`` (in the same transaction)."""

        def register(handler: Handler) -> Handler:
            self._handlers.setdefault(event_type, []).append(handler)
            return handler

        return register

    def after_fulfilled(self, hook: AfterFulfilled) -> AfterFulfilled:
        """Decorator: run ``hook`` in the transaction that creates each order (once per order)."""
        self._after.append(hook)
        return hook

    def handlers_for(self, event_type: str | None) -> list[Handler]:
        return list(self._handlers.get(event_type or "", ()))

    @property
    def after_hooks(self) -> tuple[AfterFulfilled, ...]:
        return tuple(self._after)

    @property
    def event_types(self) -> list[str]:
        return sorted(self._handlers)
