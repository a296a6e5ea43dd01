"""The system the browser tests click through: the sandbox and the merchant app, on loopback.

Both run on one asyncio loop in a background thread (Playwright's sync API owns the test
thread). The merchant side is the real one: ``build_app`` with the success page, the worker and
the reconciler from ``bootstrap.build_fulfillment_parts``, on its own migrated SQLite database,
its webhook registered with the sandbox like a merchant would.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
from collections.abc import Coroutine
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.bootstrap import build_fulfillment_parts
from flexfulfill.config import Settings
from flexfulfill.sandbox import tables as sandbox_tables
from flexfulfill.sandbox.runner import RunningSandbox, run_sandbox
from flexfulfill.store import tables as t
from flexfulfill.store.db import make_engine
from flexfulfill.web.app import build_app
from flexfulfill.web.server import running

T = TypeVar("T")
PLACEHOLDER_URL = "http://127.0.0.1:9/webhook"  # replaced once the merchant app has a port


class LoopThread:
    """An asyncio loop in a daemon thread; :meth:`call` runs a coroutine there and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.call(_cancel_leftovers())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()


@dataclass
class Stack:
    """A running sandbox and merchant app, driven from the test thread."""

    loop: LoopThread
    sandbox: RunningSandbox
    merchant_url: str
    merchant_db: AsyncEngine
    _exit: AsyncExitStack = field(repr=False)

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """One sandbox API call with the test key; the decoded answer."""
        return self.loop.call(self.sandbox.request(method, path, body))

    def sandbox_doc(self, kind: str, object_id: str) -> dict[str, Any]:
        """A stored sandbox object, private fields included."""
        return self.loop.call(_sandbox_doc(self.sandbox, kind, object_id))

    def sandbox_rows(self) -> list[str]:
        """Every stored sandbox object as its raw JSON text."""
        return self.loop.call(_sandbox_rows(self.sandbox))

    def event_types_since(self, seq: int) -> list[str]:
        return [etype for _, etype in self.loop.call(_events(self.sandbox, seq))]

    def last_event_seq(self) -> int:
        rows = self.loop.call(_events(self.sandbox, 0))
        return rows[-1][0] if rows else 0

    def merchant_order(self, session_id: str, timeout: float = 10.0) -> MerchantOrder:
        """The merchant's order for a session, waiting for the worker if need be."""
        return self.loop.call(_merchant_order(self.merchant_db, session_id, timeout), timeout + 5)

    def merchant_orders(self, session_id: str) -> int:
        return self.loop.call(_count(self.merchant_db, t.orders.c.checkout_session_id, session_id))

    def merchant_inbox_types(self, session_id: str) -> list[str]:
        """Event types the merchant received (and stored) that mention this session."""
        self.loop.call(self.sandbox.wait_idle())
        return self.loop.call(_inbox_types(self.merchant_db, session_id))

    def merchant_customer_email(self, customer_id: str) -> str | None:
        """The email the merchant stored for a customer (from ``customer.created``)."""
        self.loop.call(self.sandbox.wait_idle())
        return self.loop.call(_customer_email(self.merchant_db, customer_id))

    def subscription_status(self, subscription_id: str, want: str, timeout: float = 10.0) -> str:
        """The merchant's status for a subscription once it is ``want`` (or at the timeout)."""
        return self.loop.call(
            _subscription_status(self.merchant_db, subscription_id, want, timeout), timeout + 5
        )


@dataclass(frozen=True)
class MerchantOrder:
    row: dict[str, Any]
    lines: list[dict[str, Any]]
    payments: list[dict[str, Any]]


