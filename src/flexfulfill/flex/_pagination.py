"""Reading Flex's envelopes, and walking its lists page by page.

Flex wraps one object in a key named after it (``{"checkout_session": {...}}``) and a list in the
plural (``{"checkout_sessions": [...]}``). Lists page with ``limit`` (1–100) and a
``starting_after`` cursor (the last id seen) and say nothing about more pages (no
``has_more``), so a page shorter than ``limit`` is the last one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from pydantic import ValidationError as PydanticValidationError

from flexfulfill.flex._errors import FlexError
from flexfulfill.flex._models import FlexModel

M = TypeVar("M", bound=FlexModel)
MAX_LIMIT = 100

GetPage = Callable[[dict[str, Any]], Awaitable[Any]]


def read_one(model: type[M], body: Any, key: str, what: str) -> M:
    """The object under ``key``; a bare object without the envelope is accepted too."""
    raw = body.get(key, body) if isinstance(body, dict) else body
    return parse(model, raw, what)


def read_list(model: type[M], body: Any, key: str, what: str) -> list[M]:
    """The objects under the plural ``key`` (or ``data``, or a bare list)."""
    raw = body.get(key, body.get("data")) if isinstance(body, dict) else body
    if not isinstance(raw, list):
        raise FlexError(
            f"Flex answered {what} without a {key!r} list.",
            what_to_do="Check FLEX_API_BASE points at Flex or the sandbox, not another service.",
        )
    return [parse(model, item, what) for item in raw]


def parse(model: type[M], raw: Any, what: str) -> M:
    """``raw`` as ``model``; a shape we cannot read is a FlexError (never echoing the input,
    which may hold a signing secret)."""
    try:
        return model.model_validate(raw)
    except PydanticValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise FlexError(
            f"Flex answered {what} with a {model.__name__} we cannot read ({where}: "
            f"{first['msg']}).",
            what_to_do="Check FLEX_API_BASE points at Flex or the sandbox; if it does, report "
            "this response shape to the flexfulfill maintainers.",
        ) from None


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT} (Flex's page size range)")
    return limit


async def paginate(
    get_page: GetPage,
    read: Callable[[Any], list[M]],
    id_of: Callable[[M], str],
    params: dict[str, Any],
    limit: int,
) -> AsyncIterator[M]:
    """Every object of a list, fetching a page of ``limit`` at a time, until a short page."""
    cursor: str | None = params.pop("starting_after", None)
    while True:
        items = read(await get_page({**params, "limit": limit, "starting_after": cursor}))
        for item in items:
            yield item
        if len(items) < limit:
            return
        cursor = _next_cursor(cursor, id_of(items[-1]))


def _next_cursor(previous: str | None, last_id: str) -> str:
    if last_id == previous:  # the server ignored starting_after: stop instead of looping forever
        raise FlexError(
            f"Flex returned the same page again after {last_id}.",
            what_to_do="Check FLEX_API_BASE points at a server that supports starting_after.",
        )
    return last_id
