"""The receiver's Prometheus metrics, in a registry per app (so tests can build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from flexfulfill.store.statuses import EventStatus

# Acknowledgement latency buckets around the 20 ms goal (docs/benchmarks.md).
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ReceiverMetrics:
    """Received (new, by stored status), duplicates, refused (by reason), ack latency."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._received = Counter(
            "flexfulfill_webhooks_received",
            "Verified webhook messages stored as new rows, by stored status.",
            ["status"],
            registry=registry,
        )
        self._duplicates = Counter(
            "flexfulfill_webhooks_duplicates",
            "Verified redeliveries of a message id already stored (answered 2xx, nothing stored).",
            registry=registry,
        )
        self._refused = Counter(
            "flexfulfill_webhooks_refused",
            "Webhook requests refused (4xx) or not stored (503), by reason code.",
            ["reason"],
            registry=registry,
        )
        self._ack = Histogram(
            "flexfulfill_webhook_ack_seconds",
            "Time from request to a durable 2xx acknowledgement.",
            buckets=ACK_BUCKETS,
            registry=registry,
        )

        self._by_status = {s: self._received.labels(s.value) for s in EventStatus}

    def stored(self, status: EventStatus, seconds: float) -> None:
        self._by_status[status].inc()
        self._ack.observe(seconds)

    def duplicate(self, seconds: float) -> None:
        self._duplicates.inc()
        self._ack.observe(seconds)

    def refused(self, reason: str) -> None:
        self._refused.labels(reason).inc()
