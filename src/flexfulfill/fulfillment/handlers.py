"""One small handler per event type, and the routing table that names them all.

Every handler re-fetches the object the event is about from the Flex API (the event body only
says *which* object), so a duplicate, late or reordered event writes what the API reports now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from flexfulfill.domain import events as event_types
from flexfulfill.domain import inventory
from flexfulfill.domain.orders import PaymentDraft
from flexfulfill.domain.subscriptions import SubscriptionState
from flexfulfill.flex import Event
from flexfulfill.fulfillment.checkout import (
    CheckoutPlan,
    NotComplete,
    apply_checkouts,
    plan_checkout,
)
from flexfulfill.fulfillment.context import Services
from flexfulfill.fulfillment.registry import Apply, BatchApply, Handler, Registry, nothing
from flexfulfill.store import customers as customer_store
from flexfulfill.store import orders as order_store
from flexfulfill.store import stock as stock_store
from flexfulfill.store.statuses import FulfilledVia, MovementReason, OrderStatus


class MalformedEvent(Exception):
    """The event lacks the id of the object it is about; retrying cannot help."""


def object_id(event: Event, resource: str, field: str) -> str:
    """The id of the event's object, e.g. ``object.checkout_session.checkout_session_id``."""
    body = event.resource(resource)
    value = body.get(field) if body else None
    if not isinstance(value, str) or not value:
        raise MalformedEvent(f"{event.event_type} event has no object.{resource}.{field}")
    return value


async def on_checkout_completed(services: Services, event: Event) -> Apply:
    """Fulfill the session (the same path as the success page and the reconciler)."""
    session_id = object_id(event, "checkout_session", "checkout_session_id")
    if await services.session_orders.order_of(session_id) is not None:
        return nothing  # a duplicate, or another door came first: no API call
    plan = await plan_checkout(services, session_id)  # NotComplete → retried later
    return CheckoutApply(services, plan)


@dataclass(frozen=True)
class CheckoutApply(BatchApply):
    """Writes a webhook's order; a batch of them goes in one set of statements."""

    services: Services
    plan: CheckoutPlan

    @classmethod
    async def apply_many(
        cls, conn: AsyncConnection, items: Sequence[CheckoutApply]
    ) -> list[int | None]:
        if not items:
            return []
        plans = [item.plan for item in items]
        results = await apply_checkouts(conn, items[0].services, plans, FulfilledVia.WEBHOOK)
        return [result.order_id for result in results]


async def on_payment_succeeded(services: Services, event: Event) -> Apply:
    """Record the payment; it never creates an order (a split cart brings two)."""
    intent_id = object_id(event, "payment_intent", "payment_intent_id")
    intent = await services.flex.get_payment_intent(intent_id)
    draft = PaymentDraft.from_intent(intent)
    session_id = _session_of(intent.model_extra or {}, intent.metadata or {})

    async def apply(conn: AsyncConnection) -> int | None:
        now = services.clock.now()
        order = await order_store.find_order(conn, session_id) if session_id else None
        order_id = order.order_id if order else None
        await order_store.record_payment(
            conn, draft, now=now, order_id=order_id, session_id=session_id
        )
        order_id = order_id or await order_store.order_of_payment(conn, intent_id)
        if order_id is not None:
            await order_store.refresh_amounts(conn, order_id, now)
        return order_id

    return apply


def _session_of(extra: dict[str, Any], metadata: dict[str, Any]) -> str | None:
    for source in (extra, metadata):
        value = source.get("checkout_session") or source.get("checkout_session_id")
        if isinstance(value, str) and value:
            return value
    return None


async def on_customer(services: Services, event: Event) -> Apply:
    """Upsert the customer as the API reports it now."""
    customer = await services.flex.get_customer(object_id(event, "customer", "customer_id"))

    async def apply(conn: AsyncConnection) -> int | None:
        await customer_store.upsert_customer(conn, customer, services.clock.now())
        return None

    return apply


async def on_subscription(services: Services, event: Event) -> Apply:
    """Store the subscription's current state; an older fetch never overwrites a newer one."""
    return await _sync_subscription(services, object_id(event, "subscription", "subscription_id"))


async def on_invoice_paid(services: Services, event: Event) -> Apply:
    """A paid invoice renews a subscription: re-fetch the subscription it belongs to."""
    invoice = event.resource("invoice") or {}
    sub = invoice.get("subscription")
    sub_id = sub.get("subscription_id") if isinstance(sub, dict) else sub
    if not isinstance(sub_id, str) or not sub_id:
        return nothing  # a one-off invoice: nothing to keep in step
    return await _sync_subscription(services, sub_id)


async def _sync_subscription(services: Services, subscription_id: str) -> Apply:
    fetched_at = services.clock.now()
    state = SubscriptionState.from_api(await services.flex.get_subscription(subscription_id))

    async def apply(conn: AsyncConnection) -> int | None:
        now = services.clock.now()
        await customer_store.save_subscription(conn, state, fetched_at=fetched_at, now=now)
        return None

    return apply


async def on_refund(services: Services, event: Event) -> Apply:
    """Record the refund and set the order paid, partly refunded or refunded."""
    refund = await services.flex.get_refund(object_id(event, "refund", "refund_id"))
    values = {
        "refund_id": refund.refund_id,
        "payment_intent_id": refund.payment_intent_id,
        "amount": refund.amount,
        "status": refund.status or "unknown",
        "reason": refund.reason,
    }

    async def apply(conn: AsyncConnection) -> int | None:
        now = services.clock.now()
        pi = refund.payment_intent_id
        order_id = await order_store.order_of_payment(conn, pi) if pi else None
        await order_store.record_refund(conn, values, order_id, now)
        if order_id is None:
            return None
        status = await order_store.refresh_amounts(conn, order_id, now)
        if status is OrderStatus.REFUNDED and services.restock_on_refund:
            await _restock(conn, order_id, now)
        return order_id

    return apply


async def _restock(conn: AsyncConnection, order_id: int, now: float) -> None:
    for line in await order_store.order_lines_of(conn, order_id):
        if line.product_id is None:
            continue
        await stock_store.move(
            conn,
            product_id=line.product_id,
            delta=inventory.restock_delta(line.quantity),
            reason=MovementReason.RESTOCK,
            now=now,
            order_line_id=line.id,
            note=f"order {order_id} refunded",
        )


ROUTES: dict[str, Handler] = {
    event_types.CHECKOUT_COMPLETED: on_checkout_completed,
    event_types.CHECKOUT_COMPLETED_ALT: on_checkout_completed,
    "payment_intent.succeeded": on_payment_succeeded,
    "customer.created": on_customer,
    "customer.updated": on_customer,
    "customer.subscription.created": on_subscription,
    "customer.subscription.updated": on_subscription,
    "customer.subscription.deleted": on_subscription,
    "invoice.payment_succeeded": on_invoice_paid,
    "refund.created": on_refund,
    "refund.updated": on_refund,
}


def default_registry() -> Registry:
    """A fresh routing table with the built-in handlers; add the merchant's to it."""
    return Registry(dict(ROUTES))


__all__ = ["ROUTES", "MalformedEvent", "NotComplete", "default_registry", "object_id"]
