"""Customers, payment intents and payment links."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from flexfulfill.sandbox import billing
from flexfulfill.sandbox.api_common import Expand, Flag, State, base_url, expands
from flexfulfill.sandbox.ids import new_id
from flexfulfill.sandbox.inputs import CustomerBody, PaymentLinkBody
from flexfulfill.sandbox.pagination import Cursor, Limit, Offset, paginate
from flexfulfill.sandbox.present import Doc, iso, present
from flexfulfill.sandbox.sessions import validate_line_items
from flexfulfill.sandbox.store import Tx

router = APIRouter()
Text = Annotated[str | None, Query()]


@router.post("/v1/customers")
async def create_customer(body: CustomerBody, state: State) -> dict[str, Any]:
    async with state.transaction() as tx:
        doc = await billing.create_customer(tx, body.customer.model_dump(exclude_none=True))
    return {"customer": present("customer", doc)}


@router.get("/v1/customers")
async def list_customers(
    state: State,
    limit: Limit = None,
    offset: Offset = None,
    starting_after: Cursor = None,
    ending_before: Cursor = None,
    email: Text = None,
) -> dict[str, Any]:
    async with state.read() as tx:
        docs = [d for d in await tx.all("customer") if email is None or d.get("email") == email]
    page = paginate(
        docs,
        "customer_id",
        limit=limit,
        offset=offset,
        starting_after=starting_after,
        ending_before=ending_before,
    )
    return {"customers": [present("customer", d) for d in page]}


@router.get("/v1/customers/{id}")
async def get_customer(id: str, state: State) -> dict[str, Any]:
    async with state.read() as tx:
        return {"customer": present("customer", await tx.require("customer", id))}


@router.patch("/v1/customers/{id}")
async def update_customer(id: str, body: CustomerBody, state: State) -> dict[str, Any]:
    async with state.transaction() as tx:
        doc = await tx.require("customer", id)
        changes = body.customer.model_dump(exclude_none=True)
        if "shipping" in changes:
            old = doc.get("shipping") or {"shipping_address_id": new_id("shipping")}
            changes["shipping"] = {**old, **changes["shipping"]}
        doc.update(changes)
        await tx.save("customer", doc)
        await tx.emit("customer.updated", "customer", present("customer", doc))
    return {"customer": present("customer", doc)}


@router.get("/v1/payment_intents")
async def list_intents(
    state: State,
    limit: Limit = None,
    starting_after: Cursor = None,
    ending_before: Cursor = None,
    customer: Text = None,
    checkout_session: Text = None,
    expand_customer: Flag = None,
    expand: Expand = "",
    interval: Annotated[int | None, Query(ge=0)] = None,
) -> dict[str, Any]:
    async with state.read() as tx:
        docs = [
            d
            for d in await tx.all("payment_intent")
            if customer in (None, d.get("customer"))
            and checkout_session in (None, d.get("_checkout_session_id"))
        ]
        page = paginate(
            docs,
            "payment_intent_id",
            limit=limit,
            starting_after=starting_after,
            ending_before=ending_before,
        )
        wide = expands(expand, "customer", expand_customer)
        return {"payment_intents": [await show_intent(tx, d, wide) for d in page]}


@router.get("/v1/payment_intents/{id}")
async def get_intent(
    id: str, state: State, expand_customer: Flag = None, expand: Expand = ""
) -> dict[str, Any]:
    async with state.read() as tx:
        doc = await tx.require("payment_intent", id)
        return {
            "payment_intent": await show_intent(
                tx, doc, expands(expand, "customer", expand_customer)
            )
        }


async def show_intent(tx: Tx, doc: Doc, expand_customer: bool = False) -> Doc:
    shown = dict(doc)
    if expand_customer and doc.get("customer"):
        found = await tx.get("customer", doc["customer"])
        shown["customer"] = present("customer", found) if found else doc["customer"]
    return present("payment_intent", shown)


@router.post("/v1/payment_links")
async def create_link(body: PaymentLinkBody, request: Request, state: State) -> dict[str, Any]:
    """A reusable link; each visit of ``url`` (the hosted pages) opens a new checkout session."""
    data = body.payment_link
    async with state.transaction() as tx:
        await validate_line_items(tx, data.line_items, data.mode, "payment_link")
        link_id = new_id("payment_link")
        doc = {
            "payment_link_id": link_id,
            "active": True,
            "url": f"{base_url(request)}/pay/l/{link_id}",
            **data.model_dump(exclude_none=True),
            "created_at": iso(tx.now),
            "test_mode": True,
        }
        doc["line_items"] = [item.model_dump(exclude_none=True) for item in data.line_items]
        await tx.insert("payment_link", doc)
        await tx.emit("payment_link.created", "payment_link", present("payment_link", doc))
    return {"payment_link": present("payment_link", doc)}


@router.get("/v1/payment_links")
async def list_links(
    state: State,
    limit: Annotated[int | None, Query(ge=1)] = None,
    offset: Offset = None,
    starting_after: Cursor = None,
    ending_before: Cursor = None,
) -> dict[str, Any]:
    async with state.read() as tx:
        docs = await tx.all("payment_link")
    page = paginate(
        docs,
        "payment_link_id",
        limit=min(limit or 10, 100),
        offset=offset,
        starting_after=starting_after,
        ending_before=ending_before,
    )
    return {"payment_links": [present("payment_link", d) for d in page]}


@router.get("/v1/payment_links/{id}")
async def get_link(id: str, state: State) -> dict[str, Any]:
    async with state.read() as tx:
        return {"payment_link": present("payment_link", await tx.require("payment_link", id))}