async def start_stack(loop: LoopThread, template: Path, workdir: Path) -> Stack:
    """The sandbox, a webhook for the merchant, and the merchant app with its worker."""
    exit_stack = AsyncExitStack()
    sandbox = await exit_stack.enter_async_context(run_sandbox(time_scale=0.001))
    hook = await sandbox.create_webhook(PLACEHOLDER_URL)
    db_path = workdir / "merchant.sqlite3"
    shutil.copy(template, db_path)
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{db_path}",
        webhook_secrets=(hook["signing_secret"],),
        flex_api_base=sandbox.base_url,
        flex_api_key=sandbox.api_key,
        merchant_name="Flex Demo Store",
    )
    engine = make_engine(settings.database_url)
    exit_stack.push_async_callback(engine.dispose)
    routers, background = build_fulfillment_parts(settings, engine)
    app = build_app(settings, engine, routers=routers, background=background)
    merchant_url = await exit_stack.enter_async_context(running(app))
    webhook = {"webhook": {"url": f"{merchant_url}/webhook"}}
    await sandbox.request("POST", f"/v1/webhooks/{hook['webhook_id']}", webhook)
    return Stack(loop, sandbox, merchant_url, engine, exit_stack)


async def _cancel_leftovers() -> None:
    """Cancel tasks the servers left behind, so closing the loop destroys nothing pending."""
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _sandbox_doc(sandbox: RunningSandbox, kind: str, object_id: str) -> dict[str, Any]:
    async with sandbox.state.read() as tx:
        return await tx.require(kind, object_id)


async def _sandbox_rows(sandbox: RunningSandbox) -> list[str]:
    async with sandbox.state.store.reading() as conn:
        return list((await conn.execute(select(sandbox_tables.objects.c.data))).scalars())


async def _events(sandbox: RunningSandbox, after: int) -> list[tuple[int, str]]:
    ev = sandbox_tables.events
    query = select(ev.c.seq, ev.c.event_type).where(ev.c.seq > after).order_by(ev.c.seq)
    async with sandbox.state.store.reading() as conn:
        return [(seq, etype) for seq, etype in await conn.execute(query)]


async def _merchant_order(engine: AsyncEngine, session_id: str, timeout: float) -> MerchantOrder:
    async with asyncio.timeout(timeout):
        while True:
            async with engine.connect() as conn:
                query = select(t.orders).where(t.orders.c.checkout_session_id == session_id)
                order = (await conn.execute(query)).mappings().first()
                if order is not None:
                    return MerchantOrder(dict(order), *await _order_parts(conn, order["id"]))
            await asyncio.sleep(0.05)


async def _order_parts(conn: Any, order_id: int) -> tuple[list[dict[str, Any]], ...]:
    lines = await conn.execute(select(t.order_lines).where(t.order_lines.c.order_id == order_id))
    query = select(t.payments).where(t.payments.c.order_id == order_id)
    payments = await conn.execute(query.order_by(t.payments.c.id))
    return [dict(r) for r in lines.mappings()], [dict(r) for r in payments.mappings()]


async def _count(engine: AsyncEngine, column: Any, value: str) -> int:
    async with engine.connect() as conn:
        return len((await conn.execute(select(column).where(column == value))).all())


async def _inbox_types(engine: AsyncEngine, session_id: str) -> list[str]:
    ev = t.webhook_events
    async with engine.connect() as conn:
        rows = await conn.execute(select(ev.c.event_type, ev.c.body).order_by(ev.c.id))
        return [etype for etype, body in rows if session_id in bytes(body).decode()]


async def _customer_email(engine: AsyncEngine, customer_id: str) -> str | None:
    query = select(t.customers.c.email).where(t.customers.c.customer_id == customer_id)
    async with engine.connect() as conn:
        return (await conn.execute(query)).scalar_one_or_none()


async def _subscription_status(
    engine: AsyncEngine, subscription_id: str, want: str, timeout: float
) -> str:
    subs = t.subscriptions
    query = select(subs.c.status).where(subs.c.subscription_id == subscription_id)
    status = None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while status != want and loop.time() < deadline:
        async with engine.connect() as conn:
            status = (await conn.execute(query)).scalar_one_or_none()
        await asyncio.sleep(0.05)
    return str(status)


def as_json(text: str) -> Any:
    return json.loads(text)
