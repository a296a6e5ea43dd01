"""The error tree: which class each answer becomes, and that each says what to do."""

from __future__ import annotations

import pytest

from flexfulfill.flex import (
    AuthenticationError,
    FlexError,
    NetworkError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    ValidationError,
)
from flexfulfill.flex._errors import error_from_response

FLEX_422 = {
    "detail": [
        {"loc": ["price"], "msg": "price_not_found: One or more prices are not valid",
         "type": "price_not_found"}
    ]
}  # fmt: skip


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, ValidationError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, NotFoundError),
        (409, ValidationError),
        (422, ValidationError),
        (429, RateLimitedError),
        (500, ServerError),
        (503, ServerError),
        (418, FlexError),
    ],
)
def test_each_status_maps_to_its_error_class(status: int, cls: type[FlexError]) -> None:
    """The status decides the class; the status is kept on the error."""
    error = error_from_response("GET /v1/x", status, {"detail": "nope"})
    assert type(error) is cls
    assert error.status == status


@pytest.mark.parametrize(
    "cls",
    [FlexError, AuthenticationError, NotFoundError, ValidationError, RateLimitedError,
     ServerError, NetworkError],
)  # fmt: skip
def test_every_error_message_ends_with_what_to_do(cls: type[FlexError]) -> None:
    """Each class has its own advice, and the message carries it."""
    error = cls("Flex answered GET /v1/x with 400.")
    assert error.what_to_do
    assert str(error).endswith(error.what_to_do)
    assert cls is FlexError or error.what_to_do != FlexError.what_to_do_default


def test_flexs_422_detail_becomes_details_code_and_message() -> None:
    """The plugin's observed 422 shape is read entry by entry."""
    error = error_from_response("POST /v1/checkout/sessions", 422, FLEX_422)
    assert isinstance(error, ValidationError)
    assert error.code == "price_not_found"
    assert error.details[0].loc == ["price"]
    assert "price: price_not_found: One or more prices are not valid" in str(error)


@pytest.mark.parametrize(
    ("body", "message", "code"),
    [
        ({"detail": "Not Found"}, "Not Found", None),
        ({"error": {"code": "idempotency_key_required", "message": "Send one"}}, "Send one",
         "idempotency_key_required"),
        ({"code": "checkout_session_expired", "message": "Expired"}, "Expired",
         "checkout_session_expired"),
        ("<html>bad gateway</html>", "<html>bad gateway</html>", None),
        (None, "", None),
        ({"detail": ["odd entry"]}, "odd entry", None),
    ],
)  # fmt: skip
def test_other_error_shapes_are_read_forgivingly(body: object, message: str, code: str) -> None:
    """FastAPI strings, error objects, bare codes, text and empty bodies all give a message."""
    error = error_from_response("GET /v1/x", 400, body)
    assert message in str(error)
    assert error.code == code


def test_rate_limited_says_when_to_retry() -> None:
    """The Retry-After hint is kept and put into the advice."""
    error = error_from_response("GET /v1/x", 429, {}, retry_after=3.0)
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 3.0
    assert error.what_to_do.startswith("Retry after 3 s")
