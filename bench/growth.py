"""Growth: ingest throughput and claim latency with 1,000,000 events already in the inbox.

`.venv/bin/python -m bench growth` (or `make bench`). For each engine, two databases: one empty,
one holding GROWTH_ROWS (default 1,000,000) past events (1.5 KB bodies, as the receiver stores
them, spread over 30 days, mostly done). On each, in the same run:

- ingest: wrk posts distinct signed events to `flexfulfill serve` (the same load as
  bench/ingest.py), acknowledgements per second and p99;
- claim latency: 3,200 pending events are added, then claimed 32 at a time with the worker's
  own claim query (`flexfulfill.store.claims.claim`, one transaction each), p50 and p99.

Goal: the full inbox at ≥ 0.9× the empty one.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench.ingest import (
    PG_ADMIN,
    event_body,
    free_port,
    launch,
    measure,
    serve_env,
    stop,
    wait_listening,
    write_pool,
)
from bench.report import machine, write_section
from flexfulfill.config import normalize_database_url
from flexfulfill.store import claims
from flexfulfill.store.db import make_engine
from flexfulfill.store.migrate import upgrade

ROWS = int(os.environ.get("GROWTH_ROWS", "1000000"))
PENDING, BATCH = 3200, 32
COMMAND = ".venv/bin/python -m bench growth   # GROWTH_ROWS=1000000 by default"
COLUMNS = (
    "message_id",
    "event_id",
    "event_type",
    "test_mode",
    "body",
    "headers",
    "received_at",
    "status",
    "attempts",
    "processed_at",
)


@dataclass
class Outcome:
    engine: str
    backlog: int
    rps: float
    p99_ms: float
    claim_p50_ms: float
    claim_p99_ms: float
    seed_s: float = 0.0


def history(count: int, body: bytes, prefix: str, status: str = "done") -> Iterator[tuple]:  # type: ignore[type-arg]
    """``count`` inbox rows as the receiver and worker leave them."""
    now = time.time()
    for i in range(count):
        at = now - 30 * 86400 * (1 - i / max(1, count))
        yield (
            f"msg_{prefix}_{i}",
            f"fevt_{prefix}_{i}",
            "checkout.session.completed",
            True,
            body,
            '{"svix-id": "x"}',
            at,
            status if i % 500 else "ignored",
            1,
            at + 0.05 if status == "done" else None,
        )


def seed_sqlite(path: Path, rows: Iterator[tuple]) -> None:  # type: ignore[type-arg]
    conn = sqlite3.connect(path)
    try:
        marks = ", ".join("?" for _ in COLUMNS)
        sql = f"INSERT INTO webhook_events ({', '.join(COLUMNS)}) VALUES ({marks})"  # noqa: S608
        conn.executemany(sql, rows)
        conn.commit()
    finally:
        conn.close()


async def seed_postgres(url: str, rows: Iterator[tuple]) -> None:  # type: ignore[type-arg]
    conn = await asyncpg.connect(url)
    try:
        await conn.copy_records_to_table("webhook_events", records=rows, columns=list(COLUMNS))
        await conn.execute("ANALYZE webhook_events")
    finally:
        await conn.close()


async def claim_latency(url: str, body: bytes) -> tuple[float, float]:
    """Add PENDING due events, then claim them BATCH at a time; p50 and p99 in ms."""
    run = uuid.uuid4().hex[:6]
    if url.startswith("sqlite"):
        seed_sqlite(Path(url.split("///", 1)[1]), history(PENDING, body, run, "pending"))
    else:
        await seed_postgres(_plain(url), history(PENDING, body, run, "pending"))
    engine = make_engine(url)
    took: list[float] = []
    try:
        for _ in range(PENDING // BATCH):
            began = time.perf_counter()
            async with engine.begin() as conn:
                now = time.time()
                got = await claims.claim(
                    conn, now=now, lease=600, token=run, worker="bench", limit=BATCH
                )
            took.append((time.perf_counter() - began) * 1000)
            assert got, "nothing was due"
    finally:
        await engine.dispose()
    return statistics.median(took), statistics.quantiles(took, n=100)[98]


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _migrate(url: str) -> None:
    engine = make_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def ingest(url: str, work: Path, body: bytes) -> tuple[float, float]:
    port = free_port()
    proc = launch(
        [str(Path(__file__).parent.parent / ".venv/bin/flexfulfill"), "serve", "--port", str(port)],
        serve_env(url),
    )
    try:
        wait_listening(port, proc)
        result = measure("receiver", port, write_pool(work, body))
    finally:
        stop(proc)
    return result.rps, result.p99_ms


def one(engine: str, url: str, backlog: int, work: Path, body: bytes) -> Outcome:
    asyncio.run(_migrate(url))
    began = time.monotonic()
    if backlog and engine == "sqlite":
        seed_sqlite(Path(url.split("///", 1)[1]), history(backlog, body, "seed"))
    elif backlog:
        asyncio.run(seed_postgres(_plain(url), history(backlog, body, "seed")))
    seeded = time.monotonic() - began
    rps, p99 = ingest(url, work, body)
    p50c, p99c = asyncio.run(claim_latency(url, body))
    outcome = Outcome(engine, backlog, rps, p99, p50c, p99c, seeded)
    print(outcome, flush=True)
    return outcome


def run_engine(engine: str, work: Path, body: bytes) -> list[Outcome]:
    results = []
    for backlog in (0, ROWS):
        if engine == "sqlite":
            url = normalize_database_url(f"sqlite:///{work / f'growth-{backlog}.sqlite3'}")
            results.append(one(engine, url, backlog, work, body))
            continue
        name = f"ff_growth_{uuid.uuid4().hex[:8]}"
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
        try:
            url = normalize_database_url(PG_ADMIN.rsplit("/", 1)[0] + "/" + name)
            results.append(one(engine, url, backlog, work, body))
        finally:
            asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return results


def table(results: list[Outcome]) -> str:
    lines = [
        "| Engine | Events already in the inbox | acks/s | p99 ms | × empty | "
        "claim of 32, p50 ms | p99 ms | × empty (p50) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        base = next(b for b in results if b.engine == r.engine and b.backlog == 0)
        lines.append(
            f"| {r.engine} | {r.backlog:,} | {r.rps:,.0f} | {r.p99_ms:.1f} | "
            f"{r.rps / base.rps:.2f} | {r.claim_p50_ms:.2f} | {r.claim_p99_ms:.2f} | "
            f"{base.claim_p50_ms / r.claim_p50_ms:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    body = event_body()
    with tempfile.TemporaryDirectory(prefix="ff-growth-") as scratch:
        work = Path(scratch)
        results = [r for engine in ("sqlite", "postgres") for r in run_engine(engine, work, body)]
    seeds = ", ".join(f"{r.engine} {r.seed_s:.0f} s" for r in results if r.backlog)
    section = f"""## Growth (`bench/growth.py`)

Command: `{COMMAND}`. Machine: {machine()}. Per engine, an empty inbox against one already
holding {ROWS:,} events ({len(body):,}-byte bodies over 30 days, as the receiver stores them;
seeding took {seeds}). Ingest: wrk as in bench/ingest.py (32 connections, distinct signed
messages). Claim: {PENDING:,} due events claimed {BATCH} at a time by the worker's claim query,
one transaction each. "× empty" is the full inbox's figure over the empty one's (for latency,
empty over full), measured in the same run. Goal: ≥ 0.9×.

{table(results)}
"""
    write_section("growth", section)
    print(section)
    print(json.dumps([r.__dict__ for r in results]))


if __name__ == "__main__":
    main()
