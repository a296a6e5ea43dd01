"""Which checkout sessions already have an order: many concurrent questions, one query.

The worker reads a whole batch of events at once, and each checkout handler first asks whether
its session already has an order, so that a duplicate delivery costs no Flex API call. Asked
separately that is a read (a pooled connection, a statement) per event, the largest cost of a
batch read from a fast Flex. Questions asked in the same turn of the event loop are answered
together by one ``SELECT … WHERE checkout_session_id IN (…)``; a failed read fails each of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from sqlalchemy.ext.asyncio import AsyncConnection

from flexfulfill.store import orders as order_store

Reading = Callable[[], AbstractAsyncContextManager[AsyncConnection]]


class SessionOrders:
    """``await order_of(session_id)``: the session's order id, or None; batched per loop turn."""

    def __init__(self, reading: Reading) -> None:
        self._reading = reading
        self._waiting: dict[str, list[asyncio.Future[int | None]]] = {}
        self._flushing: set[asyncio.Task[None]] = set()

    async def order_of(self, session_id: str) -> int | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int | None] = loop.create_future()
        if not self._waiting:  # the first question of this turn: answer them all next turn
            loop.call_soon(self._flush_soon)
        self._waiting.setdefault(session_id, []).append(future)
        return await future

    def _flush_soon(self) -> None:
        waiting, self._waiting = self._waiting, {}
        task = asyncio.ensure_future(self._flush(waiting))
        self._flushing.add(task)  # a strong reference until it ends
        task.add_done_callback(self._flushing.discard)

    async def _flush(self, waiting: dict[str, list[asyncio.Future[int | None]]]) -> None:
        try:
            async with self._reading() as conn:
                found = await order_store.find_orders(conn, list(waiting))
        except BaseException as exc:  # every question fails alike; the events are retried
            for futures in waiting.values():
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for session_id, futures in waiting.items():
            for future in futures:
                if not future.done():
                    future.set_result(found.get(session_id))
