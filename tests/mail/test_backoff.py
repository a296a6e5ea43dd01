"""The retry schedule of temporarily failed receipts."""

from __future__ import annotations

from flexfulfill.mail import Backoff


def test_delays_double_from_the_base_up_to_the_cap() -> None:
    """Without jitter: 5, 10, 20, … seconds, never above an hour."""
    backoff = Backoff(random=lambda: 0.5)
    assert [backoff.delay(n) for n in (1, 2, 3, 4)] == [5.0, 10.0, 20.0, 40.0]
    assert backoff.delay(12) == backoff.delay(10_000) == 3600.0


def test_jitter_spreads_a_delay_both_ways_but_never_past_the_cap() -> None:
    """The random source moves a delay by up to ±20 %, capped."""
    low, high = Backoff(random=lambda: 0.0), Backoff(random=lambda: 0.999999)
    assert low.delay(3) == 16.0
    assert 23.99 < high.delay(3) <= 24.0
    assert high.delay(20) == 3600.0
    assert low.delay(20) == 2880.0


def test_a_receipt_runs_out_of_attempts_at_the_maximum() -> None:
    """exhausted is true from max_attempts on."""
    backoff = Backoff(max_attempts=3)
    assert [backoff.exhausted(n) for n in (1, 2, 3, 4)] == [False, False, True, True]
