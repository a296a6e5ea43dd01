"""The merchant server of the latency benchmark, in its own process as in production.

    .venv/bin/python -m bench.fulfillment_serve DATABASE_URL WEBHOOK_SECRET FLEX_API_BASE

Receiver and worker in one server (what ``flexfulfill serve`` runs, without the reconciler,
which would fulfill the throughput runs' sessions in the middle of the measurement). Prints
its base URL, serves until stdin closes.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from bench.fulfillment_drain import KEY
from flexfulfill.bootstrap import build_worker
from flexfulfill.config import Settings
from flexfulfill.flex import FlexClient, RetryPolicy
from flexfulfill.store.db import make_engine
from flexfulfill.web.app import build_app
from flexfulfill.web.server import running


async def _serve(url: str, secret: str, api_base: str) -> None:
    settings = Settings(
        database_url=url, webhook_secrets=(secret,), flex_api_key=KEY, flex_api_base=api_base
    )
    engine = make_engine(url)
    async with FlexClient(KEY, api_base, retry=RetryPolicy.testing()) as flex:
        worker = build_worker(settings, engine, flex)
        app = build_app(settings, engine, background=[worker.run])
        async with running(app) as base:
            print(base, flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await engine.dispose()


if __name__ == "__main__":
    logging.disable(logging.WARNING)  # one backorder warning per line would swamp the output
    asyncio.run(_serve(*sys.argv[1:4]))
