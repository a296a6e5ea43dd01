"""What can go wrong talking to Flex, as one small tree rooted at :class:`FlexError`.

```
FlexError                  anything the client could not turn into the object asked for
├── AuthenticationError    401/403: the API key is missing, wrong, revoked or of the other mode
├── NotFoundError          404: no such object (in this mode: test and live objects are apart)
├── ValidationError        400/409/422: Flex rejected the request; ``.details`` holds its reasons
├── RateLimitedError       429 after the retries ran out; ``.retry_after`` says when to come back
├── ServerError            5xx after the retries ran out
└── NetworkError           no answer: connection refused or reset, timeout, broken response
```

Every error carries ``.status`` (the HTTP status, ``None`` when Flex never answered) and
``.what_to_do``, which its message ends with. The API key is never part of a message.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError as PydanticValidationError

from flexfulfill.flex._models import ErrorDetailItem


class FlexError(Exception):
    """Root of the client's errors. Catch this to handle every way a Flex call can fail."""

    what_to_do_default = "Check FLEX_API_BASE points at Flex (or the sandbox) and try again."

    def __init__(
        self,
        problem: str,
        *,
        status: int | None = None,
        what_to_do: str | None = None,
        code: str | None = None,
    ) -> None:
        self.problem = problem
        self.status = status
        self.code = code
        self.what_to_do = what_to_do or self.what_to_do_default
        super().__init__(f"{problem} {self.what_to_do}")


class AuthenticationError(FlexError):
    """Flex refused the API key (401) or its permissions (403)."""

    what_to_do_default = (
        "Check FLEX_API_KEY: copy a key from the Flex dashboard (Developers → API keys); "
        "test keys start fsk_test_, live keys fsk_, and each sees only its own mode's objects."
    )


class NotFoundError(FlexError):
    """The object does not exist, or exists only in the other mode (test vs live)."""

    what_to_do_default = (
        "Check the id (its prefix names the kind, e.g. fcs_ for a checkout session) and that "
        "FLEX_API_KEY is of the same mode (test/live) the object was created in."
    )


class ValidationError(FlexError):
    """Flex rejected the request itself; ``details`` are the entries of its ``detail`` list."""

    what_to_do_default = (
        "Fix the request as the details say; sending it again unchanged will fail again."
    )

    def __init__(
        self,
        problem: str,
        *,
        status: int | None = None,
        what_to_do: str | None = None,
        code: str | None = None,
        details: list[ErrorDetailItem] | None = None,
    ) -> None:
        self.details = list(details or [])
        super().__init__(problem, status=status, what_to_do=what_to_do, code=code)


class RateLimitedError(FlexError):
    """Flex answered 429 until the retry policy gave up; ``retry_after`` is its last hint."""

    what_to_do_default = "Slow down and retry later; the worker retries such events by itself."

    def __init__(self, problem: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        if retry_after is not None and "what_to_do" not in kwargs:
            kwargs["what_to_do"] = f"Retry after {retry_after:g} s, or slow down the caller."
        super().__init__(problem, status=429, **kwargs)


class ServerError(FlexError):
    """Flex failed (5xx) on every attempt the retry policy allowed."""

    what_to_do_default = (
        "Flex is having trouble; retry later (the worker does so by itself) and check "
        "https://status.withflex.com if it persists."
    )


class NetworkError(FlexError):
    """No usable answer: the connection failed, timed out or broke off."""

    what_to_do_default = (
        "Check the network and FLEX_API_BASE (is the host reachable, is the sandbox running?), "
        "then retry."
    )


_BY_STATUS: dict[int, type[FlexError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: AuthenticationError,
    404: NotFoundError,
    409: ValidationError,
    422: ValidationError,
}


def error_from_response(
    what: str, status: int, body: Any, retry_after: float | None = None
) -> FlexError:
    """The error for a non-2xx answer to ``what`` (e.g. ``"GET /v1/customers/fcus_1"``)."""
    message, code, details = _read_body(body)
    problem = f"Flex answered {what} with {status}" + (f": {message}." if message else ".")
    if status == 429:
        return RateLimitedError(problem, retry_after=retry_after, code=code)
    if status >= 500:
        return ServerError(problem, status=status, code=code)
    cls = _BY_STATUS.get(status, FlexError)
    if cls is ValidationError:
        return ValidationError(problem, status=status, code=code, details=details)
    return cls(problem, status=status, code=code)


def _read_body(body: Any) -> tuple[str, str | None, list[ErrorDetailItem]]:
    """Message, code and detail items from any of the error shapes seen in the wild."""
    if not isinstance(body, dict):
        return (str(body)[:200] if body else "", None, [])
    detail = body.get("detail")
    if isinstance(detail, list):
        items = _detail_items(detail)
        message = "; ".join(_describe(item) for item in items)
        return message, (items[0].type or None) if items else None, items
    if isinstance(detail, str):
        return detail, None, []
    error = body.get("error")
    source = error if isinstance(error, dict) else body
    code = source.get("code") or source.get("type")
    message = source.get("message") or (error if isinstance(error, str) else "")
    return str(message or ""), str(code) if code else None, []


def _detail_items(raw: list[Any]) -> list[ErrorDetailItem]:
    items = []
    for entry in raw:
        try:
            items.append(ErrorDetailItem.model_validate(entry))
        except PydanticValidationError:
            items.append(ErrorDetailItem(msg=str(entry)))
    return items


def _describe(item: ErrorDetailItem) -> str:
    where = ".".join(str(part) for part in item.loc if part != "body")
    return f"{where}: {item.msg}" if where else item.msg
