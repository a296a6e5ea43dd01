"""Named statuses, stored as their string values."""

from __future__ import annotations

from enum import StrEnum


class EventStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    IGNORED = "ignored"
    DEAD = "dead"


class OrderStatus(StrEnum):
    PAID = "paid"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class MovementReason(StrEnum):
    SALE = "sale"
    RESTOCK = "restock"
    ADJUST = "adjust"
    IMPORT = "import"


class AttemptOutcome(StrEnum):
    """How one worker attempt at an inbox row ended (``event_attempts.outcome``)."""

    RUNNING = "running"
    DONE = "done"
    RETRY = "retry"
    DEAD = "dead"
    IGNORED = "ignored"
    LEASE_EXPIRED = "lease_expired"


class FulfilledVia(StrEnum):
    """Which of the three doors created an order (``orders.fulfilled_via``)."""

    WEBHOOK = "webhook"
    SUCCESS_PAGE = "success_page"
    RECONCILER = "reconciler"
