"""Subscriptions and refunds.

Refunds succeed at once, as Stripe's test-mode card refunds do, but in two recorded steps:
created ``pending`` (``refund.created``), then ``succeeded`` (``refund.updated``) — the event
Flex's own plugin subscribes to.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from flexfulfill.flex import PaymentIntentStatus, RefundStatus, SubscriptionStatus
from flexfulfill.sandbox.api_common import Expand, Flag, State, expands
from flexfulfill.sandbox.billing import show_subscription
from flexfulfill.sandbox.errors import bad_state, invalid
from flexfulfill.sandbox.ids import new_id
from flexfulfill.sandbox.inputs import (
    RefundBody,
    RefundIn,
    RefundUpdateBody,
    SubscriptionUpdateBody,
)
from flexfulfill.sandbox.pagination import Cursor, Limit, paginate
from flexfulfill.sandbox.present import Doc, iso, present
from flexfulfill.sandbox.store import Tx

router = APIRouter()
Text = Annotated[str | None, Query()]
SubStatus = Annotated[SubscriptionStatus | None, Query()]


@router.get("/v1/subscriptions")
async def list_subscriptions(
    state: State,
    customer: Text = None,
    status: SubStatus = None,
    limit: Limit = None,
    starting_after: Cursor = None,
    ending_before: Cursor = None,
    expand_customer: Flag = None,
    interval: Annotated[int | None, Query(ge=0)] = None,
) -> dict[str, Any]:
    async with state.read() as tx:
        docs = [
            d
            for d in await tx.all("subscription")
            if customer in (None, d.get("customer")) and status in (None, d["status"])
        ]
        page = paginate(
            docs,
            "subscription_id",
            limit=limit,
            starting_after=starting_after,
            ending_before=ending_before,
        )
        shown = [await show_subscription(tx, d, customer=bool(expand_customer)) for d in page]
    return {"subscriptions": shown}


@router.get("/v1/subscriptions/{id}")
async def get_subscription(
    id: str, state: State, expand_customer: Flag = None, expand: Expand = ""
) -> dict[str, Any]:
    async with state.read() as tx:
        doc = await tx.require("subscription", id)
        wide = expands(expand, "customer", expand_customer)
        return {"subscription": await show_subscription(tx, doc, customer=wide)}


@router.patch("/v1/subscriptions/{id}")
async def update_subscription(
    id: str, body: SubscriptionUpdateBody, state: State
) -> dict[str, Any]:
    async with state.transaction() as tx:
        doc = await tx.require("subscription", id)
        changes = body.subscription.model_dump(exclude_none=True)
        if "cancel_at_period_end" in changes:
            flag = changes["cancel_at_period_end"]
            changes["cancel_at"] = doc["current_period_end"] if flag else None
        doc.update(changes)
        return {"subscription": await _save_subscription(tx, doc, "customer.subscription.updated")}


@router.delete("/v1/subscriptions/{id}")
async def cancel_subscription(
    id: str, state: State, at_period_end: Annotated[bool, Query()] = True
) -> dict[str, Any]:
    """Flex cancels at the period's end (``customer.subscription.updated``); the sandbox's
    ``?at_period_end=false`` cancels now (``customer.subscription.deleted``)."""
    async with state.transaction() as tx:
        doc = await tx.require("subscription", id)
        if doc["status"] == SubscriptionStatus.CANCELED:
            raise bad_state("subscription_canceled", f"{id} is already canceled")
        if at_period_end:
            doc.update(cancel_at_period_end=True, cancel_at=doc["current_period_end"])
            event = "customer.subscription.updated"
        else:
            doc.update(status=SubscriptionStatus.CANCELED, cancel_at=iso(tx.now))
            event = "customer.subscription.deleted"
        return {"subscription": await _save_subscription(tx, doc, event)}


async def _save_subscription(tx: Tx, doc: Doc, event: str) -> Doc:
    await tx.save("subscription", doc)
    shown = await show_subscription(tx, doc)
    await tx.emit(event, "subscription", shown)
    return shown


@router.post("/v1/refunds")
async def create_refund(body: RefundBody, state: State) -> dict[str, Any]:
    async with state.transaction() as tx:
        refund = await refund_intent(tx, body.refund)
    return {"refund": present("refund", refund)}


async def refund_intent(tx: Tx, data: RefundIn) -> Doc:
    """Refund (part of) a succeeded payment intent and note it on its checkout session."""
    intent = await tx.reference(
        "payment_intent", data.payment_intent_id, ("body", "refund", "payment_intent_id")
    )
    amount = _refund_amount(intent, data.amount)
    refund = {
        "refund_id": new_id("refund"),
        "payment_intent_id": intent["payment_intent_id"],
        "amount": amount,
        "status": RefundStatus.PENDING,
        "reason": data.reason,
        "metadata": data.metadata or {},
        "created_at": iso(tx.now),
        "test_mode": True,
    }
    await tx.insert("refund", refund)
    await tx.emit("refund.created", "refund", present("refund", refund))
    refund["status"] = RefundStatus.SUCCEEDED
    await tx.save("refund", refund)
    intent["amount_refunded"] = intent.get("amount_refunded", 0) + amount
    await tx.save("payment_intent", intent)
    await _note_on_session(tx, intent["_checkout_session_id"], refund)
    await tx.emit("refund.updated", "refund", present("refund", refund))
    return refund


def _refund_amount(intent: Doc, wanted: int | None) -> int:
    """What to refund: ``wanted`` or all that is left; 422 when that is not possible."""
    intent_id = intent["payment_intent_id"]
    if intent["status"] != PaymentIntentStatus.SUCCEEDED:
        message = f"{intent_id} is {intent['status']}; only a succeeded payment can be refunded"
        raise invalid(
            "payment_intent_not_succeeded", message, ("body", "refund", "payment_intent_id")
        )
    refundable = intent["amount_received"] - intent.get("amount_refunded", 0)
    amount = refundable if wanted is None else wanted
    if not 0 < amount <= refundable:
        message = f"{amount} exceeds the {refundable} still refundable on {intent_id}"
        raise invalid("amount_too_large", message, ("body", "refund", "amount"))
    return amount


async def _note_on_session(tx: Tx, session_id: str, refund: Doc) -> None:
    session = await tx.require("checkout_session", session_id)
    session["amount_refunded"] += refund["amount"]
    session["refunds"] = [*session["refunds"], present("refund", refund)]
    await tx.save("checkout_session", session)


@router.get("/v1/refunds")
async def list_refunds(
    state: State,
    status: Annotated[RefundStatus | None, Query()] = None,
    payment_intent: Text = None,
    limit: Limit = None,
    starting_after: Cursor = None,
) -> dict[str, Any]:
    async with state.read() as tx:
        docs = [
            d
            for d in await tx.all("refund")
            if status in (None, d["status"]) and payment_intent in (None, d["payment_intent_id"])
        ]
    page = paginate(docs, "refund_id", limit=limit, starting_after=starting_after)
    return {"refunds": [present("refund", d) for d in page]}


@router.get("/v1/refunds/{refund_id}")
async def get_refund(refund_id: str, state: State) -> dict[str, Any]:
    async with state.read() as tx:
        doc = await tx.require("refund", refund_id, ("path", "refund_id"))
    return {"refund": present("refund", doc)}


@router.patch("/v1/refunds/{refund_id}")
async def update_refund(refund_id: str, body: RefundUpdateBody, state: State) -> dict[str, Any]:
    async with state.transaction() as tx:
        doc = await tx.require("refund", refund_id, ("path", "refund_id"))
        doc.update(body.refund.model_dump(exclude_none=True))
        await tx.save("refund", doc)
        await tx.emit("refund.updated", "refund", present("refund", doc))
    return {"refund": present("refund", doc)}
