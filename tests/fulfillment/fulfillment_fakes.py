"""A fake of the fulfillment port (FlexReader): Flex's objects in dicts, with failures on demand."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.flex import (
    CheckoutSession,
    Customer,
    LineItem,
    NotFoundError,
    PaymentIntent,
    Price,
    Refund,
    Subscription,
)
from flexfulfill.store.statuses import EventStatus
from flexfulfill.store.tables import webhook_events

_ids = itertools.count(1)


class FakeFlex:
    """Holds sessions, line items, intents, subscriptions, refunds, customers; counts calls."""

    def __init__(self) -> None:
        self.sessions: dict[str, CheckoutSession] = {}
        self.items: dict[str, list[LineItem]] = {}
        self.intents: dict[str, PaymentIntent] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.refunds: dict[str, Refund] = {}
        self.customers: dict[str, Customer] = {}
        self.failures: list[Exception] = []
        self.calls = 0

    def _call(self) -> None:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)

    async def get_checkout_session(self, session_id: str, /, **flags: Any) -> CheckoutSession:
        self._call()
        return _found(self.sessions, session_id)

    async def list_line_items(self, session_id: str, /) -> list[LineItem]:
        self._call()
        return list(self.items.get(session_id, []))

    async def list_checkout_sessions(
        self, *, status: str | None = None, limit: int = 100, **filters: Any
    ) -> AsyncIterator[CheckoutSession]:
        self._call()
        for session in list(self.sessions.values()):
            if status is None or session.status == status:
                yield session

    async def get_payment_intent(self, payment_intent_id: str, /) -> PaymentIntent:
        self._call()
        return _found(self.intents, payment_intent_id)

    async def get_subscription(self, subscription_id: str, /) -> Subscription:
        self._call()
        return _found(self.subscriptions, subscription_id)

    async def get_refund(self, refund_id: str, /) -> Refund:
        self._call()
        return _found(self.refunds, refund_id)

    async def get_customer(self, customer_id: str, /) -> Customer:
        self._call()
        return _found(self.customers, customer_id)

    def add_checkout(
        self,
        lines: list[tuple[str, int, int]],
        *,
        status: str = "complete",
        split: bool = False,
        created_at: int = 1_700_000_000,
        subscription: str | None = None,
    ) -> str:
        """A session with lines (product, quantity, unit cents) and its payment intent(s)."""
        n = next(_ids)
        session_id = f"fcs_{n:06d}"
        total = sum(q * unit for _, q, unit in lines)
        amounts = [total - total // 2, total // 2] if split else [total]
        pis = []
        for k, amount in enumerate(amounts):
            pi = f"fpi_{n:06d}_{k}"
            card = "primary" if k == 0 else "secondary"
            self.intents[pi] = PaymentIntent(
                payment_intent_id=pi,
                amount=amount,
                amount_received=amount,
                status="succeeded",
                payment_card_type=card,
                checkout_session=session_id,
            )
            pis.append(pi)
        self.sessions[session_id] = CheckoutSession(
            checkout_session_id=session_id,
            status=status,
            mode="subscription" if subscription else "payment",
            amount_total=total,
            amount_subtotal=total,
            payment_intents=pis,
            defaults={"email": f"buyer{n}@example.com", "first_name": "Ada"},
            created_at=created_at,
            subscription=subscription,
            test_mode=True,
        )
        self.items[session_id] = [
            LineItem(
                line_item_id=f"fli_{n:06d}_{k}",
                description=f"{product} item",
                quantity=q,
                amount_subtotal=q * unit,
                amount_total=q * unit,
                price=Price(price_id=f"fprice_{product}", unit_amount=unit, product=product),
            )
            for k, (product, q, unit) in enumerate(lines)
        ]
        return session_id


def _found(table: dict[str, Any], key: str) -> Any:
    if key not in table:
        raise NotFoundError(f"no such object {key}", status=404)
    return table[key]


def event_body(
    event_type: str, resource: str, obj: dict[str, Any], *, test_mode: bool = True
) -> bytes:
    """A Flex-shaped webhook body."""
    n = next(_ids)
    return json.dumps(
        {
            "event_id": f"fevt_{n:06d}",
            "event_type": event_type,
            "event_dt": 1_700_000_000,
            "test_mode": test_mode,
            "object": {resource: obj},
        }
    ).encode()


async def store_event(
    engine: AsyncEngine,
    body: bytes,
    *,
    message_id: str | None = None,
    received_at: float = 1_700_000_000.0,
) -> str:
    """Insert an inbox row the way the receiver does (pending, due at once)."""
    event = json.loads(body)
    message_id = message_id or f"msg_{next(_ids):08d}"
    async with engine.begin() as conn:
        await conn.execute(
            webhook_events.insert().values(
                message_id=message_id,
                event_id=event.get("event_id"),
                event_type=event.get("event_type"),
                test_mode=event.get("test_mode"),
                body=body,
                headers="{}",
                received_at=received_at,
                status=EventStatus.PENDING,
                attempts=0,
                next_attempt_at=received_at,
            )
        )
    return message_id
