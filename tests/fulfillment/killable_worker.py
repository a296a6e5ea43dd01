"""A worker process for the kill -9 test: it stops inside the order's transaction and waits.

Usage: python killable_worker.py DATABASE_URL FLEX_API_BASE FLEX_API_KEY MARKER_FILE
An after-fulfilled hook (the merchant extension point) writes MARKER_FILE and sleeps, so the
test kills the process after the claim and the order's INSERT, before the commit.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection

from flexfulfill.bootstrap import build_worker
from flexfulfill.config import Settings
from flexfulfill.flex import FlexClient, RetryPolicy
from flexfulfill.fulfillment.handlers import default_registry
from flexfulfill.fulfillment.registry import FulfilledOrder
from flexfulfill.store.db import make_engine


async def main(database_url: str, base: str, key: str, marker: Path) -> None:
    registry = default_registry()

    @registry.after_fulfilled
    async def stall(_conn: AsyncConnection, _order: FulfilledOrder) -> None:
        marker.write_text("inside the transaction")
        await asyncio.sleep(3600)

    settings = Settings(
        database_url=database_url, flex_api_key=key, flex_api_base=base, lease_seconds=1.0
    )
    engine = make_engine(database_url)
    async with FlexClient(key, base, retry=RetryPolicy.testing()) as flex:
        worker = build_worker(settings, engine, flex, registry=registry)
        await worker.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])))
