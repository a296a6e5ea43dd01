"""Amounts and dates as receipts print them."""

from __future__ import annotations

import pytest

from flexfulfill.mail import format_cents, format_date, format_discount


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (0, "$0.00"),
        (1, "$0.01"),
        (10, "$0.10"),
        (99, "$0.99"),
        (100, "$1.00"),
        (123456, "$1,234.56"),
        (100_000_000, "$1,000,000.00"),
        (-1, "-$0.01"),
        (-500, "-$5.00"),
        (2**53 + 1, "$90,071,992,547,409.93"),
    ],
)
def test_cents_are_formatted_exactly(cents: int, text: str) -> None:
    """Integer cents become dollars with separators and two decimals, with no float rounding."""
    assert format_cents(cents) == text


@pytest.mark.parametrize("amount", [19.99, 1.0, True, "100"])
def test_amounts_that_are_not_integer_cents_are_refused(amount: object) -> None:
    """Floats, booleans and strings are refused rather than rounded."""
    with pytest.raises(TypeError, match="integer cents"):
        format_cents(amount)  # type: ignore[arg-type]


@pytest.mark.parametrize(("cents", "text"), [(500, "-$5.00"), (-500, "-$5.00"), (0, "$0.00")])
def test_a_discount_reads_negative_whichever_sign_it_was_stored_with(cents: int, text: str) -> None:
    """A discount always shows as a reduction."""
    assert format_discount(cents) == text


def test_dates_are_shown_in_utc_and_unknown_dates_as_a_dash() -> None:
    """Unix seconds print as a UTC calendar date; None prints as an em dash."""
    assert format_date(1_795_651_200.0) == "November 26, 2026"
    assert format_date(1_795_651_199.0) == "November 25, 2026"
    assert format_date(None) == "—"
