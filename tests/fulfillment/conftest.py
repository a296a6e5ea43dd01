"""Fixtures of the fulfillment tests: services on a fresh database with a fake Flex port."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fulfillment_fakes import FakeFlex
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.clock import ManualClock
from flexfulfill.fulfillment.context import Services
from flexfulfill.fulfillment.handlers import default_registry
from flexfulfill.fulfillment.retry import EventRetryPolicy
from flexfulfill.fulfillment.worker import Worker, WorkerConfig


@pytest.fixture
def flex() -> FakeFlex:
    return FakeFlex()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def services(engine: AsyncEngine, flex: FakeFlex, clock: ManualClock) -> Services:
    return Services(engine, flex, clock.as_clock(), default_registry())


@pytest.fixture
def make_worker(services: Services) -> Callable[..., Worker]:
    def make(**overrides: object) -> Worker:
        config = {
            "concurrency": 8,
            "lease_seconds": 30.0,
            "retry": EventRetryPolicy(jitter=lambda: 1.0),
        }
        config.update(overrides)
        return Worker(services, WorkerConfig(**config))  # type: ignore[arg-type]

    return make
