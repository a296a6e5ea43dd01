"""The page walk as a property: any list size, any page size, every object once, in order."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from flexfulfill.flex import Customer
from flexfulfill.flex._pagination import paginate, read_list


class FlexLikeList:
    """A fake page source with Flex's semantics: limit, starting_after, no has_more."""

    def __init__(self, size: int) -> None:
        self.ids = [f"fcus_{n:04d}" for n in range(size, 0, -1)]  # newest first
        self.calls = 0

    async def page(self, query: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        after = query.get("starting_after")
        start = self.ids.index(after) + 1 if after else 0
        chunk = self.ids[start : start + query["limit"]]
        return {"customers": [{"customer_id": i} for i in chunk]}


async def walk(source: FlexLikeList, limit: int) -> list[str]:
    def read(body: Any) -> list[Customer]:
        return read_list(Customer, body, "customers", "GET /v1/customers")

    stream = paginate(source.page, read, lambda c: c.customer_id, {}, limit)
    return [customer.customer_id async for customer in stream]


@given(size=st.integers(0, 60), limit=st.integers(1, 25))
def test_the_walk_yields_every_object_once_with_the_fewest_requests(size: int, limit: int) -> None:
    """All ids in the server's order; size // limit + 1 requests (the last page is short)."""
    source = FlexLikeList(size)
    assert asyncio.run(walk(source, limit)) == source.ids
    assert source.calls == size // limit + 1
