"""Everything `flexfulfill up` runs, in one process: the sandbox, the merchant app and mail.

The merchant side still sees the sandbox only over HTTP (FLEX_API_BASE points at it), exactly as
it will see Flex: this module composes the two, it does not let one reach into the other.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.bootstrap import build_engine, build_fulfillment_parts, build_receipt_task
from flexfulfill.cli.dashboard_commands import dashboard_component
from flexfulfill.clock import Clock
from flexfulfill.config import Settings
from flexfulfill.domain.events import CHECKOUT_COMPLETED_ALT, HANDLED_EVENT_TYPES
from flexfulfill.sandbox import RunningSandbox, run_sandbox
from flexfulfill.store import stock as stock_store
from flexfulfill.store.migrate import upgrade
from flexfulfill.store.statuses import MovementReason
from flexfulfill.web.app import MerchantApp, build_app
from flexfulfill.web.auth import hash_password
from flexfulfill.web.server import server_config

DASHBOARD_USER = "admin"
SUCCESS_URL = "/checkout/success?session_id={CHECKOUT_SESSION_ID}"
CATALOG_FILE = "catalog.json"


class PortInUse(Exception):
    """A port `up` needs is taken; the message names it and the option that changes it."""


@dataclass(frozen=True)
class Item:
    """One catalog entry as `up` creates it in the sandbox and stocks it."""

    key: str
    name: str
    eligibility: str
    unit_amount: int
    on_hand: int
    recurring: str | None = None


CATALOG = (
    Item("thermometer", "Digital thermometer", "auto_substantiation", 2499, 25),
    Item("chocolate", "Chocolate bar", "not_eligible", 350, 0),  # sells into backorder
    Item("socks", "Compression socks", "letter_of_medical_necessity", 3900, 4),
    Item("sleep", "Sleep coaching (monthly)", "letter_of_medical_necessity", 2900, 100, "month"),
)


@dataclass(frozen=True)
class Product:
    item: Item
    product_id: str
    price_id: str


@dataclass
class Stack:
    """A running local system: where everything is and how to log in."""

    sandbox: RunningSandbox
    merchant_url: str
    settings: Settings
    engine: AsyncEngine
    products: dict[str, Product]
    password: str
    data_dir: Path

    @property
    def dashboard_url(self) -> str:
        return f"{self.merchant_url}/dashboard"

    async def new_session(self, keys: list[str], **fields: Any) -> dict[str, Any]:
        """Create a checkout session in the sandbox for the catalog items ``keys``."""
        subscription = any(self.products[k].item.recurring for k in keys)
        body = {
            "line_items": [{"price": self.products[k].price_id, "quantity": 1} for k in keys],
            "success_url": self.merchant_url + SUCCESS_URL,
            "cancel_url": self.merchant_url + "/checkout/cancel",
            "mode": "subscription" if subscription else "payment",
            **fields,
        }
        answer = await self.sandbox.request(
            "POST", "/v1/checkout/sessions", {"checkout_session": body}
        )
        return dict(answer["checkout_session"])


def bind(host: str, port: int, option: str) -> socket.socket:
    """A listening-ready socket on ``host:port`` (0 = any free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise PortInUse(
            f"port {port} on {host} is in use: stop what uses it or pass {option}"
        ) from None
    return sock


def port_free(host: str, port: int, option: str) -> None:
    if port:
        bind(host, port, option).close()


@asynccontextmanager
async def local_stack(
    data_dir: Path,
    *,
    host: str,
    port: int,
    sandbox_port: int,
    time_scale: float,
    max_attempts: int | None = None,
) -> AsyncIterator[Stack]:
    """Start the sandbox and the merchant app (receiver, worker, mail, dashboard) on SQLite.

    ``max_attempts`` overrides WORKER_MAX_ATTEMPTS (tests make events go dead at once).
    """
    merchant_socket = bind(host, port, "--port")
    port_free(host, sandbox_port, "--sandbox-port")
    sandbox_db = f"sqlite+aiosqlite:///{data_dir / 'sandbox.sqlite3'}"
    async with run_sandbox(
        sandbox_db, host=host, port=sandbox_port, time_scale=time_scale
    ) as sandbox:
        merchant_url = f"http://{host}:{merchant_socket.getsockname()[1]}"
        products = await seed_catalog(sandbox, data_dir)
        secret = await wire_webhook(sandbox, merchant_url + "/webhook")
        password = secrets.token_urlsafe(12)
        settings = _settings(data_dir, sandbox, secret, password)
        if max_attempts is not None:
            settings = replace(settings, max_attempts=max_attempts)
        engine = build_engine(settings)
        try:
            await upgrade(engine)
            await seed_stock(engine, products.values())
            async with serving(_merchant_app(settings, engine), merchant_socket):
                yield Stack(sandbox, merchant_url, settings, engine, products, password, data_dir)
        finally:
            await engine.dispose()


def _events() -> set[str]:
    return set(HANDLED_EVENT_TYPES - {CHECKOUT_COMPLETED_ALT})


def _settings(data_dir: Path, sandbox: RunningSandbox, secret: str, password: str) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{data_dir / 'flexfulfill.sqlite3'}",
        webhook_secrets=(secret,),
        flex_api_base=sandbox.base_url,
        flex_api_key=sandbox.api_key,
        receipt_from="receipts@flex-demo.test",
        dashboard_user=DASHBOARD_USER,
        dashboard_password_hash=hash_password(password),
        reconcile_interval=60.0,
    )


