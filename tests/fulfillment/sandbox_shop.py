"""The merchant app and the real sandbox on loopback, wired together for integration tests."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.bootstrap import build_services
from flexfulfill.clock import Clock
from flexfulfill.config import Settings
from flexfulfill.flex import FlexClient, RetryPolicy
from flexfulfill.fulfillment.context import Services
from flexfulfill.fulfillment.retry import EventRetryPolicy
from flexfulfill.fulfillment.worker import Worker, WorkerConfig
from flexfulfill.sandbox import run_sandbox
from flexfulfill.sandbox.runner import RunningSandbox
from flexfulfill.web.app import build_app
from flexfulfill.web.server import running
from flexfulfill.web.success import success_router

CONTACT = {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"}
CARD = {"number": "4242424242424242"}
_n = itertools.count(1)


@dataclass
class Shop:
    """A sandbox with products, and the merchant server receiving its webhooks."""

    sandbox: RunningSandbox
    url: str
    services: Services
    flex: FlexClient
    prices: dict[str, str] = field(default_factory=dict)

    @property
    def engine(self) -> AsyncEngine:
        return self.services.engine

    def worker(self, **config: Any) -> Worker:
        config.setdefault("retry", EventRetryPolicy(base=0.01, cap=0.05, jitter=lambda: 1.0))
        config.setdefault("poll_interval", 0.005)
        return Worker(self.services, WorkerConfig(**config))

    async def product(
        self,
        name: str,
        unit: int,
        eligibility: str = "auto_substantiation",
        recurring: bool = False,
    ) -> str:
        """A product with one price; returns the price id (remembered under ``name``)."""
        product = await self.sandbox.request(
            "POST", "/v1/products", {"product": {"name": name, "hsa_fsa_eligibility": eligibility}}
        )
        price_body: dict[str, Any] = {
            "product": product["product"]["product_id"],
            "unit_amount": unit,
        }
        if recurring:
            price_body["recurring"] = {"interval": "monthly", "interval_count": 1}
        price = await self.sandbox.request("POST", "/v1/prices", {"price": price_body})
        self.prices[name] = price["price"]["price_id"]
        return self.prices[name]

    async def open_session(self, lines: dict[str, int], mode: str = "payment") -> str:
        body = {
            "line_items": [{"price": self.prices[n], "quantity": q} for n, q in lines.items()],
            "success_url": f"{self.url}/checkout/success?session_id={{CHECKOUT_SESSION_ID}}",
            "mode": mode,
            "client_reference_id": f"cart-{next(_n)}",
        }
        created = await self.sandbox.request(
            "POST", "/v1/checkout/sessions", {"checkout_session": body}
        )
        return str(created["checkout_session"]["checkout_session_id"])

    async def buy(self, lines: dict[str, int], mode: str = "payment") -> str:
        """Open a session and pay it through the sandbox's completion helper."""
        session_id = await self.open_session(lines, mode)
        await self.sandbox.complete_checkout(session_id, contact=CONTACT, card=CARD)
        return session_id

    async def visit_success(self, session_id: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url) as client:
            return await client.get(
                "/checkout/success",
                params={"session_id": session_id},
                headers={"accept": "application/json"},
            )

    async def until_delivered(self, worker: Worker, timeout: float = 20.0) -> None:
        """Wait for the sandbox's deliveries, then drain the inbox."""
        async with asyncio.timeout(timeout):
            await self.sandbox.wait_idle(timeout)
            await worker.drain()


@asynccontextmanager
async def shop(
    database_url: str, engine: AsyncEngine, *, client_retry: RetryPolicy | None = None
) -> AsyncIterator[Shop]:
    """The sandbox (its own SQLite) and the merchant app on ``database_url``, both on loopback."""
    async with run_sandbox(None, time_scale=0.001, seed=7) as sandbox:
        hook = await sandbox.create_webhook("http://127.0.0.1:9/webhook")
        settings = Settings(
            database_url=database_url,
            webhook_secrets=(hook["signing_secret"],),
            flex_api_key=sandbox.api_key,
            flex_api_base=sandbox.base_url,
        )
        retry = client_retry or RetryPolicy.testing()
        async with FlexClient(
            sandbox.api_key, sandbox.base_url, retry=retry, clock=Clock()
        ) as flex:
            services = build_services(settings, engine, flex)
            app = build_app(settings, engine, routers=[success_router(services)])
            async with running(app) as url:
                path = f"/v1/webhooks/{hook['webhook_id']}"
                await sandbox.request("POST", path, {"webhook": {"url": f"{url}/webhook"}})
                yield Shop(sandbox, url, services, flex)
