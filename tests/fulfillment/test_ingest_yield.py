"""Acknowledgements first: the worker pauses between batches while webhooks flood in."""

from __future__ import annotations

import time
from collections.abc import Callable

from fulfillment_fakes import event_body, store_event

from flexfulfill.fulfillment.context import Services
from flexfulfill.fulfillment.worker import Worker


async def timed_yield(worker: Worker) -> float:
    started = time.monotonic()
    await worker._yield_to_ingest()
    return time.monotonic() - started


def look_again(worker: Worker) -> None:
    """As if the last look at the inbox were 0.2 s ago (rates are per wall-clock second)."""
    worker._ingest.sampled_at = time.monotonic() - 0.2


async def test_the_worker_pauses_only_while_webhooks_arrive_fast(
    services: Services, make_worker: Callable[..., Worker]
) -> None:
    worker = make_worker(ingest_storm=100.0, ingest_share=0.5)
    worker._batch_seconds = 0.1  # the last batch took 0.1 s: a pause of 0.1 s at a half share

    assert await timed_yield(worker) < 0.05  # the first look has nothing to compare with

    for k in range(40):  # 40 rows in 0.2 s: 200 per second, a storm at 100/s
        await store_event(
            services.engine,
            event_body("customer.created", "customer", {"customer_id": f"fcus_{k}"}),
        )
    look_again(worker)
    assert worker._ingest.storming is False
    paused = await timed_yield(worker)
    assert worker._ingest.storming is True
    assert 0.09 <= paused < 0.5

    look_again(worker)  # no new rows since: the storm is over
    assert await timed_yield(worker) < 0.05
    assert worker._ingest.storming is False


async def test_an_ordinary_flow_of_webhooks_never_pauses_the_worker(
    services: Services, make_worker: Callable[..., Worker]
) -> None:
    worker = make_worker(ingest_storm=100.0, ingest_share=0.1)
    worker._batch_seconds = 0.1
    await timed_yield(worker)
    for k in range(5):  # 5 rows in 0.2 s: 25 per second
        await store_event(
            services.engine,
            event_body("customer.created", "customer", {"customer_id": f"fcus_{k}"}),
        )
    look_again(worker)
    assert await timed_yield(worker) < 0.05
    assert worker._ingest.storming is False


async def test_yielding_can_be_turned_off(
    services: Services, make_worker: Callable[..., Worker]
) -> None:
    worker = make_worker(ingest_storm=0.0)
    worker._batch_seconds = 0.1
    await timed_yield(worker)
    for k in range(40):
        await store_event(
            services.engine,
            event_body("customer.created", "customer", {"customer_id": f"fcus_{k}"}),
        )
    look_again(worker)
    assert await timed_yield(worker) < 0.05
    assert worker._ingest.newest is None  # never even looked
