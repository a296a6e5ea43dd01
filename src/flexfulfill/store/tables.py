"""The merchant side's tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Times are Unix seconds (floating point): one representation on both engines, and the same
number the injectable clocks return. Money is integer cents. Statuses are the enums in
:mod:`flexfulfill.store.statuses`, stored as their string values.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from flexfulfill.store.statuses import EventStatus

# BIGINT primary keys on PostgreSQL, INTEGER (the rowid alias) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# The inbox: one row per verified webhook message, whatever its type.
webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("message_id", String(255), nullable=False, unique=True),
    Column("event_id", String(255)),
    Column("event_type", String(255)),
    Column("test_mode", Boolean),
    Column("body", LargeBinary, nullable=False),
    Column("headers", Text, nullable=False),  # JSON of the signature headers as received
    Column("received_at", Float, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float),
    Column("lease_until", Float),
    Column("locked_by", String(255)),
    Column("last_error", Text),
    Column("processed_at", Float),
)
Index("ix_webhook_events_due", webhook_events.c.status, webhook_events.c.next_attempt_at)
Index("ix_webhook_events_event_id", webhook_events.c.event_id)
# The worker's queue: only rows still to do, so a claim never walks past done rows however
# large the inbox grows (the claim query repeats this predicate so both engines use it).
QUEUED_STATUSES = (EventStatus.PENDING.value, EventStatus.PROCESSING.value)
Index(
    "ix_webhook_events_queue",
    webhook_events.c.id,
    postgresql_where=webhook_events.c.status.in_(QUEUED_STATUSES),
    sqlite_where=webhook_events.c.status.in_(QUEUED_STATUSES),
)

# Processing history of inbox rows: one row per handler attempt (the dashboard's timeline).
event_attempts = Table(
    "event_attempts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("event_row_id", BigId, ForeignKey("webhook_events.id"), nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("worker", String(255)),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("outcome", String(16), nullable=False),  # done, retry, dead, ignored
    Column("error", Text),
    Column("order_id", BigId),
)

customers = Table(
    "customers",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("customer_id", String(64), nullable=False, unique=True),
    Column("email", String(320), index=True),
    Column("first_name", String(255)),
    Column("last_name", String(255)),
    Column("phone", String(64)),
    Column("test_mode", Boolean),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

orders = Table(
    "orders",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("checkout_session_id", String(64), nullable=False, unique=True),
    Column("status", String(32), nullable=False),  # OrderStatus
    Column("mode", String(32), nullable=False),
    Column("customer_id", String(64), index=True),
    Column("email", String(320), index=True),
    Column("customer_name", String(512)),
    Column("client_reference_id", String(255), index=True),
    Column("subscription_id", String(64), index=True),
    Column("amount_subtotal", BigInteger, nullable=False, default=0),
    Column("amount_tax", BigInteger, nullable=False, default=0),
    Column("amount_shipping", BigInteger, nullable=False, default=0),
    Column("amount_discount", BigInteger, nullable=False, default=0),
    Column("amount_total", BigInteger, nullable=False, default=0),
    Column("amount_refunded", BigInteger, nullable=False, default=0),
    Column("amount_paid", BigInteger, nullable=False, default=0),  # sum of its payments
    Column("test_mode", Boolean, nullable=False, default=True),
    Column("fulfilled_via", String(32), nullable=False),  # webhook, success_page, reconciler
    Column("metadata", Text),  # JSON
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("order_id", BigId, ForeignKey("orders.id"), nullable=False, index=True),
    Column("line_item_id", String(64), nullable=False),
    Column("product_id", String(64), index=True),
    Column("price_id", String(64)),
    Column("description", Text),
    Column("quantity", Integer, nullable=False),
    Column("unit_amount", BigInteger, nullable=False, default=0),
    Column("amount_subtotal", BigInteger, nullable=False, default=0),
    Column("amount_tax", BigInteger, nullable=False, default=0),
    Column("amount_discount", BigInteger, nullable=False, default=0),
    Column("amount_total", BigInteger, nullable=False, default=0),
    Column("hsa_fsa_eligibility", String(64)),
    Column("backordered", Boolean, nullable=False, default=False),
    UniqueConstraint("order_id", "line_item_id", name="uq_order_lines_order_line_item"),
)

# One row per Flex payment intent; a split cart has two for one checkout session.
payments = Table(
    "payments",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("payment_intent_id", String(64), nullable=False, unique=True),
    Column("checkout_session_id", String(64), index=True),
    Column("order_id", BigId, ForeignKey("orders.id"), index=True),
    Column("amount", BigInteger, nullable=False, default=0),
    Column("amount_received", BigInteger, nullable=False, default=0),
    Column("status", String(32), nullable=False),
    Column("payment_card_type", String(32)),
    Column("card_last4", String(4)),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

refunds = Table(
    "refunds",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("refund_id", String(64), nullable=False, unique=True),
    Column("payment_intent_id", String(64), index=True),
    Column("order_id", BigId, ForeignKey("orders.id"), index=True),
    Column("amount", BigInteger, nullable=False),
    Column("status", String(32), nullable=False),
    Column("reason", String(64)),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("subscription_id", String(64), nullable=False, unique=True),
    Column("customer_id", String(64), index=True),
    Column("order_id", BigId, ForeignKey("orders.id")),
    Column("status", String(32), nullable=False),
    Column("price_id", String(64)),
    Column("current_period_start", Float),
    Column("current_period_end", Float),
    Column("cancel_at_period_end", Boolean, nullable=False, default=False),
    Column("latest_invoice", String(64)),
    # When the state stored was fetched from the API: an older fetch never overwrites it.
    Column("fetched_at", Float),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# Stock on hand per Flex product.
stock = Table(
    "stock",
    metadata,
    Column("product_id", String(64), primary_key=True),
    Column("name", String(512)),
    Column("on_hand", BigInteger, nullable=False, default=0),
    Column("low_stock_threshold", Integer, nullable=False, default=5),
    Column("updated_at", Float, nullable=False),
)

# Every change of stock; UNIQUE (order line, reason) makes a sale's movement idempotent.
stock_movements = Table(
    "stock_movements",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("product_id", String(64), nullable=False, index=True),
    Column("order_line_id", BigId, ForeignKey("order_lines.id")),
    Column("reason", String(32), nullable=False),  # MovementReason
    Column("delta", BigInteger, nullable=False),
    Column("on_hand_after", BigInteger, nullable=False),
    Column("actor", String(255)),
    Column("note", Text),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("order_line_id", "reason", name="uq_stock_movements_line_reason"),
)

# Effects outside the database (receipt emails), written in the same transaction as the order.
outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("key", String(255), nullable=False),
    Column("order_id", BigId, ForeignKey("orders.id"), index=True),
    Column("payload", Text, nullable=False),  # JSON
    Column("status", String(16), nullable=False),  # OutboxStatus
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float),
    Column("lease_until", Float),
    Column("locked_by", String(255)),
    Column("last_error", Text),
    Column("message_id", String(255)),
    Column("recipient", String(320)),
    Column("created_at", Float, nullable=False),
    Column("sent_at", Float),
    UniqueConstraint("kind", "key", name="uq_outbox_kind_key"),
)
Index("ix_outbox_due", outbox.c.status, outbox.c.next_attempt_at)

# Messages received by the local SMTP server that `flexfulfill up` runs when SMTP_URL is unset.
mailbox = Table(
    "mailbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("message_id", String(255), index=True),
    Column("mail_from", String(320)),
    Column("rcpt_to", Text),
    Column("subject", Text),
    Column("raw", LargeBinary, nullable=False),
    Column("received_at", Float, nullable=False),
)

reconcile_state = Table(
    "reconcile_state",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("cursor", Float, nullable=False),  # created_at (Unix seconds) reached so far
    Column("updated_at", Float, nullable=False),
)

reconcile_runs = Table(
    "reconcile_runs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("since", Float),
    Column("sessions_seen", Integer, nullable=False, default=0),
    Column("orders_created", Integer, nullable=False, default=0),
    Column("error", Text),
    Column("actor", String(255)),
)

# Who did what from the dashboard or the CLI.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(255)),
    Column("detail", Text),
)
