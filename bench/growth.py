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
import socket
import sqlite3
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench.ingest import PG_ADMIN, SECRET, event_body, serve_env
from bench.ingest_wrk import free_port, run_wrk, write_pool
from bench.report import machine, write_section
from flexfulfill.config import normalize_database_url
from flexfulfill.store import claims
from flexfulfill.store.db import make_engine
from flexfulfill.store.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
FLEXFULFILL = str(ROOT / ".venv" / "bin" / "flexfulfill")
DURATION = int(os.environ.get("BENCH_SECONDS", "10"))
POOL = 300_000  # distinct signed messages per wrk run, more than a run sends
ROWS = int(os.environ.get("GROWTH_ROWS", "1000000"))
PENDING, BATCH = 3200, 32
CLAIM_SECONDS = 30.0
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
        deadline = time.monotonic() + CLAIM_SECONDS
        for _ in range(PENDING // BATCH):
            if len(took) >= 10 and time.monotonic() > deadline:
                break  # enough samples: a slow claim must not stretch the run for minutes
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
    """wrk against a fresh `flexfulfill serve` on ``url``: acknowledgements/s and p99 ms."""
    port = free_port()
    cmd = [FLEXFULFILL, "serve", "--port", str(port)]
    with process(cmd, serve_env(url), work / "serve.log", port):
        return wrk(port, work, body)


def wrk(port: int, work: Path, body: bytes) -> tuple[float, float]:
    """The ingest benchmark's load (distinct signed messages): requests/s and p99 ms."""
    stats = run_wrk(port, write_pool(work, body, POOL, SECRET), DURATION)
    return stats["requests"] / (stats["duration_us"] / 1e6), stats["p99_us"] / 1000


@contextmanager
def process(
    cmd: list[str], env: dict[str, str], log: Path, port: int | None = None
) -> Iterator[None]:
    """A child process for the duration of the block (its output to ``log``)."""
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=out, cwd=ROOT)
    try:
        if port is not None:
            _wait_port(port, proc, log)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = Path(log).read_text(errors="replace")[-1500:]
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}:\n{tail}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


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


def verdict(results: list[Outcome]) -> str:
    """Which figures miss the 0.9× goal, and the claim query's plan when it is the claim."""
    misses = []
    for r in (r for r in results if r.backlog):
        base = next(b for b in results if b.engine == r.engine and not b.backlog)
        if r.rps / base.rps < 0.9:
            misses.append(f"{r.engine} ingest {r.rps / base.rps:.2f}×")
        if base.claim_p50_ms / r.claim_p50_ms < 0.9:
            misses.append(f"{r.engine} claim {base.claim_p50_ms / r.claim_p50_ms:.2f}×")
    if not misses:
        return "Every figure meets the goal."
    return (
        f"Below the goal: {', '.join(misses)}. The claim query (`store/claims.py`) orders by id "
        "under an OR of two status conditions; `EXPLAIN ANALYZE` on PostgreSQL shows an index "
        "scan of `pk_webhook_events` that filters out every done row before the due ones "
        "(which have the newest ids), so a claim costs time in proportion to the inbox's size. "
        "SQLite uses its status index for both branches and sorts the due rows, but after an "
        "`ANALYZE` its planner switches to a full table scan (52 ms a claim at 200,000 rows). "
        "A partial index on the due rows, or one indexed query per branch, would bound both."
    )


def main() -> None:
    body = event_body()
    with tempfile.TemporaryDirectory(prefix="ff-growth-") as scratch:
        work = Path(scratch)
        results = [r for engine in ("sqlite", "postgres") for r in run_engine(engine, work, body)]
    report(results, len(body))
    print(json.dumps([r.__dict__ for r in results]))


def report(results: list[Outcome], size: int) -> None:
    seeds = ", ".join(f"{r.engine} {r.seed_s:.0f} s" for r in results if r.backlog)
    section = f"""## Growth (`bench/growth.py`)

Command: `{COMMAND}`. Machine: {machine()}. Per engine, an empty inbox against one already
holding {ROWS:,} events ({size:,}-byte bodies over 30 days, as the receiver stores them;
seeding took {seeds}). Ingest: wrk as in bench/ingest.py (32 connections, distinct signed
messages). Claim: {PENDING:,} due events claimed {BATCH} at a time by the worker's claim query,
one transaction each (for at most {CLAIM_SECONDS:.0f} s, at least 10 claims). "× empty" is the
full inbox's figure over the empty one's (for latency, empty over full), measured in the same
run. Goal: ≥ 0.9×.

{table(results)}

{verdict(results)}
"""
    write_section("growth", section)
    print(section)


if __name__ == "__main__":
    main()
