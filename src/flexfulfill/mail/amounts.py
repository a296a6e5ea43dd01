"""Money and dates as a receipt shows them: integer cents in, text out, no floats in between."""

from __future__ import annotations

from datetime import UTC, datetime


def format_cents(cents: int, symbol: str = "$") -> str:
    """``123456`` → ``$1,234.56``; ``-500`` → ``-$5.00``. Refuses floats so nothing is rounded."""
    if isinstance(cents, bool) or not isinstance(cents, int):
        raise TypeError(f"amounts are integer cents, got {type(cents).__name__} {cents!r}")
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    return f"{sign}{symbol}{dollars:,}.{rest:02d}"


def format_discount(cents: int, symbol: str = "$") -> str:
    """A discount reduces the total, so it reads negative whichever sign it was stored with."""
    return format_cents(-abs(cents), symbol)


def format_date(timestamp: float | None) -> str:
    """Unix seconds → ``November 26, 2026`` (UTC); an unknown date reads as an em dash."""
    if timestamp is None:
        return "—"
    moment = datetime.fromtimestamp(timestamp, UTC)
    return f"{moment:%B} {moment.day}, {moment.year}"