def _merchant_app(settings: Settings, engine: AsyncEngine) -> MerchantApp:
    """The same parts `serve` runs, plus the receipt sender with its local SMTP server."""
    routers, background = build_fulfillment_parts(settings, engine)
    routers.extend(dashboard_component(settings, engine).routers)
    background.append(build_receipt_task(settings, engine))
    return build_app(settings, engine, routers=routers, background=background, clock=Clock())


async def seed_catalog(sandbox: RunningSandbox, data_dir: Path) -> dict[str, Product]:
    """The demo catalog in the sandbox: created once, remembered in ``data_dir``."""
    remembered = data_dir / CATALOG_FILE
    known = json.loads(remembered.read_text()) if remembered.exists() else {}
    products = {}
    for item in CATALOG:
        ids = known.get(item.key) or await _create_item(sandbox, item)
        products[item.key] = Product(item, ids["product_id"], ids["price_id"])
    ids_by_key = {
        k: {"product_id": p.product_id, "price_id": p.price_id} for k, p in products.items()
    }
    remembered.write_text(json.dumps(ids_by_key, indent=2))
    return products


async def _create_item(sandbox: RunningSandbox, item: Item) -> dict[str, str]:
    body = {"product": {"name": item.name, "hsa_fsa_eligibility": item.eligibility}}
    product_id = (await sandbox.request("POST", "/v1/products", body))["product"]["product_id"]
    price: dict[str, Any] = {"product": product_id, "unit_amount": item.unit_amount}
    if item.recurring:
        price["recurring"] = {"interval": item.recurring}
    created = await sandbox.request("POST", "/v1/prices", {"price": price})
    return {"product_id": product_id, "price_id": created["price"]["price_id"]}


async def wire_webhook(sandbox: RunningSandbox, url: str) -> str:
    """Register ``url`` with the sandbox (replacing endpoints of earlier runs); its secret."""
    for hook in (await sandbox.request("GET", "/v1/webhooks"))["webhooks"]:
        await sandbox.request("DELETE", f"/v1/webhooks/{hook['webhook_id']}")
    return str((await sandbox.create_webhook(url, sorted(_events())))["signing_secret"])


async def seed_stock(engine: AsyncEngine, products: Any) -> None:
    """Stock each product the first time; a kept ``--data-dir`` keeps its stock."""
    now = Clock().now()
    async with engine.begin() as conn:
        for product in products:
            if await stock_store.level(conn, product.product_id) is not None:
                continue
            await stock_store.set_level(
                conn,
                product.product_id,
                product.item.on_hand,
                now=now,
                name=product.item.name,
                actor="up",
                reason=MovementReason.IMPORT,
            )


@asynccontextmanager
async def serving(app: MerchantApp, sock: socket.socket) -> AsyncIterator[None]:
    """Serve ``app`` on the bound ``sock`` in this loop (lifespan on: the worker runs)."""
    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(server_config(app, host, port))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the merchant app stopped during start-up")
            await asyncio.sleep(0.01)
        yield
    finally:
        server.should_exit = True
        await task
        sock.close()
