"""Checkout sessions: ``/v1/checkout/sessions`` and the completion test helper."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from flexfulfill.flex import CheckoutSessionStatus
from flexfulfill.sandbox.api_common import Expand, Flag, State, base_url, expands
from flexfulfill.sandbox.checkout_flow import Declined, complete_checkout
from flexfulfill.sandbox.errors import bad_state
from flexfulfill.sandbox.inputs import CompleteIn, SessionBody
from flexfulfill.sandbox.pagination import Cursor, Limit, Offset, paginate
from flexfulfill.sandbox.present import Doc
from flexfulfill.sandbox.sessions import create_session, show_line_items, show_session

router = APIRouter()
Status = Annotated[CheckoutSessionStatus | None, Query()]
Text = Annotated[str | None, Query()]
When = Annotated[datetime | None, Query()]


@router.post("/v1/checkout/sessions")
async def create(body: SessionBody, request: Request, state: State) -> dict[str, Any]:
    async with state.transaction() as tx:
        doc = await create_session(tx, body.checkout_session, base_url(request))
        return {"checkout_session": await show_session(tx, doc)}


@router.get("/v1/checkout/sessions")
async def list_sessions(
    state: State,
    limit: Limit = None,
    offset: Offset = None,
    status: Status = None,
    customer: Text = None,
    customer_email: Text = None,
    client_reference_id: Text = None,
    payment_intent: Text = None,
    subscription: Text = None,
    created_gt: When = None,
    created_gte: When = None,
    created_lt: When = None,
    created_lte: When = None,
    starting_after: Cursor = None,
    ending_before: Cursor = None,
    expand_customer: Flag = None,
    expand_payment_intent: Flag = None,
    expand: Expand = "",
    interval: Annotated[int | None, Query(ge=0)] = None,
) -> dict[str, Any]:
    wanted = {
        "status": status,
        "customer": customer,
        "_customer_email": customer_email,
        "client_reference_id": client_reference_id,
        "subscription": subscription,
    }
    bounds = (created_gt, created_gte, created_lt, created_lte)
    async with state.read() as tx:
        docs = [
            d
            for d in await tx.all("checkout_session")
            if _matches(d, wanted, payment_intent) and _within(d["created_at"], *bounds)
        ]
        page = paginate(
            docs,
            "checkout_session_id",
            limit=limit,
            offset=offset,
            starting_after=starting_after,
            ending_before=ending_before,
        )
        cust = expands(expand, "customer", expand_customer)
        intents = expands(expand, "payment_intents", expand_payment_intent)
        shown = [await show_session(tx, d, customer=cust, intents=intents) for d in page]
    return {"checkout_sessions": shown}


def _matches(doc: Doc, wanted: dict[str, str | None], payment_intent: str | None) -> bool:
    if any(value is not None and doc.get(key) != value for key, value in wanted.items()):
        return False
    return payment_intent is None or payment_intent in doc["payment_intents"]


def _within(
    created: int,
    gt: datetime | None,
    gte: datetime | None,
    lt: datetime | None,
    lte: datetime | None,
) -> bool:
    """Inside Flex's four created-at bounds (each optional)."""
    if gt is not None and not created > gt.timestamp():
        return False
    if gte is not None and not created >= gte.timestamp():
        return False
    if lt is not None and not created < lt.timestamp():
        return False
    return lte is None or created <= lte.timestamp()


@router.get("/v1/checkout/sessions/{id}")
async def retrieve(
    id: str,
    state: State,
    expand_customer: Flag = None,
    expand_payment_intent: Flag = None,
    expand: Expand = "",
) -> dict[str, Any]:
    async with state.read() as tx:
        doc = await tx.require("checkout_session", id)
        shown = await show_session(
            tx,
            doc,
            customer=expands(expand, "customer", expand_customer),
            intents=expands(expand, "payment_intents", expand_payment_intent),
        )
    return {"checkout_session": shown}


@router.get("/v1/checkout/sessions/{id}/line_items")
async def line_items(id: str, state: State) -> dict[str, Any]:
    async with state.read() as tx:
        return {"line_items": await show_line_items(tx, await tx.require("checkout_session", id))}


@router.post("/v1/checkout/sessions/{id}/cancel")
async def cancel(id: str, state: State) -> dict[str, Any]:
    """Cancel an open session (Flex's cancel); ``checkout.session.canceled`` is recorded."""
    return await _close(state, id, CheckoutSessionStatus.CANCELED, "checkout.session.canceled")


@router.post("/v1/checkout/sessions/{id}/expire")
async def expire(id: str, state: State) -> dict[str, Any]:
    """Expire an open session now (Stripe's expire); ``checkout.session.expired`` is recorded."""
    return await _close(state, id, CheckoutSessionStatus.EXPIRED, "checkout.session.expired")


async def _close(
    state: State, id: str, status: CheckoutSessionStatus, event: str
) -> dict[str, Any]:
    async with state.transaction() as tx:
        doc = await tx.require("checkout_session", id)
        if doc["status"] != CheckoutSessionStatus.OPEN:
            raise bad_state(
                "checkout_session_already_processed",
                f"{id} is {doc['status']}, only an open session can be canceled or expired",
            )
        doc["status"] = status
        await tx.save("checkout_session", doc)
        shown = await show_session(tx, doc)
        await tx.emit(event, "checkout_session", shown)
    return {"checkout_session": shown}


@router.post("/v1/test_helpers/checkout_sessions/{id}/complete", response_model=None)
async def complete(id: str, state: State, body: CompleteIn | None = None) -> Any:
    """Pay a session without a browser: contact, card(s), and the session completes."""
    async with state.transaction() as tx:
        outcome = await complete_checkout(tx, id, body or CompleteIn())
    if isinstance(outcome, Declined):
        error = outcome.error()
        return JSONResponse(error.body(), status_code=error.status)
    return {"checkout_session": outcome}
