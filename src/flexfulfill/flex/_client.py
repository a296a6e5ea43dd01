"""The async Flex API client: one method per operation flexfulfill uses, typed and permissive.

Build it in the composition root (``bootstrap.build_flex_client``); tests hand it a sandbox URL,
a :class:`~flexfulfill.clock.ManualClock` and :meth:`RetryPolicy.testing`.

Idempotency: every POST carries an ``Idempotency-Key``. Pass ``idempotency_key`` derived from
your own identity of the operation (say, the inbox event id) when it must happen once across
process restarts; otherwise the client makes a fresh key per logical call and sends that same key
on each of its retries, so a retry after a lost answer cannot create or charge twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from operator import attrgetter
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from flexfulfill.clock import Clock, ManualClock
from flexfulfill.flex._http import HTTPCore
from flexfulfill.flex._models import (
    CheckoutSession,
    Customer,
    Event,
    FlexModel,
    LineItem,
    PaymentIntent,
    PaymentLink,
    Price,
    Product,
    Refund,
    Subscription,
    Webhook,
)
from flexfulfill.flex._pagination import check_limit, paginate, read_list, read_one
from flexfulfill.flex._retry import RetryPolicy

M = TypeVar("M", bound=FlexModel)
DEFAULT_BASE_URL = "https://api.withflex.com"
Params = dict[str, Any]


class FlexClient:
    """Flex's REST API over httpx, with retries by :class:`RetryPolicy` on the given clock."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        retry: RetryPolicy | None = None,
        clock: Clock | ManualClock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 15.0,
    ) -> None:
        if not api_key or not api_key.strip():
            raise ValueError("api_key is empty; set FLEX_API_KEY (fsk_test_… or fsk_…)")
        self.base_url = _normalize_base(base_url)
        self.test_mode = api_key.startswith("fsk_test_")
        self._core = HTTPCore(
            api_key.strip(),
            self.base_url,
            retry=retry or RetryPolicy(),
            clock=clock.as_clock() if isinstance(clock, ManualClock) else clock or Clock(),
            transport=transport,
            timeout=timeout,
        )

    def __repr__(self) -> str:
        mode = "test" if self.test_mode else "live"
        return f"<FlexClient {self.base_url} {mode} mode>"

    async def aclose(self) -> None:
        """Close the connection pool; the client cannot be used afterwards."""
        await self._core.aclose()

    async def __aenter__(self) -> FlexClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ── checkout sessions ────────────────────────────────────────────────────────────
    async def create_checkout_session(
        self, params: Params, *, idempotency_key: str | None = None
    ) -> CheckoutSession:
        """Create a session; send the shopper to its ``redirect_url``."""
        return await self._create(CheckoutSession, "/v1/checkout/sessions", params, idempotency_key)

    async def get_checkout_session(self, session_id: str, **flags: Any) -> CheckoutSession:
        """One session; ``flags`` are Flex's query flags, e.g. ``expand_customer=True``."""
        return await self._get(CheckoutSession, f"/v1/checkout/sessions/{_q(session_id)}", flags)

    def list_checkout_sessions(
        self, *, status: str | None = None, limit: int = 100, **filters: Any
    ) -> AsyncIterator[CheckoutSession]:
        """Every session matching the filters (Flex's names, e.g. ``client_reference_id``)."""
        return self._list(CheckoutSession, "/v1/checkout/sessions", limit, status=status, **filters)

    async def list_line_items(self, session_id: str) -> list[LineItem]:
        what = f"/v1/checkout/sessions/{_q(session_id)}/line_items"
        return read_list(LineItem, await self._core.request("GET", what), "line_items", what)

    async def expire_checkout_session(self, session_id: str) -> CheckoutSession:
        """Expire an open session so it can no longer be paid."""
        path = f"/v1/checkout/sessions/{_q(session_id)}/expire"
        return await self._create(CheckoutSession, path, None, None)

    # ── customers ────────────────────────────────────────────────────────────────────
    async def create_customer(
        self, params: Params, *, idempotency_key: str | None = None
    ) -> Customer:
        return await self._create(Customer, "/v1/customers", params, idempotency_key)

    async def get_customer(self, customer_id: str) -> Customer:
        return await self._get(Customer, f"/v1/customers/{_q(customer_id)}")

    def list_customers(self, *, limit: int = 100, **filters: Any) -> AsyncIterator[Customer]:
        return self._list(Customer, "/v1/customers", limit, **filters)

    async def update_customer(self, customer_id: str, params: Params) -> Customer:
        return await self._update(Customer, "PATCH", f"/v1/customers/{_q(customer_id)}", params)

    # ── payment intents ──────────────────────────────────────────────────────────────
    async def get_payment_intent(self, payment_intent_id: str, **flags: Any) -> PaymentIntent:
        path = f"/v1/payment_intents/{_q(payment_intent_id)}"
        return await self._get(PaymentIntent, path, flags)

    def list_payment_intents(
        self, *, limit: int = 100, **filters: Any
    ) -> AsyncIterator[PaymentIntent]:
        """Filters as Flex names them, e.g. ``checkout_session=`` or ``customer=``."""
        return self._list(PaymentIntent, "/v1/payment_intents", limit, **filters)

    # ── subscriptions ────────────────────────────────────────────────────────────────
    async def get_subscription(self, subscription_id: str, **flags: Any) -> Subscription:
        return await self._get(Subscription, f"/v1/subscriptions/{_q(subscription_id)}", flags)

    def list_subscriptions(
        self, *, limit: int = 100, **filters: Any
    ) -> AsyncIterator[Subscription]:
        return self._list(Subscription, "/v1/subscriptions", limit, **filters)

    async def update_subscription(self, subscription_id: str, params: Params) -> Subscription:
        path = f"/v1/subscriptions/{_q(subscription_id)}"
        return await self._update(Subscription, "PATCH", path, params)

    async def cancel_subscription(self, subscription_id: str) -> Subscription:
        """Cancel at the end of the period: no further charges (Flex's ``DELETE``)."""
        path = f"/v1/subscriptions/{_q(subscription_id)}"
        body = await self._core.request("DELETE", path)
        return read_one(Subscription, body, "subscription", f"DELETE {path}")

    # ── refunds ──────────────────────────────────────────────────────────────────────
    async def create_refund(self, params: Params, *, idempotency_key: str | None = None) -> Refund:
        """Refund (part of) a payment intent. Pass a key derived from what you refund."""
        return await self._create(Refund, "/v1/refunds", params, idempotency_key)

    async def get_refund(self, refund_id: str) -> Refund:
        return await self._get(Refund, f"/v1/refunds/{_q(refund_id)}")

    def list_refunds(self, *, limit: int = 100, **filters: Any) -> AsyncIterator[Refund]:
        """Filters as Flex names them, e.g. ``status=`` or ``payment_intent=``."""
        return self._list(Refund, "/v1/refunds", limit, **filters)

    # ── products and prices ──────────────────────────────────────────────────────────
    async def create_product(
        self, params: Params, *, idempotency_key: str | None = None
    ) -> Product:
        return await self._create(Product, "/v1/products", params, idempotency_key)

    async def get_product(self, product_id: str) -> Product:
        return await self._get(Product, f"/v1/products/{_q(product_id)}")

    def list_products(self, *, limit: int = 100, **filters: Any) -> AsyncIterator[Product]:
        return self._list(Product, "/v1/products", limit, **filters)

    async def create_price(self, params: Params, *, idempotency_key: str | None = None) -> Price:
        return await self._create(Price, "/v1/prices", params, idempotency_key)

    async def get_price(self, price_id: str) -> Price:
        return await self._get(Price, f"/v1/prices/{_q(price_id)}")

    # ── payment links ────────────────────────────────────────────────────────────────
    async def create_payment_link(
        self, params: Params, *, idempotency_key: str | None = None
    ) -> PaymentLink:
        return await self._create(PaymentLink, "/v1/payment_links", params, idempotency_key)

    async def get_payment_link(self, payment_link_id: str) -> PaymentLink:
        return await self._get(PaymentLink, f"/v1/payment_links/{_q(payment_link_id)}")

    def list_payment_links(self, *, limit: int = 100, **filters: Any) -> AsyncIterator[PaymentLink]:
        return self._list(PaymentLink, "/v1/payment_links", limit, **filters)

    # ── webhook endpoints ────────────────────────────────────────────────────────────
    async def create_webhook(
        self, params: Params, *, idempotency_key: str | None = None
    ) -> Webhook:
        """Register ``{"url": …, "events": [...]}``; only this answer carries the secret."""
        return await self._create(Webhook, "/v1/webhooks", params, idempotency_key)

    def list_webhooks(self, *, limit: int = 100, **filters: Any) -> AsyncIterator[Webhook]:
        return self._list(Webhook, "/v1/webhooks", limit, **filters)

    async def get_webhook(self, webhook_id: str) -> Webhook:
        return await self._get(Webhook, f"/v1/webhooks/{_q(webhook_id)}")

    async def update_webhook(self, webhook_id: str, params: Params) -> Webhook:
        """Change url, events or ``enabled`` (Flex updates webhooks with a POST)."""
        return await self._update(Webhook, "POST", f"/v1/webhooks/{_q(webhook_id)}", params)

    async def delete_webhook(self, webhook_id: str) -> None:
        await self._core.request("DELETE", f"/v1/webhooks/{_q(webhook_id)}")

    # ── events ───────────────────────────────────────────────────────────────────────
    def list_events(self, *, limit: int = 100, **filters: Any) -> AsyncIterator[Event]:
        return self._list(Event, "/v1/events", limit, **filters)

    async def get_event(self, event_id: str) -> Event:
        return await self._get(Event, f"/v1/events/{_q(event_id)}")

    async def retry_event(self, event_id: str, webhook_id: str) -> Event:
        """Deliver the event to that webhook endpoint again (same ``svix-id``)."""
        path = f"/v1/events/{_q(event_id)}/retry"
        return await self._create(Event, path, {"webhook_id": webhook_id}, None)

    # ── the few shapes every method above is made of ─────────────────────────────────
    async def _get(self, model: type[M], path: str, flags: Params | None = None) -> M:
        body = await self._core.request("GET", path, params=flags)
        return read_one(model, body, _key(model), f"GET {path}")

    async def _create(
        self, model: type[M], path: str, params: Params | None, idempotency_key: str | None
    ) -> M:
        key = _key(model)
        body = None if params is None else _envelope(key, params)
        answer = await self._core.request("POST", path, body=body, idempotency_key=idempotency_key)
        return read_one(model, answer, key, f"POST {path}")

    async def _update(self, model: type[M], method: str, path: str, params: Params) -> M:
        key = _key(model)
        answer = await self._core.request(method, path, body=_envelope(key, params))
        return read_one(model, answer, key, f"{method} {path}")

    def _list(self, model: type[M], path: str, limit: int, **params: Any) -> AsyncIterator[M]:
        key, what = _key(model) + "s", f"GET {path}"
        id_of = attrgetter(_key(model) + "_id")

        async def get_page(query: Params) -> Any:
            return await self._core.request("GET", path, params=query)

        return paginate(
            get_page,
            lambda body: read_list(model, body, key, what),
            id_of,
            params,
            check_limit(limit),
        )


_KEYS: dict[type[FlexModel], str] = {
    CheckoutSession: "checkout_session",
    LineItem: "line_item",
    PaymentIntent: "payment_intent",
    PaymentLink: "payment_link",
}


def _key(model: type[FlexModel]) -> str:
    """The envelope key of a model: ``checkout_session`` for CheckoutSession, and so on."""
    return _KEYS.get(model, model.__name__.lower())


def _envelope(key: str, params: Params) -> Params:
    """``{key: params}``, unless the caller already wrapped it."""
    return params if set(params) == {key} else {key: params}


def _normalize_base(base_url: str) -> str:
    """Accept ``https://api.withflex.com``, with or without a trailing ``/`` or ``/v1``."""
    base = base_url.strip().rstrip("/")
    return base.removesuffix("/v1")


def _q(object_id: str) -> str:
    """An id as one path segment: a ``/`` or ``?`` in it (say, from a success-page URL) cannot
    reach another endpoint."""
    return quote(object_id, safe="")
