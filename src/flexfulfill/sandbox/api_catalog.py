"""Products and prices: ``/v1/products``, ``/v1/prices``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from flexfulfill.flex import HsaFsaEligibility
from flexfulfill.sandbox.api_common import Expand, Flag, State, expands
from flexfulfill.sandbox.errors import invalid
from flexfulfill.sandbox.ids import new_id
from flexfulfill.sandbox.inputs import PriceBody, PriceIn, ProductBody
from flexfulfill.sandbox.pagination import Cursor, Limit, paginate
from flexfulfill.sandbox.present import Doc, iso, present
from flexfulfill.sandbox.store import Tx

router = APIRouter()


@router.post("/v1/products")
async def create_product(body: ProductBody, state: State) -> dict[str, Any]:
    fields = body.product.model_dump(exclude_none=True)
    if not fields.get("name"):
        raise invalid("missing", "a product needs a name", ["body", "product", "name"])
    async with state.transaction() as tx:
        doc = {
            "product_id": new_id("product"),
            "active": True,
            "metadata": {},
            "hsa_fsa_eligibility": HsaFsaEligibility.NOT_ELIGIBLE,
            **fields,
            "created_at": iso(tx.now),
            "test_mode": True,
        }
        await tx.insert("product", doc)
        await tx.emit("product.created", "product", present("product", doc))
    return {"product": present("product", doc)}


@router.get("/v1/products")
async def list_products(
    state: State, limit: Limit = None, starting_after: Cursor = None
) -> dict[str, Any]:
    async with state.read() as tx:
        docs = await tx.all("product")
    page = paginate(docs, "product_id", limit=limit, starting_after=starting_after)
    return {"products": [present("product", d) for d in page]}


@router.get("/v1/products/{id}")
async def get_product(id: str, state: State) -> dict[str, Any]:
    async with state.read() as tx:
        return {"product": present("product", await tx.require("product", id))}


@router.patch("/v1/products/{id}")
async def update_product(id: str, body: ProductBody, state: State) -> dict[str, Any]:
    async with state.transaction() as tx:
        doc = await tx.require("product", id)
        doc.update(body.product.model_dump(exclude_none=True))
        await tx.save("product", doc)
        await tx.emit("product.updated", "product", present("product", doc))
    return {"product": present("product", doc)}


@router.post("/v1/prices")
async def create_price(body: PriceBody, state: State) -> dict[str, Any]:
    async with state.transaction() as tx:
        doc = await new_price(tx, body.price, ("body", "price"))
        await tx.emit("price.created", "price", await show_price(tx, doc))
        return {"price": await show_price(tx, doc)}


@router.get("/v1/prices/{id}")
async def get_price(
    id: str, state: State, expand_product: Flag = None, expand: Expand = ""
) -> dict[str, Any]:
    async with state.read() as tx:
        doc = await tx.require("price", id)
        return {"price": await show_price(tx, doc, expands(expand, "product", expand_product))}


@router.post("/v1/prices/{id}")
async def update_price(id: str, body: PriceBody, state: State) -> dict[str, Any]:
    """Only ``active``, ``description`` and ``metadata`` change; amounts are fixed, as on Stripe."""
    async with state.transaction() as tx:
        doc = await tx.require("price", id)
        changes = body.price.model_dump(
            include={"active", "description", "metadata"}, exclude_none=True
        )
        doc.update(changes)
        await tx.save("price", doc)
        await tx.emit("price.updated", "price", await show_price(tx, doc))
        return {"price": await show_price(tx, doc)}


async def new_price(tx: Tx, data: PriceIn, loc: tuple[str, ...], *, active: bool = True) -> Doc:
    """Create and store a price (also used for a line item's ``price_data``)."""
    if data.product is None:
        raise invalid("missing", "a price needs a product (fprod_…)", [*loc, "product"])
    if data.unit_amount is None:
        raise invalid("missing", "a price needs a unit_amount in cents", [*loc, "unit_amount"])
    await tx.reference("product", data.product, (*loc, "product"))
    recurring = data.recurring.model_dump(exclude_none=True) if data.recurring else None
    doc = {
        "price_id": new_id("price"),
        "product": data.product,
        "unit_amount": data.unit_amount,
        "description": data.description,
        "recurring": recurring,
        "type": "recurring" if recurring else "one_time",
        "active": active if data.active is None else data.active,
        "metadata": data.metadata or {},
        "created_at": iso(tx.now),
        "test_mode": True,
    }
    return await tx.insert("price", doc)


async def show_price(tx: Tx, price: Doc, expand_product: bool = False) -> Doc:
    """A price as shown: its eligibility is its product's; the product expanded on request."""
    product = await tx.get("product", price["product"]) or {}
    return price_shown(price, product, expand_product)


def price_shown(price: Doc, product: Doc, expand_product: bool = False) -> Doc:
    """:func:`show_price` with the product already read (``{}`` if there is none)."""
    doc = {**price, "hsa_fsa_eligibility": product.get("hsa_fsa_eligibility")}
    if expand_product and product:
        doc["product"] = present("product", product)
    return present("price", doc)
