"""The hosted page's port answered by the sandbox itself.

Pay runs :func:`flexfulfill.sandbox.checkout_flow.complete_checkout` in one sandbox
transaction, exactly as ``POST /v1/test_helpers/checkout_sessions/{id}/complete`` does, so a
click on Pay and ``flexfulfill trigger`` record the same events in the same order. A payment
link visit creates its session with :func:`flexfulfill.sandbox.sessions.create_session`, the
code behind ``POST /v1/checkout/sessions``.
"""

from __future__ import annotations

from typing import Any

from flexfulfill.sandbox.checkout_flow import SECONDARY, Declined, complete_checkout, split_plan
from flexfulfill.sandbox.errors import SandboxError
from flexfulfill.sandbox.hosted.forms import Card
from flexfulfill.sandbox.hosted.port import (
    CheckoutView,
    LinkUnavailable,
    Payment,
    PayOutcome,
    Prefill,
    ViewLine,
)
from flexfulfill.sandbox.inputs import CardIn, CompleteIn, CustomerIn, DefaultsIn, SessionIn
from flexfulfill.sandbox.present import Doc
from flexfulfill.sandbox.sessions import LMN, create_session, is_eligible
from flexfulfill.sandbox.state import SandboxState
from flexfulfill.sandbox.store import Tx

INTAKE_FIELD = "_intake_answers"  # private: kept on the session, never shown by the API
CLOSED_ERRORS = (
    "checkout_session_already_processed",
    "checkout_session_expired",
    "checkout_session_canceled",
)


class SandboxBackend:
    """:class:`~flexfulfill.sandbox.hosted.port.CheckoutBackend` over the sandbox's store."""

    def __init__(self, state: SandboxState, merchant_name: str) -> None:
        self.state = state
        self.merchant_name = merchant_name

    async def view(self, session_id: str) -> CheckoutView | None:
        async with self.state.read() as tx:
            session = await tx.get("checkout_session", session_id)
            if session is None:
                return None
            lines = tuple([await _view_line(tx, line) for line in session["_line_items"]])
        return _view(session, lines, self.merchant_name, self.state.clock.now())

    async def save_intake(self, session_id: str, answers: dict[str, str]) -> None:
        async with self.state.transaction() as tx:
            session = await tx.require("checkout_session", session_id)
            session[INTAKE_FIELD] = {"answers": answers, "submitted_at": int(tx.now)}
            await tx.save("checkout_session", session)

    async def pay(self, session_id: str, payment: Payment) -> PayOutcome:
        data = CompleteIn(
            contact=CustomerIn(**payment.contact.as_dict()),
            card=_card_in(payment.card),
            second_card=_card_in(payment.second_card) if payment.second_card else None,
        )
        try:
            async with self.state.transaction() as tx:
                outcome = await complete_checkout(tx, session_id, data)
                if isinstance(outcome, Declined):
                    return await _declined(tx, outcome)
        except SandboxError as exc:
            if exc.type in CLOSED_ERRORS:
                return PayOutcome(False)
            return PayOutcome(False, exc.message[:1].upper() + exc.message[1:] + ".")
        return PayOutcome(True)

    async def session_from_link(self, link_id: str, prefill: Prefill, base_url: str) -> str:
        async with self.state.transaction() as tx:
            link = await tx.get("payment_link", link_id)
            if link is None or not link.get("active", True):
                raise LinkUnavailable(
                    "This payment link does not exist or was deactivated. Ask the seller for a "
                    "new link."
                )
            session = await create_session(tx, _session_in(link, prefill, base_url), base_url)
            session["payment_link"] = link_id
            await tx.save("checkout_session", session)
        return str(session["checkout_session_id"])


def _card_in(card: Card) -> CardIn:
    return CardIn(
        number=card.number,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        cvc=card.cvc,
        postal_code=card.postal_code,
    )


async def _declined(tx: Tx, outcome: Declined) -> PayOutcome:
    """The decline as the buyer reads it, naming the card of a split cart that failed."""
    intent = await tx.get("payment_intent", outcome.payment_intent_id) or {}
    secondary = intent.get("payment_card_type") == SECONDARY
    which = "Your second card" if secondary else "Your card"
    reason = outcome.decline.decline_code.replace("_", " ")
    message = f"{which} was declined ({reason}). Nothing was charged to it: try another card."
    return PayOutcome(False, message, "second_card" if secondary else "card")


def _session_in(link: Doc, prefill: Prefill, base_url: str) -> SessionIn:
    after = link.get("after_completion") or {}
    redirect = (after.get("redirect") or {}).get("url")
    defaults = {k: v for k, v in vars(prefill).items() if v and k != "client_reference_id"}
    return SessionIn(
        line_items=link["line_items"],
        success_url=redirect or f"{base_url}/pay/c/{{CHECKOUT_SESSION_ID}}",
        mode=link.get("mode") or "payment",
        client_reference_id=prefill.client_reference_id,
        defaults=DefaultsIn(**defaults) if defaults else None,
        metadata=dict(link.get("metadata") or {}),
    )


async def _view_line(tx: Tx, line: Doc) -> ViewLine:
    price = await tx.get("price", line["price"]) or {}
    quantity = int(line["quantity"])
    return ViewLine(
        description=line.get("description") or "Item",
        quantity=quantity,
        unit_amount=int(price.get("unit_amount") or line["amount_subtotal"] // quantity),
        amount_total=int(line["amount_total"]),
        eligible=is_eligible(line),
        needs_letter=line.get("eligibility") == LMN,
        recurring=_interval(price.get("recurring")),
    )


def _interval(recurring: dict[str, Any] | None) -> str | None:
    if not recurring:
        return None
    unit = {"daily": "day", "weekly": "week", "monthly": "month", "yearly": "year"}.get(
        recurring["interval"], recurring["interval"]
    )
    count = int(recurring.get("interval_count") or 1)
    return unit if count == 1 else f"{count} {unit}s"


def _status(session: Doc, now: float) -> str:
    """The session's status, ``expired`` once ``expires_at`` has passed even if still open."""
    expires_at = session.get("expires_at")
    if session["status"] == "open" and expires_at is not None and now >= expires_at:
        return "expired"
    return str(session["status"])


def _view(
    session: Doc, lines: tuple[ViewLine, ...], merchant_name: str, now: float
) -> CheckoutView:
    totals = session.get("total_details") or {}
    return CheckoutView(
        session_id=session["checkout_session_id"],
        status=_status(session, now),
        mode=session["mode"],
        merchant_name=merchant_name,
        lines=lines,
        card_amounts=tuple(amount for _, amount in split_plan(session)),
        amount_subtotal=session["amount_subtotal"],
        amount_total=session["amount_total"],
        amount_tax=totals.get("amount_tax", 0),
        amount_shipping=totals.get("amount_shipping", 0),
        amount_discount=totals.get("amount_discount", 0),
        success_url=session.get("success_url"),
        cancel_url=session.get("cancel_url"),
        defaults={k: v for k, v in (session.get("defaults") or {}).items() if v},
        test_mode=bool(session.get("test_mode", True)),
    )
