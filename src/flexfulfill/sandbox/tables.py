"""The sandbox's own tables (never the merchant's schema), created with ``create_all``.

Flex objects are JSON documents in one table (``sandbox_objects``): the sandbox reads and
writes whole objects, so a document store keeps every resource a few lines of code. Events,
webhook endpoints, messages and attempts have their own tables because delivery queries them
by column on its hot path. ``sandbox_idempotency_keys`` keeps each keyed POST's answer
(sandbox/idempotency.py).
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()


class MessageStatus(StrEnum):
    PENDING = "pending"  # due at next_attempt_at
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the retry schedule ran out
    CANCELED = "canceled"  # its endpoint was disabled or deleted


class AttemptOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    HTTP_ERROR = "http_error"  # a non-2xx, non-3xx answer
    REDIRECT = "redirect"  # 3xx: a failure, never followed
    RATE_LIMITED = "rate_limited"  # 429
    TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"
    DROPPED = "dropped"  # fault injection: the attempt was never sent


objects = Table(
    "sandbox_objects",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("data", Text, nullable=False),
    Index("sandbox_objects_kind_seq", "kind", "seq"),
)

events = Table(
    "sandbox_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("event_type", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    # The exact JSON delivered: the same bytes for every endpoint and every retry.
    Column("body", Text, nullable=False),
)

webhooks = Table(
    "sandbox_webhooks",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("webhook_id", String(64), nullable=False, unique=True),
    Column("url", Text, nullable=False),
    Column("events", Text, nullable=False),  # JSON list; empty or ["*"] means every type
    Column("secret", String(128), nullable=False),
    # After a rotation the previous secret still signs (second) until previous_until.
    Column("previous_secret", String(128), nullable=True),
    Column("previous_until", Float, nullable=True),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("failing_since", Float, nullable=True),
    Column("created_at", Float, nullable=False),
)

messages = Table(
    "sandbox_messages",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(64), nullable=False, unique=True),
    Column("event_id", String(64), nullable=False),
    Column("webhook_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("failures", Integer, nullable=False, default=0),  # consecutive, this round
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=True),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("event_id", "webhook_id", name="sandbox_messages_event_webhook"),
    Index("sandbox_messages_due", "status", "next_attempt_at"),
)

attempts = Table(
    "sandbox_attempts",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("attempt_id", String(64), nullable=False, unique=True),
    Column("message_id", String(64), nullable=False, index=True),
    Column("event_id", String(64), nullable=False, index=True),
    Column("webhook_id", String(64), nullable=False, index=True),
    Column("attempted_at", Float, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("duration_ms", Float, nullable=False),
    Column("outcome", String(24), nullable=False),
    Column("response_excerpt", Text, nullable=False, default=""),
    Column("duplicate", Boolean, nullable=False, default=False),
    Column("next_attempt_at", Float, nullable=True),
)

idempotency_keys = Table(
    "sandbox_idempotency_keys",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("api_key_hash", String(64), nullable=False),  # SHA-256 of the API key, never the key
    Column("idempotency_key", String(255), nullable=False),
    Column("method", String(8), nullable=False),
    Column("path", Text, nullable=False),  # with the query string
    Column("request_hash", String(64), nullable=False),  # SHA-256 of the canonical JSON body
    Column("status_code", Integer, nullable=False),
    Column("headers", Text, nullable=False),  # JSON [[name, value], …] as first answered
    Column("body", LargeBinary, nullable=False),  # the exact bytes first answered
    Column("created_at", Float, nullable=False, index=True),  # sandbox clock; expiry
    UniqueConstraint("api_key_hash", "idempotency_key", name="sandbox_idempotency_keys_key"),
)
