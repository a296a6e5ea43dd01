"""Seed rows and helpers for the dashboard tests (imported by its conftest and tests)."""

from __future__ import annotations

import json
import re
from email.message import EmailMessage

import httpx
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.domain.receipts import Receipt, ReceiptLine
from flexfulfill.store import tables as t

USER, PASSWORD = "ops@example.com", "correct horse battery staple"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NOW = 1_780_000_000.0
SESSION, PI_HSA, PI_CARD = "fcs_01SEEDSESSION0000000000001", "fpi_01SEEDHSA", "fpi_01SEEDCARD"
SUBSCRIPTION = "fsub_01SEEDSUB"
RECEIPT = Receipt(
    order_id=1,
    checkout_session_id="fcs_01SEEDSESSION0000000000001",
    email="ana@example.com",
    created_at=1_780_000_000.0,
    lines=(ReceiptLine("Compression socks", 2, 1999, 3998, "eligible"),),
    amount_subtotal=5998,
    amount_tax=0,
    amount_shipping=0,
    amount_discount=0,
    amount_total=5998,
)
MESSAGE_ID = "<order-1.receipt@flexfulfill.test>"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


async def log_in(http: httpx.AsyncClient, password: str = PASSWORD) -> httpx.Response:
    page = await http.get("/dashboard/login")
    form = {"username": USER, "password": password, "csrf_token": csrf_of(page.text)}
    return await http.post("/dashboard/login", data={**form, "next": "/dashboard/orders"})


def receipt_email() -> bytes:
    message = EmailMessage()
    message["Subject"] = "Your order #1 from Flex Demo Store"
    message["From"], message["To"] = "receipts@example.com", "ana@example.com"
    message["Message-ID"] = MESSAGE_ID
    message.set_content("Thank you, Ana. Compression socks x2")
    message.add_alternative("<p>Thank you, Ana. <b>Compression socks</b></p>", subtype="html")
    return message.as_bytes()


def _event(
    row_id: int, type_: str, status: str, obj: dict[str, object], **extra: object
) -> dict[str, object]:
    body = {"event_id": f"evt_{row_id}", "event_type": type_, "object": obj}
    values: dict[str, object] = {
        "id": row_id,
        "message_id": f"msg_{row_id}",
        "event_id": f"evt_{row_id}",
        "event_type": type_,
        "test_mode": True,
        "body": json.dumps(body).encode(),
        "headers": json.dumps({"svix-id": f"msg_{row_id}"}),
        "received_at": NOW + row_id,
        "status": status,
        "attempts": 1,
        "processed_at": NOW + row_id + 1,
    }
    return {**values, **extra}


