"""Flex's list parameters (limit, offset, starting_after, ending_before) over newest-first lists."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from flexfulfill.sandbox.errors import invalid
from flexfulfill.sandbox.present import Doc

Limit = Annotated[int | None, Query(ge=1, le=100)]
Offset = Annotated[int | None, Query(ge=0)]
Cursor = Annotated[str | None, Query()]


def paginate(
    docs: list[Doc],
    id_field: str,
    *,
    limit: int | None = None,
    offset: int | None = None,
    starting_after: str | None = None,
    ending_before: str | None = None,
) -> list[Doc]:
    """A page of ``docs`` (already newest first); cursors are object ids, as on Stripe."""
    size = limit or 10
    ids = [doc[id_field] for doc in docs]
    if starting_after is not None:
        docs = docs[_index(ids, starting_after, "starting_after") + 1 :]
    elif ending_before is not None:
        end = _index(ids, ending_before, "ending_before")
        return docs[max(0, end - size) : end]
    start = offset or 0
    return docs[start : start + size]


def _index(ids: list[str], cursor: str, name: str) -> int:
    try:
        return ids.index(cursor)
    except ValueError:
        raise invalid(
            "invalid_cursor", f"{cursor!r} is not an object in this list", ["query", name]
        ) from None
