"""Durable webhook ingest: acknowledgements per second and latency, as ratios to Express.

`make bench` (or `.venv/bin/python -m bench ingest`). wrk posts a 1.5 KB signed event at 32
connections on loopback; every request carries a new svix-id (pre-signed pool), so each 2xx is a
real durable insert. In the same run, round-robin, the same load goes to:

- a minimal ASGI app answering 200 under the same uvicorn (the Python stack's ceiling),
- the Express handler from Flex's fulfillment guide (bench/express, stdout to /dev/null),
- `flexfulfill serve` on SQLite (WAL, synchronous=FULL),
- `flexfulfill serve` on PostgreSQL (synchronous_commit=on, a scratch database),
- both again with `serve --workers 2` (two processes on the port, each acking after its commit).

After each receiver run the stored rows are counted against the 2xx answers.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import statistics
import sys
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import asyncpg

from bench.ingest_wrk import CONNECTIONS, THREADS, run_wrk, served, write_pool
from bench.report import machine, write_section

ROOT = Path(__file__).resolve().parent.parent
EXPRESS = ROOT / "bench" / "express"
PG_ADMIN = os.environ.get("FLEXFULFILL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = "whsec_" + base64.b64encode(b"flexfulfill-bench-secret-32bytes").decode()
DURATION = int(os.environ.get("BENCH_SECONDS", "10"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
POOL_SIZE = 250_000  # distinct signed messages per receiver run, more than a run can send
COMMAND = ".venv/bin/python -m bench ingest   # or: make bench"


async def minimal_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The ceiling: read the body, answer 200, nothing else."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def event_body() -> bytes:
    """A checkout.session.completed event padded to about 1.5 KB."""
    session = {
        "checkout_session_id": "fcs_01HW5KTQQAAQ66WV19MFW4DTT4",
        "status": "complete",
        "amount_total": 12999,
        "customer_email": "shopper@example.com",
        "metadata": {"note": "x" * 1180},
    }
    event = {
        "event_id": "evt_bench",
        "event_type": "checkout.session.completed",
        "event_dt": 1714000000,
        "object": {"checkout_session": session},
        "test_mode": True,
    }
    body = json.dumps(event).encode()
    assert 1400 <= len(body) <= 1600, len(body)
    return body


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    ok: int
    stored: int | None = None
    wrapped: bool = False


def measure(name: str, port: int, env: dict[str, str]) -> Result:
    stats = run_wrk(port, env, DURATION)
    ok = stats["requests"] - stats["non2xx"]
    wrapped = stats["max_sent_per_thread"] > int(env["POOL_SIZE"]) // THREADS
    return Result(
        name,
        stats["requests"] / (stats["duration_us"] / 1e6),
        stats["p50_us"] / 1000,
        stats["p99_us"] / 1000,
        ok,
        wrapped=wrapped,
    )


def serve_env(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "FLEX_WEBHOOK_SECRET": SECRET,
        "SERVE_WITH_WORKER": "false",
    }


UVICORN = [sys.executable, "-m", "uvicorn", "bench.ingest:minimal_app", "--port", "{port}"]
UVICORN += ["--http", "httptools", "--loop", "uvloop", "--no-access-log", "--log-level", "warning"]


def run_minimal(work: Path, env: dict[str, str]) -> Result:
    with served(UVICORN, dict(os.environ)) as port:
        return measure("minimal ASGI app, 200 only (uvicorn)", port, env)


def run_express(work: Path, env: dict[str, str]) -> Result:
    with served(["node", "server.js"], dict(os.environ), cwd=EXPRESS) as port:
        return measure("Express handler from Flex's guide (Node)", port, env)


def run_receiver(name: str, url: str, count: Callable[[], int], env: dict[str, str]) -> Result:
    workers = int(env.get("WORKERS", "1"))
    serve = [str(ROOT / ".venv" / "bin" / "flexfulfill"), "serve", "--port", "{port}"]
    with served([*serve, "--workers", str(workers)], serve_env(url)) as port:
        suffix = f", {workers} processes" if workers > 1 else ""
        result = measure(name + suffix, port, env)
    result.stored = count()
    return result


def sqlite_run_2(work: Path, env: dict[str, str]) -> Result:
    return sqlite_run(work, {**env, "WORKERS": "2"})


def postgres_run_2(work: Path, env: dict[str, str]) -> Result:
    return postgres_run(work, {**env, "WORKERS": "2"})


def sqlite_run(work: Path, env: dict[str, str]) -> Result:
    path = work / f"ingest-{uuid.uuid4().hex[:6]}.sqlite3"

    def count() -> int:
        import sqlite3

        with sqlite3.connect(path) as conn:
            return int(conn.execute("SELECT count(*) FROM webhook_events").fetchone()[0])

    url = f"sqlite:///{path}"
    return run_receiver("flexfulfill receiver, SQLite (synchronous=FULL)", url, count, env)


def postgres_run(work: Path, env: dict[str, str]) -> Result:
    name = f"ff_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    try:
        label = "flexfulfill receiver, PostgreSQL (synchronous_commit=on)"
        return run_receiver(label, url, lambda: asyncio.run(_pg_count(url)), env)
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _pg_count(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval("SHOW synchronous_commit") == "on"
        return int(await conn.fetchval("SELECT count(*) FROM webhook_events"))
    finally:
        await conn.close()


Runner = Callable[[Path, dict[str, str]], Result]
TARGETS: list[Runner] = [
    run_minimal,
    run_express,
    sqlite_run,
    postgres_run,
    sqlite_run_2,  # `serve --workers 2`: each process acknowledges only its own commits
    postgres_run_2,
]
RECEIVERS = (sqlite_run, postgres_run, sqlite_run_2, postgres_run_2)


def _selected() -> list[Runner]:
    """BENCH_TARGETS=express,sqlite narrows a run while experimenting (all by default)."""
    wanted = os.environ.get("BENCH_TARGETS")
    if not wanted:
        return TARGETS
    return [t for t in TARGETS if any(w in t.__name__ for w in wanted.split(","))]


def median_result(results: list[Result]) -> Result:
    """Medians over the rounds (a new value: the rounds' own results stay as measured)."""
    return replace(
        results[0],
        rps=statistics.median(r.rps for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
    )


def table(results: list[Result], rounds: list[list[Result]]) -> str:
    express = next(r.rps for r in results if "Express" in r.name)
    lines = [
        "| Server path | requests/s | p50 ms | p99 ms | × Express | each round | rows vs 2xx |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for i, r in enumerate(results):
        check = "—" if r.stored is None else _durability(r, rounds)
        lines.append(
            f"| {r.name} | {r.rps:,.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | "
            f"{r.rps / express:.2f} | {_per_round(i, rounds)} | {check} |"
        )
    return "\n".join(lines)


def _per_round(i: int, rounds: list[list[Result]]) -> str:
    """This target's ratio to Express in each round, so the spread is visible."""
    ratios = []
    for batch in rounds:
        express = next(r.rps for r in batch if "Express" in r.name)
        ratios.append(f"{batch[i].rps / express:.2f}")
    return ", ".join(ratios)


def _durability(result: Result, rounds: list[list[Result]]) -> str:
    runs = [r for batch in rounds for r in batch if r.name == result.name]
    parts = [f"{r.stored:,} rows / {r.ok:,} 2xx" for r in runs]
    fine = all(r.stored is not None and 0 <= r.stored - r.ok <= CONNECTIONS for r in runs)
    note = (
        " (pre-signed pool exhausted: some ids were sent twice)"
        if any(r.wrapped for r in runs)
        else ""
    )
    return ("✓ " if fine else "✗ ") + "; ".join(parts) + note


def main() -> None:
    for tool in ("wrk", "node"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing: run `make bench`, which installs it")
    body = event_body()
    load_before = os.getloadavg()[0]
    rounds: list[list[Result]] = []
    with tempfile.TemporaryDirectory(prefix="ff-bench-") as scratch:
        work = Path(scratch)
        for n in range(ROUNDS):
            batch = []
            for target in _selected():
                # The baselines store nothing, so a small pool they cycle through will do.
                size = POOL_SIZE if target in RECEIVERS else 20_000
                env = write_pool(work, body, size, SECRET)
                result = target(work, env)
                print(f"round {n + 1}: {result}", flush=True)
                batch.append(result)
            rounds.append(batch)
    results = [median_result([b[i] for b in rounds]) for i in range(len(rounds[0]))]
    load = f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    report(results, rounds, len(body), load)


def report(results: list[Result], rounds: list[list[Result]], size: int, load: str) -> None:
    body = f"""## Webhook ingest (`bench/ingest.py`)

Command: `{COMMAND}` (wrk {THREADS} threads, {CONNECTIONS} connections, {DURATION} s per run,
{ROUNDS} rounds round-robin, medians; a {size}-byte signed `checkout.session.completed`, a new
svix-id on every request so each 2xx is a durable insert). Machine: {machine()}; {load}
(the machine is shared: other work running at the same time costs the receiver, whose every
acknowledgement waits for a commit, more than the baselines).

{table(results, rounds)}

"Stored rows vs 2xx": rows counted in the database after each run against the 2xx answers wrk
saw; rows may exceed 2xx by at most the {CONNECTIONS} requests in flight when wrk stopped (stored,
never answered). Goal: ≥ 2.0× Express on both engines with p99 < 20 ms.

What limits it (py-spy `--gil` of `serve` under this load, 2026-11-27, quiet machine). SQLite:
the server holds the GIL only ~56 % of the time, so it is not short of CPU; it is bound by the
commit cycle. wrk's 32 connections move in lock-step with the group commit: while the writer
thread commits a batch (`BEGIN IMMEDIATE`, one SELECT of known ids, one multi-row INSERT,
`COMMIT` with its fsync) every request is waiting and the event loop is idle; while the loop
answers them and parses the next 32, the writer is idle. SQLite admits one writer, so a second
writer cannot fill the gap (two processes overlap one's commit with the other's answers: the
"2 processes" row). PostgreSQL: the server holds the GIL ~76 % of the time; about a quarter of
its samples are uvicorn's response `send` (the loopback syscall), an eighth asyncpg encoding the
batch, the rest HTTP parsing and our path (HMAC-SHA256 of 1.5 KB, `json.loads`, the row). The
design's own measurements (../shared/DESIGN.md) put batched SQLite under uvicorn at 1.4×;
reaching 2.0× would take a different server core than the chosen uvicorn, or relaxing
`synchronous=FULL`, which the goal forbids. Spread over the runs of 2026-11-26 (load average
4–12, other suites running): one process 0.5–1.6× (SQLite) and 0.5–2.9× (PostgreSQL) its
round's Express, because every acknowledgement waits for a commit and Express stores nothing.
The 2.0× goal has not been shown reproducibly on this shared machine.
"""
    write_section("ingest", body)
    print(body)


if __name__ == "__main__":
    main()
