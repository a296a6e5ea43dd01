"""One chaos run: start every process, shop through the storm, wait for quiet, check.

`run_chaos(ChaosConfig(...))` returns a :class:`ChaosReport`; nothing here prints. The merchant
database is a fresh SQLite file or PostgreSQL database (or the one given); the sandbox keeps
its own SQLite file. Every port is a free loopback port, every process is started and ended by
its own pid, and the run is bounded: shopping ends when the checkouts are done, quiet is waited
for at most ``quiet_timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.chaos import verify
from bench.chaos.driver import Api, Catalog, Progress, Purchase, create_catalog, plan_kinds, shop
from bench.chaos.procs import FLEXFULFILL, Fleet, Service, base_env, free_port
from bench.chaos.proxy import SMTP_REFUSAL, Proxy
from bench.chaos.settle import final_checks, settle
from bench.chaos.storm import Storm, StormLog, StormPlan
from flexfulfill.config import normalize_database_url
from flexfulfill.domain.events import CHECKOUT_COMPLETED_ALT, HANDLED_EVENT_TYPES
from flexfulfill.store.db import make_engine

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN = os.environ.get("FLEXFULFILL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass(frozen=True)
class ChaosConfig:
    n: int = 10_000
    engine: str = "sqlite"  # or "postgres" (the merchant side; the sandbox keeps SQLite)
    database_url: str | None = None  # a merchant database to use; None: a fresh one
    receivers: int = 2
    workers: int = 2
    senders: int = 1
    shoppers: int = 16
    time_scale: float = 1e-4  # the sandbox's: Svix's ~27.6 h schedule in ~12 s
    seed: int = 7
    lease_seconds: int = 20  # WORKER_LEASE_SECONDS (the receipt sender needs > 15)
    reconcile_interval: int = 5
    quiet_timeout: float = 300.0
    plan: StormPlan = field(default_factory=StormPlan)


@dataclass
class ChaosReport:
    config: ChaosConfig
    checks: list[verify.Check]
    storm: StormLog
    kinds: Counter[str]
    paid: int
    orders_via: Counter[str]
    shop_s: float
    quiet_s: float | None
    starts: Counter[str]
    api_retries: int
    setup_s: float = 0.0
    facts: verify.Facts = field(default_factory=verify.Facts)
    logs: Path | None = None

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


async def run_chaos(config: ChaosConfig) -> ChaosReport:
    with tempfile.TemporaryDirectory(prefix="ff-chaos-") as scratch:
        work = Path(scratch)
        try:
            async with merchant_database(config, work) as url:
                report = await _run(config, work, url)
        except Exception:
            print(f"chaos run broke off; logs kept in {_keep_logs(config, work)}")
            raise
        if not report.ok:
            report.logs = _keep_logs(config, work)
        return report


def _keep_logs(config: ChaosConfig, work: Path) -> Path:
    """Copy the run's logs (not its databases) to artifacts/, which outlives the run."""
    kept = ROOT / "artifacts" / f"chaos-{config.engine}-{int(time.time())}"
    shutil.copytree(work, kept, ignore=shutil.ignore_patterns("*.sqlite3*"))
    return kept


@asynccontextmanager
async def merchant_database(config: ChaosConfig, work: Path) -> AsyncIterator[str]:
    if config.database_url:
        yield normalize_database_url(config.database_url)
    elif config.engine == "sqlite":
        yield normalize_database_url(f"sqlite:///{work / 'merchant.sqlite3'}")
    else:
        name = f"ff_chaos_{uuid.uuid4().hex[:10]}"
        await _pg_admin(f'CREATE DATABASE "{name}"')
        try:
            yield normalize_database_url(PG_ADMIN.rsplit("/", 1)[0] + "/" + name)
        finally:
            await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def flexfulfill(env: dict[str, str], *args: str) -> None:
    """Run one `flexfulfill` command to the end; RuntimeError with its output if it fails."""
    proc = await asyncio.create_subprocess_exec(
        FLEXFULFILL,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"flexfulfill {' '.join(args)} failed:\n{out.decode()[-2000:]}")


@dataclass
class Stage:
    """The running pieces of one run."""

    config: ChaosConfig
    work: Path
    url: str
    fleet: Fleet = field(default_factory=Fleet)
    endpoint: Proxy = field(default_factory=lambda: Proxy([]))
    smtp: Proxy = field(default_factory=lambda: Proxy([], refusal=SMTP_REFUSAL))
    started: float = field(default_factory=time.monotonic)

    @property
    def sandbox_url(self) -> str:
        return normalize_database_url(f"sqlite:///{self.work / 'sandbox.sqlite3'}")

    def service(
        self, name: str, role: str, args: list[str], env: dict[str, str], port: int | None = None
    ) -> Service:
        return self.fleet.add(Service(name, role, args, env, self.work / f"{name}.log", port))


async def _run(config: ChaosConfig, work: Path, url: str) -> ChaosReport:
    stage = Stage(config, work, url)
    sandbox_port = free_port()
    sandbox = stage.service(
        "sandbox", "sandbox", _sandbox_args(config, work, sandbox_port), base_env(), sandbox_port
    )
    try:
        await sandbox.start()
        headers = {"authorization": f"Bearer fsk_test_chaos{uuid.uuid4().hex}"}
        base = f"http://127.0.0.1:{sandbox_port}"
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
            api = Api(client, random.Random(config.seed))
            return await _with_sandbox(stage, api, base, headers["authorization"][7:])
    finally:
        await stage.fleet.stop()
        await stage.endpoint.stop()
        await stage.smtp.stop()


