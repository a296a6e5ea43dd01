"""Worker processes for the fulfillment benchmark: each drains the inbox, as in production.

    .venv/bin/python -m bench.fulfillment_drain DATABASE_URL SOURCE

SOURCE is the sandbox's base URL (Flex over loopback HTTP) or the path of a pickled
``RecordedFlex`` (the same answers from memory). The process builds its engine and worker,
prints ``ready``, waits for a line on stdin, drains, and prints the wall-clock time (Unix
seconds) at which its last batch committed. Separate processes, so several workers use
several cores and never share one event loop.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from flexfulfill.bootstrap import build_services
from flexfulfill.config import Settings
from flexfulfill.flex import FlexClient, RetryPolicy
from flexfulfill.fulfillment.worker import Worker, WorkerConfig
from flexfulfill.store.db import make_engine

KEY = "fsk_test_bench_fulfillment"
ROOT = Path(__file__).resolve().parents[1]


async def _drain(url: str, source: str) -> None:
    engine = make_engine(url, pool_size=5)
    flex: Any
    if source.startswith("http"):
        flex = FlexClient(KEY, source, retry=RetryPolicy.testing())
    else:
        flex = pickle.loads(Path(source).read_bytes())  # noqa: S301 (written by this bench)
    settings = Settings(database_url=url, flex_api_key=KEY)
    worker = Worker(build_services(settings, engine, flex), WorkerConfig())
    async with engine.connect():  # connected before the start line
        pass
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await worker.drain()
    print(time.time(), flush=True)
    if isinstance(flex, FlexClient):
        await flex.aclose()
    await engine.dispose()


def run_workers(url: str, source: str, workers: int) -> float:
    """Start ``workers`` processes, let them drain together; seconds until the last commit."""
    args = [sys.executable, "-m", "bench.fulfillment_drain", url, source]
    procs = [
        subprocess.Popen(args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(workers)
    ]
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
    started = time.time()
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    ends = [float(proc.communicate(timeout=600)[0].split()[-1]) for proc in procs]
    return max(ends) - started


if __name__ == "__main__":
    logging.disable(logging.WARNING)  # one backorder warning per line would swamp the output
    asyncio.run(_drain(sys.argv[1], sys.argv[2]))
