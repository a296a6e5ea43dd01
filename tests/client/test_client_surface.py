"""The public surface of flexfulfill.flex is exactly its __all__ (after httpx's own test)."""

from __future__ import annotations

import flexfulfill.flex as flex


def test_all_public_names_are_exactly_dunder_all() -> None:
    """Every public name is exported, and nothing in __all__ is missing or private."""
    public = sorted(name for name in vars(flex) if not name.startswith("_"))
    assert sorted(flex.__all__) == public


def test_dunder_all_has_no_duplicates() -> None:
    """Each name is listed once."""
    assert len(flex.__all__) == len(set(flex.__all__))


def test_the_client_its_policy_and_every_error_class_are_public() -> None:
    """What callers catch and build is importable from flexfulfill.flex."""
    expected = {
        "FlexClient", "RetryPolicy", "FlexError", "AuthenticationError", "NotFoundError",
        "ValidationError", "RateLimitedError", "ServerError", "NetworkError",
    }  # fmt: skip
    assert expected <= set(flex.__all__)
    assert all(
        issubclass(getattr(flex, name), flex.FlexError) for name in expected if "Error" in name
    )