def _sandbox_args(config: ChaosConfig, work: Path, port: int) -> list[str]:
    return [
        "sandbox",
        "--port",
        str(port),
        "--database",
        str(work / "sandbox.sqlite3"),
        "--time-scale",
        repr(config.time_scale),
        "--disable-after",
        "1e12",
        "--seed",
        str(config.seed),
        "--timeout",
        "5",
    ]


async def _with_sandbox(stage: Stage, api: Api, base: str, key: str) -> ChaosReport:
    config = stage.config
    catalog = await create_catalog(api, config.n)
    env = base_env(DATABASE_URL=stage.url, FLEX_API_BASE=base, FLEX_API_KEY=key)
    await flexfulfill(env, "migrate")
    await asyncio.gather(
        *(flexfulfill(env, "stock", "set", p, str(n)) for p, n in catalog.start_stock.items())
    )
    secret = await _start_fleet(stage, api, env)
    sandbox_db = make_engine(stage.sandbox_url)
    try:
        storm = _storm(stage, api, sandbox_db)
        await storm.delivery_faults(True)
        await storm.poison(secret)
        kinds = plan_kinds(config.n, api.rng)
        began = time.monotonic()
        purchases = await _shop_in_storm(storm, api, catalog, kinds, config.shoppers)
        shop_s = time.monotonic() - began
        await storm.delivery_faults(False)
    finally:
        await sandbox_db.dispose()
    await stage.fleet.revive()
    facts, quiet_s = await settle(stage.url, stage.sandbox_url, purchases, config.quiet_timeout)
    return ChaosReport(
        config,
        final_checks(
            stage.fleet, storm.log, facts, purchases, catalog, quiet_s, config, stage.smtp.cuts
        ),
        storm.log,
        Counter(p.kind for p in purchases),
        sum(p.paid for p in purchases),
        Counter(via for _oid, via in facts.orders.values()),
        shop_s,
        quiet_s,
        Counter({s.name: s.starts for s in stage.fleet.services.values()}),
        api.retries,
        began - stage.started,
        facts,
    )


def _storm(stage: Stage, api: Api, sandbox_db: AsyncEngine) -> Storm:
    async def failed_messages() -> int:
        sql = """SELECT count(*) FROM sandbox_messages m JOIN sandbox_events e
                 ON e.event_id = m.event_id
                 WHERE m.status = 'failed' AND e.event_type = 'checkout.session.completed'"""
        return int((await verify.rows(sandbox_db, sql))[0][0])

    config = stage.config
    parts = (stage.fleet, stage.endpoint, stage.smtp, api, api.rng)
    return Storm(config.plan, *parts, config.time_scale, failed_messages)


async def _start_fleet(stage: Stage, api: Api, env: dict[str, str]) -> str:
    config = stage.config
    mail_port = free_port()
    stage.service("mail", "mail", ["mailserver", "--port", str(mail_port)], env, mail_port)
    stage.smtp.backends = [mail_port]
    await stage.smtp.start()
    ports = [free_port() for _ in range(config.receivers)]
    stage.endpoint.backends = ports
    await stage.endpoint.start()
    events = sorted(HANDLED_EVENT_TYPES - {CHECKOUT_COMPLETED_ALT})
    hook = await api.create(
        "/v1/webhooks",
        "webhook",
        {"url": f"http://127.0.0.1:{stage.endpoint.port}/webhook", "events": events},
    )
    env = {
        **env,
        "FLEX_WEBHOOK_SECRET": hook["signing_secret"],
        "SMTP_URL": f"smtp://127.0.0.1:{stage.smtp.port}",
        "RECEIPT_FROM": "receipts@chaos.test",
        "WORKER_LEASE_SECONDS": str(config.lease_seconds),
        "RECONCILE_INTERVAL_SECONDS": str(config.reconcile_interval),
        "SERVE_WITH_WORKER": "false",
    }
    for i, port in enumerate(ports):
        stage.service(f"receiver-{i}", "receiver", ["serve", "--port", str(port)], env, port)
    for i in range(config.workers):
        stage.service(f"worker-{i}", "worker", ["worker", "--concurrency", "16"], env)
    for i in range(config.senders):
        stage.service(f"sender-{i}", "sender", ["receipts", "send"], env)
    await asyncio.gather(*(stage.fleet.start(r) for r in ("mail", "receiver", "worker", "sender")))
    return str(hook["signing_secret"])


async def _shop_in_storm(
    storm: Storm, api: Api, catalog: Catalog, kinds: list[str], shoppers: int
) -> list[Purchase]:
    progress = Progress(len(kinds))
    done = asyncio.Event()
    raging = asyncio.create_task(storm.rage(progress, done))
    limit = 300.0 + len(kinds)  # a second per checkout is far slower than any run so far
    try:
        return await asyncio.wait_for(shop(api, catalog, kinds, progress, shoppers), limit)
    except TimeoutError:
        raise RuntimeError(
            f"only {progress.done:,} of {len(kinds):,} checkouts done after {limit:.0f} s: "
            "the sandbox is stuck or this machine far too slow; see the logs"
        ) from None
    finally:
        done.set()
        await raging
