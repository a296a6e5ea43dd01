"""Customers, payment intents, subscriptions and invoices: their state changes and events."""

from __future__ import annotations

from flexfulfill.flex import PaymentIntentStatus, SubscriptionStatus
from flexfulfill.sandbox.api_catalog import show_price
from flexfulfill.sandbox.cards import Decline
from flexfulfill.sandbox.ids import new_id
from flexfulfill.sandbox.present import Doc, iso, present
from flexfulfill.sandbox.store import Tx

PERIOD_DAYS = {
    "daily": 1,
    "day": 1,
    "weekly": 7,
    "week": 7,
    "monthly": 30,
    "month": 30,
    "yearly": 365,
    "year": 365,
}


async def create_customer(tx: Tx, fields: Doc) -> Doc:
    doc = {
        "customer_id": new_id("customer"),
        "metadata": {},
        **fields,
        "created_at": iso(tx.now),
        "test_mode": True,
    }
    if doc.get("shipping"):
        doc["shipping"] = {"shipping_address_id": new_id("shipping"), **doc["shipping"]}
    await tx.insert("customer", doc)
    await tx.emit("customer.created", "customer", present("customer", doc))
    return doc


async def create_intent(
    tx: Tx, session: Doc, amount: int, card_type: str, invoice_id: str | None
) -> Doc:
    doc = {
        "payment_intent_id": new_id("payment_intent"),
        "amount": amount,
        "amount_capturable": 0,
        "amount_received": 0,
        "amount_refunded": 0,
        "status": PaymentIntentStatus.REQUIRES_PAYMENT_METHOD,
        "customer": session["customer"],
        "invoice": invoice_id,
        "capture_method": "automatic",
        "payment_card_type": card_type,
        "metadata": {},
        "created_at": iso(tx.now),
        "test_mode": True,
        "_checkout_session_id": session["checkout_session_id"],
    }
    await tx.insert("payment_intent", doc)
    await tx.emit("payment_intent.created", "payment_intent", present("payment_intent", doc))
    return doc


async def decline(tx: Tx, intent: Doc, reason: Decline) -> None:
    intent["status"] = PaymentIntentStatus.REQUIRES_PAYMENT_METHOD
    intent["last_payment_error"] = {
        "type": "card_error",
        "code": reason.code,
        "decline_code": reason.decline_code,
        "message": reason.message,
        "payment_method": intent["payment_method"],
    }
    await tx.save("payment_intent", intent)
    await tx.emit(
        "payment_intent.payment_failed", "payment_intent", present("payment_intent", intent)
    )


async def hold(tx: Tx, intent: Doc) -> None:
    """Authorize without capturing (the HSA/FSA card of a split cart)."""
    intent.update(
        status=PaymentIntentStatus.REQUIRES_CAPTURE,
        amount_capturable=intent["amount"],
        last_payment_error=None,
    )
    await tx.save("payment_intent", intent)


async def capture(tx: Tx, intent: Doc) -> None:
    intent.update(
        status=PaymentIntentStatus.SUCCEEDED,
        amount_capturable=0,
        amount_received=intent["amount"],
        latest_charge=new_id("charge"),
        last_payment_error=None,
    )
    await tx.save("payment_intent", intent)
    await tx.emit("payment_intent.succeeded", "payment_intent", present("payment_intent", intent))
    if intent.get("invoice"):
        await _pay_invoice(tx, intent)


async def start_subscription(tx: Tx, session: Doc) -> Doc:
    """An ``incomplete`` subscription and its open invoice, for a subscription-mode session."""
    items, period_days = await _items(tx, session)
    sub = {
        "subscription_id": new_id("subscription"),
        "status": SubscriptionStatus.INCOMPLETE,
        "customer": session["customer"],
        "items": items,
        "cancel_at_period_end": False,
        "current_period_start": iso(tx.now),
        "current_period_end": iso(tx.now + period_days * 86400),
        "metadata": dict(session.get("metadata") or {}),
        "created_at": iso(tx.now),
        "test_mode": True,
        "_checkout_session_id": session["checkout_session_id"],
    }
    invoice = _open_invoice(sub, session["amount_total"])
    sub["latest_invoice"] = invoice["invoice_id"]
    await tx.insert("subscription", sub)
    await tx.insert("invoice", invoice)
    await tx.emit("customer.subscription.created", "subscription", await show_subscription(tx, sub))
    await tx.emit("invoice.created", "invoice", present("invoice", invoice))
    session.update(subscription=sub["subscription_id"], invoice=invoice["invoice_id"])
    return invoice


async def _items(tx: Tx, session: Doc) -> tuple[list[Doc], int]:
    """Subscription items for the session's lines, and the recurring price's period in days."""
    items, period_days = [], 30
    for line in session["_line_items"]:
        recurring = (await tx.require("price", line["price"])).get("recurring")
        if recurring:
            count = int(recurring.get("interval_count", 1))
            period_days = PERIOD_DAYS[recurring["interval"]] * count
        stamp = iso(tx.now)
        items.append({"subscription_item_id": new_id("subscription_item"), "price": line["price"],
                      "quantity": line["quantity"], "created_at": stamp, "updated_at": stamp,
                      "test_mode": True})  # fmt: skip
    return items, period_days


def _open_invoice(sub: Doc, total: int) -> Doc:
    return {"invoice_id": new_id("invoice"), "total": total, "amount_due": total, "amount_paid": 0,
            "customer": sub["customer"], "subscription": sub["subscription_id"],
            "period_start": sub["current_period_start"], "period_end": sub["current_period_end"],
            "status": "open", "test_mode": True}  # fmt: skip


async def _pay_invoice(tx: Tx, intent: Doc) -> None:
    invoice = await tx.require("invoice", intent["invoice"])
    invoice.update(
        amount_paid=intent["amount_received"],
        amount_due=0,
        status="paid",
        payment_intent=intent["payment_intent_id"],
        charge=intent["latest_charge"],
    )
    await tx.save("invoice", invoice)
    await tx.emit("invoice.paid", "invoice", present("invoice", invoice))
    await tx.emit("invoice.payment_succeeded", "invoice", present("invoice", invoice))


async def activate_subscription(tx: Tx, session: Doc) -> None:
    sub = await tx.require("subscription", session["subscription"])
    sub["status"] = SubscriptionStatus.ACTIVE
    await tx.save("subscription", sub)
    await tx.emit("customer.subscription.updated", "subscription", await show_subscription(tx, sub))


async def show_subscription(tx: Tx, sub: Doc, *, customer: bool = False) -> Doc:
    """Items carry their price (as the contract's SubscriptionItem has it); customer on request."""
    shown = dict(sub)
    items = []
    for item in sub["items"]:
        price = await tx.get("price", item["price"])
        items.append({**item, "price": await show_price(tx, price) if price else item["price"]})
    shown["items"] = items
    if customer and sub.get("customer"):
        found = await tx.get("customer", sub["customer"])
        shown["customer"] = present("customer", found) if found else sub["customer"]
    return present("subscription", shown)
