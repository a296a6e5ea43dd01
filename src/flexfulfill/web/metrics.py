"""The receiver's Prometheus metrics, in a registry per app (so tests can build many apps).

Counted in plain integers and rendered on scrape by a custom collector: prometheus-client's
metric objects take a lock per update, which showed in the receiver's per-request profile. The
receiver runs on one event loop thread, so nothing here needs a lock.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from flexfulfill.store.statuses import EventStatus

# Acknowledgement latency buckets around the 20 ms goal (docs/benchmarks.md).
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ReceiverMetrics(Collector):
    """Received (new, by stored status), duplicates, refused (by reason), ack latency."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.received: Counter[str] = Counter({status.value: 0 for status in EventStatus})
        self.duplicates = 0
        self.refusals: Counter[str] = Counter()
        self._bucket_counts = [0] * (len(ACK_BUCKETS) + 1)  # the last one is +Inf
        self._ack_sum = 0.0
        registry.register(self)

    def stored(self, status: EventStatus, seconds: float) -> None:
        self.received[status] += 1
        self._ack(seconds)

    def duplicate(self, seconds: float) -> None:
        self.duplicates += 1
        self._ack(seconds)

    def refused(self, reason: str) -> None:
        self.refusals[reason] += 1

    def _ack(self, seconds: float) -> None:
        self._bucket_counts[bisect_left(ACK_BUCKETS, seconds)] += 1
        self._ack_sum += seconds

    def collect(self) -> Iterator[Metric]:
        received = CounterMetricFamily(
            "flexfulfill_webhooks_received",
            "Verified webhook messages stored as new rows, by stored status.",
            labels=["status"],
        )
        for status, count in self.received.items():
            received.add_metric([status], count)
        yield received
        yield CounterMetricFamily(
            "flexfulfill_webhooks_duplicates",
            "Verified redeliveries of a message id already stored (answered 2xx, nothing stored).",
            value=self.duplicates,
        )
        refused = CounterMetricFamily(
            "flexfulfill_webhooks_refused",
            "Webhook requests refused (4xx) or not stored (503), by reason code.",
            labels=["reason"],
        )
        for reason, count in self.refusals.items():
            refused.add_metric([reason], count)
        yield refused
        yield self._histogram()

    def _histogram(self) -> HistogramMetricFamily:
        cumulative, buckets = 0, []
        for bound, count in zip((*ACK_BUCKETS, float("inf")), self._bucket_counts, strict=True):
            cumulative += count
            buckets.append((_bound(bound), cumulative))
        return HistogramMetricFamily(
            "flexfulfill_webhook_ack_seconds",
            "Time from request to a durable 2xx acknowledgement.",
            buckets=buckets,
            sum_value=self._ack_sum,
        )


def _bound(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)
