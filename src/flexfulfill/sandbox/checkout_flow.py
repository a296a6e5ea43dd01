"""Completing a checkout: the one flow behind the test helper, ``flexfulfill trigger`` and the
hosted checkout page, in the order of Flex's fulfillment guide.

Steps, each idempotent so a page can call them one at a time:
1. :func:`attach_contact` — contact details become a customer (``customer.created``).
2. :func:`open_payment` — the payment form creates the payment intents
   (``payment_intent.created``); in subscription mode first the subscription, ``incomplete``
   (``customer.subscription.created``), and its invoice (``invoice.created``).
3. :func:`pay` — cards succeed or decline. A split cart (some lines HSA/FSA-eligible, some
   not) authorizes the HSA/FSA card for the eligible part (payment_card_type ``primary``),
   charges the regular card for the rest (``secondary``), then captures the hold: two
   ``payment_intent.succeeded``. Subscriptions: invoice paid (``invoice.payment_succeeded``),
   subscription ``active`` (``customer.subscription.updated``). Finally the session is
   ``complete`` (``checkout.session.completed``).
"""

from __future__ import annotations

from dataclasses import dataclass

from flexfulfill.flex import CheckoutSessionStatus, PaymentIntentStatus
from flexfulfill.sandbox import billing
from flexfulfill.sandbox.cards import Decline, UnknownCard, charge, last4
from flexfulfill.sandbox.errors import SandboxError, bad_state, invalid
from flexfulfill.sandbox.ids import new_id
from flexfulfill.sandbox.inputs import CardIn, CompleteIn, CustomerIn
from flexfulfill.sandbox.present import Doc, present
from flexfulfill.sandbox.sessions import is_eligible, show_session
from flexfulfill.sandbox.store import Tx

PRIMARY, SECONDARY = "primary", "secondary"


@dataclass(frozen=True)
class Declined:
    """A card declined: the session stays open and can be paid again."""

    payment_intent_id: str
    decline: Decline

    def error(self) -> SandboxError:
        return SandboxError(402, self.decline.code, self.decline.message, ["card", "number"])


async def complete_checkout(tx: Tx, session_id: str, data: CompleteIn) -> Doc | Declined:
    """Run every step; the shown session, or :class:`Declined` (whose changes still commit)."""
    session = await open_session(tx, session_id)
    await attach_contact(tx, session, data.contact, data.customer)
    await open_payment(tx, session)
    outcome = await pay(tx, session, data.card, data.second_card)
    if isinstance(outcome, Declined):
        return outcome
    return await show_session(tx, session)


async def open_session(tx: Tx, session_id: str) -> Doc:
    """The session, if it can still be paid; 400 with Flex's codes otherwise."""
    session = await tx.require("checkout_session", session_id)
    status = session["status"]
    if status == CheckoutSessionStatus.EXPIRED:
        raise bad_state("checkout_session_expired", f"{session_id} has expired")
    if status == CheckoutSessionStatus.CANCELED:
        raise bad_state("checkout_session_canceled", f"{session_id} was canceled")
    if status != CheckoutSessionStatus.OPEN:
        raise bad_state("checkout_session_already_processed", f"{session_id} is {status}")
    return session


async def attach_contact(
    tx: Tx, session: Doc, contact: CustomerIn | None, customer_id: str | None = None
) -> Doc:
    """The session's customer: existing, given by id, or created from the contact details."""
    defaults = session.get("defaults") or {}
    wanted = session.get("customer") or customer_id or defaults.get("customer_id")
    if wanted:
        customer = await tx.get("customer", wanted)
        if customer is None:
            raise invalid("customer_not_found", f"No such customer: {wanted!r}", ["customer"])
    else:
        fields = _contact_fields(session, contact)
        customer = await billing.create_customer(tx, fields)
    session["customer"] = customer["customer_id"]
    session["_customer_email"] = customer.get("email")
    await tx.save("checkout_session", session)
    return customer


def _contact_fields(session: Doc, contact: CustomerIn | None) -> Doc:
    defaults = {k: v for k, v in (session.get("defaults") or {}).items() if k != "customer_id"}
    given = contact.model_dump(exclude_none=True) if contact else {}
    fields = {
        "email": "shopper@example.com",
        "first_name": "Test",
        "last_name": "Shopper",
        **defaults,
        **given,
    }
    return fields


async def open_payment(tx: Tx, session: Doc) -> list[Doc]:
    """The session's payment intents, created on first call (with the subscription, if any)."""
    if session["payment_intents"]:
        return [await tx.require("payment_intent", pid) for pid in session["payment_intents"]]
    invoice_id = None
    if session["mode"] == "subscription":
        invoice_id = (await billing.start_subscription(tx, session))["invoice_id"]
    intents = []
    for card_type, amount in split_plan(session):
        intent = await billing.create_intent(tx, session, amount, card_type, invoice_id)
        intents.append(intent)
    session["payment_intents"] = [p["payment_intent_id"] for p in intents]
    await tx.save("checkout_session", session)
    return intents


def split_plan(session: Doc) -> list[tuple[str, int]]:
    """(payment_card_type, amount) per payment intent: two only for a split payment cart."""
    lines = session["_line_items"]
    eligible = sum(line["amount_total"] for line in lines if is_eligible(line))
    rest = session["amount_total"] - eligible
    if session["mode"] == "subscription" or eligible == 0 or rest == 0:
        return [(PRIMARY, session["amount_total"])]
    return [(PRIMARY, eligible), (SECONDARY, rest)]


async def pay(tx: Tx, session: Doc, card: CardIn, second: CardIn | None) -> Declined | None:
    """Charge the cards; on success the session completes."""
    intents = await open_payment(tx, session)
    cards = {PRIMARY: card, SECONDARY: second or card}
    by_type = {p["payment_card_type"]: p for p in intents}
    primary = by_type[PRIMARY]
    declined = await _authorize(tx, primary, cards[PRIMARY], capture=len(intents) == 1)
    if declined:
        return declined
    if SECONDARY in by_type:
        declined = await _authorize(tx, by_type[SECONDARY], cards[SECONDARY], capture=True)
        if declined:
            return declined
        await billing.capture(tx, primary)  # the HSA/FSA hold, captured last (Flex's split order)
    await _finish(tx, session, intents)
    return None


async def _authorize(tx: Tx, intent: Doc, card: CardIn, *, capture: bool) -> Declined | None:
    if intent["status"] in (PaymentIntentStatus.SUCCEEDED, PaymentIntentStatus.REQUIRES_CAPTURE):
        return None  # paid on an earlier try
    try:
        brand, decline = charge(card.number)
    except UnknownCard as exc:
        raise invalid("invalid_card_number", str(exc), ["card", "number"]) from None
    method = {
        "payment_method": new_id("payment_method"),
        "payment_method_details": {"card": {"brand": brand, "last4": last4(card.number)}},
    }
    intent.update(method)
    if decline is not None:
        await billing.decline(tx, intent, decline)
        return Declined(intent["payment_intent_id"], decline)
    await (billing.capture(tx, intent) if capture else billing.hold(tx, intent))
    return None


async def _finish(tx: Tx, session: Doc, intents: list[Doc]) -> None:
    if session["mode"] == "subscription":
        await billing.activate_subscription(tx, session)
    session["status"] = CheckoutSessionStatus.COMPLETE
    session["amount_received"] = sum(p["amount_received"] for p in intents)
    await tx.save("checkout_session", session)
    await tx.emit("checkout.session.completed", "checkout_session", present_session(session))


def present_session(session: Doc) -> Doc:
    return present("checkout_session", session)
