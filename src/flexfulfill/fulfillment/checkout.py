"""``fulfill_checkout``: one idempotent function behind the webhook, the success page and the
reconciler.

1. If the session already has an order, return it (no API call).
2. Re-fetch the session from the Flex API; fulfill only if its status is ``complete`` — never
   on an event body or a redirect alone. Fetch its line items and payment intents.
3. In ONE transaction: insert the order (UNIQUE session id: of two concurrent callers exactly
   one inserts, the other finds the order and returns it), its lines, one stock movement per
   line, its payments, the receipt's outbox row, and run the merchant's after-fulfilled hooks.

No transaction is open during step 2, so a slow or failing Flex never holds a lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncConnection

from flexfulfill.domain.orders import LineDraft, OrderDraft, PaymentDraft, is_paid, needs_customer
from flexfulfill.domain.receipts import Receipt, ReceiptSubscription, receipt_message_id
from flexfulfill.domain.subscriptions import SubscriptionState
from flexfulfill.flex import CheckoutSession, Customer, PaymentIntent
from flexfulfill.fulfillment.context import Services, log
from flexfulfill.fulfillment.registry import FulfilledOrder
from flexfulfill.store import customers as customer_store
from flexfulfill.store import orders as order_store
from flexfulfill.store import stock as stock_store
from flexfulfill.store.statuses import FulfilledVia


class Outcome(StrEnum):
    CREATED = "created"  # this call created the order
    EXISTING = "existing"  # the order was there already (another door came first)
    NOT_PAID = "not_paid"  # the API says the session is not complete: nothing fulfilled


@dataclass(frozen=True)
class FulfillResult:
    outcome: Outcome
    order_id: int | None = None
    session_status: str | None = None

    @property
    def fulfilled(self) -> bool:
        return self.order_id is not None


@dataclass(frozen=True)
class CheckoutPlan:
    """What the API said about a paid session, read before any transaction opens."""

    draft: OrderDraft
    subscription: SubscriptionState | None
    fetched_at: float
    customer: Customer | None = None


class NotComplete(Exception):
    """The API reports the session in another status than ``complete``."""

    def __init__(self, session_id: str, status: str | None) -> None:
        self.status = status
        super().__init__(
            f"checkout session {session_id} is {status!r} at Flex, not 'complete'; "
            "nothing is fulfilled until Flex reports it complete"
        )


async def fulfill_checkout(
    services: Services, session_id: str, via: FulfilledVia = FulfilledVia.WEBHOOK
) -> FulfillResult:
    """Make sure a paid checkout session has exactly one order; see the module docstring."""
    existing = await find_existing(services, session_id)
    if existing is not None:
        return existing
    try:
        plan = await plan_checkout(services, session_id)
    except NotComplete as exc:
        return FulfillResult(Outcome.NOT_PAID, session_status=exc.status)
    async with services.engine.begin() as conn:
        return await apply_checkout(conn, services, plan, via)


async def find_existing(services: Services, session_id: str) -> FulfillResult | None:
    async with services.reading() as conn:
        order = await order_store.find_order(conn, session_id)
    return FulfillResult(Outcome.EXISTING, order.order_id, "complete") if order else None


async def plan_checkout(services: Services, session_id: str) -> CheckoutPlan:
    """The Flex reads (no transaction open); raises :class:`NotComplete` for unpaid sessions.

    Two calls in the usual case, made at once (one round trip of latency): the session, with
    its payment intents and customer expanded, and its line items; then whatever the API did
    not expand. Line items read for a session that is not complete are dropped unused.
    """
    fetched_at = services.clock.now()
    fetched, listed = await asyncio.gather(
        services.flex.get_checkout_session(session_id, **EXPAND),
        services.flex.list_line_items(session_id),
        return_exceptions=True,
    )
    if isinstance(fetched, BaseException):
        raise fetched
    if not is_paid(fetched):
        raise NotComplete(session_id, fetched.status)
    if isinstance(listed, BaseException):
        raise listed
    items = listed
    (session, customer), intents, subscription = await asyncio.gather(
        _customer(services, fetched),
        _intents(services, fetched),
        _subscription_state(services, fetched),
    )
    draft = OrderDraft.from_api(session, items, intents)
    return CheckoutPlan(draft, subscription, fetched_at, customer)


EXPAND = {"expand_payment_intent": True, "expand_customer": True}


async def _intents(services: Services, session: CheckoutSession) -> list[PaymentIntent]:
    """The session's payment intents: the expanded ones as they came, the others fetched."""
    shown = {
        p.payment_intent_id: p for p in session.payment_intents if isinstance(p, PaymentIntent)
    }
    missing = [p for p in session.payment_intent_ids if p not in shown]
    for intent in await asyncio.gather(*(services.flex.get_payment_intent(p) for p in missing)):
        shown[intent.payment_intent_id] = intent
    return [shown[p] for p in session.payment_intent_ids]


async def _subscription_state(
    services: Services, session: CheckoutSession
) -> SubscriptionState | None:
    if not session.subscription:
        return None
    return SubscriptionState.from_api(await services.flex.get_subscription(session.subscription))


async def _customer(
    services: Services, session: CheckoutSession
) -> tuple[CheckoutSession, Customer | None]:
    """The customer the receipt needs (see :func:`needs_customer`), else the session as if
    the customer had not been expanded, so the receipt's address rules stay the same."""
    plain = session.model_copy(update={"customer": session.customer_id})
    if not (needs_customer(plain) and session.customer_id):
        return plain, None
    customer = session.customer
    if not isinstance(customer, Customer):
        customer = await services.flex.get_customer(session.customer_id)
    return session.model_copy(update={"customer": customer}), customer


