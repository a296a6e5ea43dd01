"""RetryPolicy as a value: backoff bounds, test mode, Retry-After parsing."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import pytest

from flexfulfill.flex import RetryPolicy
from flexfulfill.flex._retry import parse_retry_after


def test_jittered_backoff_stays_within_the_capped_exponential_ceiling() -> None:
    """Full jitter: every wait lies in [0, min(cap, base * 2**(n-1))]."""
    policy = RetryPolicy(base=0.5, cap=4.0, jitter=random.Random(7).random)
    for retry in range(1, 10):
        ceiling = min(4.0, 0.5 * 2 ** (retry - 1))
        waits = [policy.backoff(retry) for _ in range(50)]
        assert all(0.0 <= wait <= ceiling for wait in waits)
        assert max(waits) > ceiling / 2  # the jitter does spread the waits


def test_a_jitter_source_out_of_range_is_clamped() -> None:
    """A misbehaving jitter source cannot make waits negative or exceed the cap."""
    assert RetryPolicy(base=1, cap=2, jitter=lambda: 5.0).backoff(3) == 2.0
    assert RetryPolicy(base=1, cap=2, jitter=lambda: -1.0).backoff(3) == 0.0


def test_test_mode_is_deterministic_and_fast() -> None:
    """RetryPolicy.testing waits exactly base * 2**(n-1), capped, in hundredths of a second."""
    policy = RetryPolicy.testing()
    assert [policy.backoff(n) for n in (1, 2, 3, 4)] == [0.01, 0.02, 0.04, 0.04]
    assert policy.max_attempts == 3


def test_retry_after_raises_the_wait_but_never_lowers_it() -> None:
    """The server's hint is a floor."""
    policy = RetryPolicy(base=2, cap=8, jitter=lambda: 1.0)
    assert policy.wait(1, 5.0) == 5.0
    assert policy.wait(3, 5.0) == 8.0
    assert policy.wait(1, None) == 2.0


def test_never_means_one_attempt() -> None:
    """RetryPolicy.never is for callers with their own retry loop."""
    assert RetryPolicy.never().max_attempts == 1


@pytest.mark.parametrize(
    "kwargs", [{"max_attempts": 0}, {"base": -1.0}, {"cap": -1.0}, {"deadline": -1.0}]
)
def test_nonsense_policies_are_refused(kwargs: dict[str, Any]) -> None:
    """Zero attempts or negative times raise at construction, with the reason."""
    with pytest.raises(ValueError, match="must"):
        RetryPolicy(**kwargs)


@pytest.mark.parametrize(
    ("header", "seconds"), [("7", 7.0), (" 1.5 ", 1.5), ("-3", 0.0), ("", None), (None, None),
                            ("soon", None)]
)  # fmt: skip
def test_retry_after_in_seconds_is_parsed(header: str | None, seconds: float | None) -> None:
    """Delta-seconds parse; nonsense is ignored rather than trusted."""
    assert parse_retry_after(header, now=1_700_000_000.0) == seconds


def test_retry_after_as_an_http_date_is_relative_to_the_clock() -> None:
    """An HTTP date becomes the seconds from now until then."""
    now = 1_700_000_000.0
    header = format_datetime(datetime.fromtimestamp(now + 30, UTC), usegmt=True)
    assert parse_retry_after(header, now=now) == 30.0
