"""The retry policy as a value: schedule, jitter, penalty, Retry-After, disabling."""

from __future__ import annotations

import random
from email.utils import formatdate

import pytest

from flexfulfill.sandbox.delivery import parse_retry_after
from flexfulfill.sandbox.retry import SVIX_SCHEDULE, RetryPolicy
from flexfulfill.sandbox.tables import AttemptOutcome

FAILED = AttemptOutcome.HTTP_ERROR


@pytest.mark.parametrize("failures", range(1, 8))
def test_each_delay_stays_within_twenty_percent_of_svixs_schedule(failures: int) -> None:
    """Over many draws the jitter never leaves ±20 %."""
    policy, rng = RetryPolicy(), random.Random(failures)
    base = SVIX_SCHEDULE[failures - 1]
    delays = [policy.delay(failures, FAILED, None, rng) for _ in range(500)]
    assert all(d is not None and 0.8 * base <= d <= 1.2 * base for d in delays)


def test_after_the_seventh_retry_the_policy_gives_up() -> None:
    """8 attempts in all: no delay after the 8th failure."""
    assert RetryPolicy().delay(8, FAILED, None, random.Random(1)) is None


def test_the_time_scale_compresses_every_delay() -> None:
    """time_scale 0.001 turns 5 s into 5 ms (± jitter)."""
    delay = RetryPolicy(time_scale=0.001).delay(1, FAILED, None, random.Random(1))
    assert delay is not None
    assert 0.004 <= delay <= 0.006


def test_retry_after_is_clamped_between_the_delay_and_twice_the_delay() -> None:
    """Too long → 2 × delay; too short → delay."""
    policy = RetryPolicy(jitter=0)
    assert policy.delay(1, FAILED, 3600, random.Random(1)) == 10.0
    assert policy.delay(1, FAILED, 1, random.Random(1)) == 5.0
    assert policy.delay(1, FAILED, 7, random.Random(1)) == 7.0


def test_an_endpoint_is_disabled_only_after_the_whole_window() -> None:
    """disable_after is measured from the first failure of the streak, scaled."""
    policy = RetryPolicy(disable_after=100, time_scale=0.5)
    assert not policy.should_disable(1000.0, 1049.0)
    assert policy.should_disable(1000.0, 1050.0)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    """'120' → 120 s; an HTTP date 60 s ahead → about 60 s; garbage → None."""
    now = 1_700_000_000.0
    assert parse_retry_after("120", now) == 120.0
    dated = parse_retry_after(formatdate(now + 60, usegmt=True), now)
    assert dated is not None
    assert 59 <= dated <= 61
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None