async def apply_checkout(
    conn: AsyncConnection, services: Services, plan: CheckoutPlan, via: FulfilledVia
) -> FulfillResult:
    """The write half, inside the caller's transaction."""
    return (await apply_checkouts(conn, services, [plan], via))[0]


async def apply_checkouts(
    conn: AsyncConnection, services: Services, plans: Sequence[CheckoutPlan], via: FulfilledVia
) -> list[FulfillResult]:
    """The write half for several sessions at once, inside the caller's transaction.

    The same rows as one order at a time, in one statement per table for all of them (the
    worker settles a whole batch of events this way): a batch of 32 orders takes about as many
    statements as one order did. One result per plan, in order; a session planned twice
    (two deliveries in one batch) is created by the first and found by the second.
    """
    now = services.clock.now()
    first: dict[str, CheckoutPlan] = {}
    for plan in plans:
        first.setdefault(plan.draft.checkout_session_id, plan)
    created = await order_store.insert_orders(conn, [p.draft for p in first.values()], via, now)
    found = await order_store.find_orders(conn, [s for s in first if s not in created])
    # A session that was not inserted has an order (the UNIQUE conflict), visible to us.
    assert len(created) + len(found) == len(first), "an order vanished under its UNIQUE key"
    new = [(created[s], plan) for s, plan in first.items() if s in created]
    if new:
        await _write_new_orders(conn, services, new, via, now)
    results = []
    for plan in plans:
        session_id = plan.draft.checkout_session_id
        if session_id in created and first[session_id] is plan:
            results.append(FulfillResult(Outcome.CREATED, created[session_id], "complete"))
        else:
            order_id = created.get(session_id) or found[session_id]
            results.append(FulfillResult(Outcome.EXISTING, order_id, "complete"))
    return results


async def _write_new_orders(
    conn: AsyncConnection,
    services: Services,
    new: list[tuple[int, CheckoutPlan]],
    via: FulfilledVia,
    now: float,
) -> None:
    """Everything an order brings besides its own row, for orders just inserted."""
    lines = await order_store.insert_lines_of(conn, [(oid, p.draft.lines) for oid, p in new])
    payments: dict[str, tuple[PaymentDraft, int | None, str | None]] = {}
    for order_id, plan in new:
        for payment in plan.draft.payments:
            session_id = plan.draft.checkout_session_id
            payments.setdefault(payment.payment_intent_id, (payment, order_id, session_id))
    await order_store.record_payments(conn, list(payments.values()), now=now)
    await order_store.refresh_amounts_of(conn, [order_id for order_id, _ in new], now)
    for order_id, plan in new:
        await _subscription(conn, plan, order_id, now)
    fetched = [plan.customer for _, plan in new if plan.customer is not None]
    await customer_store.upsert_customers(conn, fetched, now)
    receipts = [_receipt(services, plan, order_id, now) for order_id, plan in new]
    await order_store.insert_receipts(conn, receipts, now=now)
    # Stock last: its rows are the hot ones every order locks, so they are held the least.
    sold = [
        (order_id, plan.draft.checkout_session_id, line_id, line)
        for (order_id, plan), order_lines in zip(new, lines, strict=True)
        for line_id, line in order_lines
    ]
    await _stock(conn, sold, now)
    for order_id, plan in new:
        for hook in services.registry.after_hooks:
            await hook(conn, FulfilledOrder(order_id, plan.draft, via))


async def _stock(
    conn: AsyncConnection, sold: list[tuple[int, str, int, LineDraft]], now: float
) -> None:
    """One sale movement per (order id, session id, line id, line); backorders flagged."""
    # Products in a fixed order, so concurrent transactions lock stock rows in the same order.
    sales = sorted(
        (
            stock_store.Sale(line_id, line.product_id, line.quantity)
            for _, _, line_id, line in sold
            if line.product_id is not None
        ),
        key=lambda sale: (sale.product_id, sale.order_line_id),
    )
    movements = await stock_store.sell(conn, sales, now)
    backordered = [s.order_line_id for s, m in zip(sales, movements, strict=True) if m.backordered]
    await order_store.mark_backordered(conn, backordered)
    order_of = {line_id: (order_id, session_id) for order_id, session_id, line_id, _ in sold}
    for sale, movement in zip(sales, movements, strict=True):
        if movement.backordered:
            order_id, session_id = order_of[sale.order_line_id]
            log.warning(
                "backorder: %s is at %d after order %d (%s); the order stands",
                movement.product_id,
                movement.on_hand_after,
                order_id,
                session_id,
            )


async def _subscription(
    conn: AsyncConnection, plan: CheckoutPlan, order_id: int, now: float
) -> None:
    if plan.subscription is None:
        return
    await customer_store.save_subscription(
        conn, plan.subscription, fetched_at=plan.fetched_at, now=now, order_id=order_id
    )
    await customer_store.link_subscription(conn, plan.subscription.subscription_id, order_id)


def _receipt(
    services: Services, plan: CheckoutPlan, order_id: int, now: float
) -> tuple[Receipt, str]:
    """The receipt snapshot of a new order and its stable Message-ID."""
    sub = plan.subscription
    snapshot = None
    if sub is not None:
        snapshot = ReceiptSubscription(
            subscription_id=sub.subscription_id,
            status=sub.status,
            period_start=sub.current_period_start,
            period_end=sub.current_period_end,
            next_renewal=None if sub.cancel_at_period_end else sub.current_period_end,
        )
    receipt = plan.draft.receipt(order_id, now, snapshot)
    message_id = receipt_message_id(
        order_id, plan.draft.checkout_session_id, services.receipt_domain
    )
    return receipt, message_id