SEED: list[tuple[t.Table, list[dict[str, object]]]] = [
    (
        t.customers,
        [
            {
                "customer_id": "fcus_01ANA",
                "email": "ana@example.com",
                "first_name": "Ana",
                "last_name": "Lima",
                "created_at": NOW,
                "updated_at": NOW,
            }
        ],
    ),
    (
        t.orders,
        [
            {
                "id": 1,
                "checkout_session_id": SESSION,
                "status": "paid",
                "mode": "subscription",
                "customer_id": "fcus_01ANA",
                "email": "ana@example.com",
                "customer_name": "Ana Lima",
                "client_reference_id": "cart-77",
                "subscription_id": SUBSCRIPTION,
                "amount_subtotal": 5998,
                "amount_total": 5998,
                "fulfilled_via": "webhook",
                "created_at": NOW,
                "updated_at": NOW,
            },
            {
                "id": 2,
                "checkout_session_id": "fcs_01OTHER",
                "status": "refunded",
                "mode": "payment",
                "email": "bo@example.com",
                "amount_total": 1000,
                "amount_refunded": 1000,
                "fulfilled_via": "success_page",
                "created_at": NOW,
                "updated_at": NOW,
            },
        ],
    ),
    (
        t.order_lines,
        [
            {
                "id": 1,
                "order_id": 1,
                "line_item_id": "li_1",
                "product_id": "fprod_SOCKS",
                "description": "Compression socks",
                "quantity": 2,
                "unit_amount": 1999,
                "amount_total": 3998,
                "hsa_fsa_eligibility": "eligible",
            },
            {
                "id": 2,
                "order_id": 1,
                "line_item_id": "li_2",
                "product_id": "fprod_CANDY",
                "description": "Candy bar",
                "quantity": 1,
                "unit_amount": 2000,
                "amount_total": 2000,
                "hsa_fsa_eligibility": "not_eligible",
                "backordered": True,
            },
        ],
    ),
    (
        t.payments,
        [
            {
                "payment_intent_id": PI_HSA,
                "checkout_session_id": SESSION,
                "order_id": 1,
                "amount": 3998,
                "amount_received": 3998,
                "status": "succeeded",
                "payment_card_type": "hsa_fsa",
                "card_last4": "4242",
                "created_at": NOW,
                "updated_at": NOW,
            },
            {
                "payment_intent_id": PI_CARD,
                "checkout_session_id": SESSION,
                "order_id": 1,
                "amount": 2000,
                "amount_received": 2000,
                "status": "succeeded",
                "payment_card_type": "credit",
                "card_last4": "1881",
                "created_at": NOW,
                "updated_at": NOW,
            },
        ],
    ),
    (
        t.subscriptions,
        [
            {
                "subscription_id": SUBSCRIPTION,
                "customer_id": "fcus_01ANA",
                "order_id": 1,
                "status": "active",
                "price_id": "fprice_MONTHLY",
                "current_period_start": NOW,
                "current_period_end": NOW + 30 * 86400,
                "created_at": NOW,
                "updated_at": NOW,
            }
        ],
    ),
    (
        t.stock,
        [
            {
                "product_id": "fprod_SOCKS",
                "name": "Compression socks",
                "on_hand": 3,
                "updated_at": NOW,
            },
            {"product_id": "fprod_CANDY", "name": "Candy bar", "on_hand": -1, "updated_at": NOW},
            {"product_id": "fprod_GAUZE", "name": "Gauze", "on_hand": 40, "updated_at": NOW},
        ],
    ),
    (
        t.stock_movements,
        [
            {
                "product_id": "fprod_SOCKS",
                "order_line_id": 1,
                "reason": "sale",
                "delta": -2,
                "on_hand_after": 3,
                "created_at": NOW,
            },
            {
                "product_id": "fprod_CANDY",
                "order_line_id": 2,
                "reason": "sale",
                "delta": -1,
                "on_hand_after": -1,
                "created_at": NOW,
            },
        ],
    ),
    (
        t.outbox,
        [
            {
                "id": 1,
                "kind": "receipt",
                "key": "order:1",
                "order_id": 1,
                "payload": RECEIPT.to_json(),
                "status": "sent",
                "attempts": 1,
                "message_id": MESSAGE_ID,
                "recipient": "ana@example.com",
                "created_at": NOW,
                "sent_at": NOW + 2,
            }
        ],
    ),
    (
        t.mailbox,
        [
            {
                "message_id": MESSAGE_ID,
                "mail_from": "receipts@example.com",
                "rcpt_to": "ana@example.com",
                "subject": "Your order #1",
                "raw": receipt_email(),
                "received_at": NOW + 2,
            }
        ],
    ),
    (
        t.webhook_events,
        [
            _event(1, "payment_intent.succeeded", "done", {"payment_intent": {"id": PI_HSA}}),
            _event(
                2,
                "checkout.session.completed",
                "done",
                {"checkout_session": {"checkout_session_id": SESSION}},
            ),
            _event(
                3,
                "customer.subscription.updated",
                "dead",
                {"subscription": {"id": SUBSCRIPTION}},
                attempts=8,
                last_error="FlexServerError: 503 from the Flex API",
            ),
            _event(
                4, "customer.created", "done", {"customer": {"customer_id": "fcus_01UNRELATED"}}
            ),
        ],
    ),
    (
        t.event_attempts,
        [
            {
                "event_row_id": 2,
                "attempt": 1,
                "worker": "w1",
                "started_at": NOW + 3,
                "finished_at": NOW + 3.1,
                "outcome": "done",
                "order_id": 1,
            },
            {
                "event_row_id": 3,
                "attempt": 8,
                "worker": "w1",
                "started_at": NOW + 4,
                "finished_at": NOW + 4.1,
                "outcome": "dead",
                "error": "FlexServerError: 503 from the Flex API",
            },
        ],
    ),
    (
        t.reconcile_runs,
        [
            {
                "started_at": NOW,
                "finished_at": NOW + 1,
                "since": NOW - 600,
                "sessions_seen": 5,
                "orders_created": 1,
                "actor": "reconciler",
            }
        ],
    ),
    (t.reconcile_state, [{"name": "checkout_sessions", "cursor": NOW - 60, "updated_at": NOW}]),
]


async def seed(engine: AsyncEngine) -> None:
    """A split-cart subscription order, a refunded order, stock and an inbox."""
    async with engine.begin() as conn:
        for table, rows in SEED:
            for row in rows:  # rows of one table differ in their columns
                await conn.execute(insert(table).values(**row))
            if conn.dialect.name == "postgresql" and "id" in table.c:
                # Explicit ids leave the sequence behind; later inserts must not collide.
                name = table.name
                await conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "  # noqa: S608 (our own table names)
                        f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {name}), false)"
                    )
                )
