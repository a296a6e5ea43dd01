"""The shoppers: checkouts driven through the sandbox's API, in the mix the issue asks for.

70 % plain (eligible items only), 15 % split cart (eligible and regular items: two cards),
10 % subscription, 5 % declined before paying (the card declines; the session stays open and
is never paid). Every request goes through the sandbox's public API, so the Flex API faults of
the storm hit the shoppers too: they retry 429, 5xx and broken connections like a careful
client (an injected fault answers before the sandbox does anything, so a retry never doubles).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

OK_CARD = {"number": "4242424242424242"}
DECLINED_CARD = {"number": "4000000000009995"}
SUCCESS_URL = "http://127.0.0.1:9/checkout/success?session_id={CHECKOUT_SESSION_ID}"
MIX = (("plain", 70), ("split", 15), ("subscription", 10), ("declined", 5))


@dataclass(frozen=True)
class Item:
    key: str
    product_id: str
    price_id: str


@dataclass(frozen=True)
class Catalog:
    eligible: tuple[Item, ...]
    regular: Item
    plan: Item
    start_stock: dict[str, int]


@dataclass
class Purchase:
    """One checkout as the shopper made it: what was in the cart and how it ended."""

    index: int
    kind: str
    session_id: str = ""
    lines: Counter[str] = field(default_factory=Counter)  # product id → quantity
    paid: bool = False


class Api:
    """The sandbox's API as a shopper sees it, with retries on what is worth retrying."""

    def __init__(self, client: httpx.AsyncClient, rng: random.Random) -> None:
        self.client = client
        self.rng = rng
        self.retries = 0

    async def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        for _ in range(200):
            try:
                response = await self.client.request(method, path, json=body)
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code not in (429, 500, 502, 503, 504):
                return response
            self.retries += 1
            await asyncio.sleep(self.rng.uniform(0.05, 0.3))
        raise RuntimeError(f"{method} {path}: the sandbox kept failing for 200 tries")

    async def create(self, path: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.call("POST", path, {key: body})
        response.raise_for_status()
        return dict(response.json()[key])


async def create_catalog(api: Api, n: int) -> Catalog:
    """Two eligible products (one scarce, so it sells into backorder), one regular, one plan."""
    specs = [
        ("thermometer", "auto_substantiation", 2499, None, 10 * n),
        ("bandages", "auto_substantiation", 650, None, max(5, n // 20)),
        ("chocolate", "not_eligible", 350, None, 10 * n),
        ("coaching", "letter_of_medical_necessity", 2900, "monthly", 10 * n),
    ]
    items, stock = [], {}
    for key, eligibility, amount, recurring, on_hand in specs:
        product = await api.create(
            "/v1/products", "product", {"name": key, "hsa_fsa_eligibility": eligibility}
        )
        price: dict[str, Any] = {"product": product["product_id"], "unit_amount": amount}
        if recurring:
            price["recurring"] = {"interval": recurring}
        created = await api.create("/v1/prices", "price", price)
        items.append(Item(key, product["product_id"], created["price_id"]))
        stock[product["product_id"]] = on_hand
    return Catalog((items[0], items[1]), items[2], items[3], stock)


def plan_kinds(n: int, rng: random.Random) -> list[str]:
    """Exactly the mix's proportions (rounded), shuffled."""
    kinds = [kind for kind, share in MIX[1:] for _ in range(round(n * share / 100))]
    kinds += ["plain"] * (n - len(kinds))
    rng.shuffle(kinds)
    return kinds


def cart(kind: str, catalog: Catalog, rng: random.Random) -> Counter[Item]:
    if kind == "subscription":
        return Counter({catalog.plan: 1})
    lines = Counter({rng.choice(catalog.eligible): rng.randint(1, 3)})
    if rng.random() < 0.3:
        lines[rng.choice(catalog.eligible)] += 1
    if kind == "split":
        lines[catalog.regular] += rng.randint(1, 2)
    return lines


async def checkout(api: Api, catalog: Catalog, index: int, kind: str) -> Purchase:
    """Create one session and pay it (or have the card decline)."""
    lines = cart(kind, catalog, api.rng)
    purchase = Purchase(index, kind, lines=Counter({i.product_id: q for i, q in lines.items()}))
    body: dict[str, Any] = {
        "line_items": [{"price": i.price_id, "quantity": q} for i, q in lines.items()],
        "success_url": SUCCESS_URL,
        "mode": "subscription" if kind == "subscription" else "payment",
        "client_reference_id": f"chaos-{index}",
    }
    if index % 2 == 0:  # half the merchants prefill the email; the rest type it at checkout
        body["defaults"] = {"email": email(index)}
    session = await api.create("/v1/checkout/sessions", "checkout_session", body)
    purchase.session_id = session["checkout_session_id"]
    purchase.paid = await pay(api, purchase)
    return purchase


def email(index: int) -> str:
    return f"shopper{index}@chaos.test"


async def pay(api: Api, purchase: Purchase) -> bool:
    """The completion test helper; True when the session ended paid."""
    contact = {
        "email": email(purchase.index),
        "first_name": "Shopper",
        "last_name": str(purchase.index),
    }
    card = DECLINED_CARD if purchase.kind == "declined" else OK_CARD
    path = f"/v1/test_helpers/checkout_sessions/{purchase.session_id}/complete"
    response = await api.call("POST", path, {"contact": contact, "card": card})
    if response.status_code == 402:
        return False
    if response.status_code == 400 and "already_processed" in response.text:
        return True  # an earlier try completed it and its answer was lost
    response.raise_for_status()
    return True


@dataclass
class Progress:
    total: int
    done: int = 0

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


async def shop(
    api: Api, catalog: Catalog, kinds: list[str], progress: Progress, concurrency: int
) -> list[Purchase]:
    """Every checkout of the run, ``concurrency`` shoppers at a time."""
    queue = list(enumerate(kinds))
    queue.reverse()
    purchases: list[Purchase] = []

    async def shopper() -> None:
        while queue:
            index, kind = queue.pop()
            purchases.append(await checkout(api, catalog, index, kind))
            progress.done += 1

    await asyncio.gather(*(shopper() for _ in range(concurrency)))
    return purchases
