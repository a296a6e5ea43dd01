"""The checks behind `flexfulfill doctor`: is this deployment ready to take live payments?

Each check returns a :class:`Check` with a status and, when something is wrong, what to do. They
run in order against one :class:`Probe` (settings, database, Flex client, clock), and a check
that cannot run (no API key, database down) says so instead of raising.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import aiosmtplib
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.clock import Clock
from flexfulfill.config import Settings
from flexfulfill.domain.events import CHECKOUT_COMPLETED_ALT, HANDLED_EVENT_TYPES, key_is_test
from flexfulfill.flex import FlexClient, FlexError, Webhook
from flexfulfill.mail import Security, SmtpConfig
from flexfulfill.store.migrate import pending_revisions
from flexfulfill.store.statuses import EventStatus
from flexfulfill.store.tables import reconcile_runs, reconcile_state, webhook_events
from flexfulfill.web.auth import HashFormatError, parse_hash

REQUIRED_EVENTS = frozenset(HANDLED_EVENT_TYPES - {CHECKOUT_COMPLETED_ALT})
RECONCILER_CURSOR = "checkout_sessions"
STUCK_PENDING_SECONDS = 300.0


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}


@dataclass
class Probe:
    """What the checks look at; ``flex`` is None without FLEX_API_KEY."""

    settings: Settings
    engine: AsyncEngine
    flex: FlexClient | None
    clock: Clock
    public_url: str | None = None
    webhooks: list[Webhook] | None = field(default=None)


CheckFn = Callable[[Probe], Awaitable[Check]]


async def api_key(probe: Probe) -> Check:
    name = "Flex API key"
    if probe.flex is None or not probe.settings.flex_api_key:
        return Check(name, Status.FAIL, "FLEX_API_KEY is not set", "set FLEX_API_KEY=fsk_… (live)")
    mode = "test" if key_is_test(probe.settings.flex_api_key) else "live"
    try:
        probe.webhooks = [w async for w in probe.flex.list_webhooks(limit=100)]
    except FlexError as exc:
        fix = "check FLEX_API_KEY (and FLEX_API_BASE); make a new key in Flex's dashboard"
        return Check(name, Status.FAIL, f"{mode} key refused: {exc}", fix)
    detail = f"{mode} mode key authenticates with {probe.settings.flex_api_base}"
    if mode == "test":
        return Check(name, Status.WARN, detail, "use a live key (fsk_…) to take real payments")
    return Check(name, Status.OK, detail)


async def webhook_endpoint(probe: Probe) -> Check:
    name = "Webhook endpoint"
    if probe.webhooks is None:
        return Check(name, Status.FAIL, "cannot list webhooks without a working API key")
    target = _webhook_url(probe.public_url)
    found = [w for w in probe.webhooks if target is None or w.url.rstrip("/") == target]
    register = f"flexfulfill webhooks register {target or 'https://YOUR-HOST/webhook'}"
    if not found:
        where = f"for {target}" if target else "at all"
        return Check(name, Status.FAIL, f"no webhook registered {where}", register)
    hook = found[0]
    missing = sorted(REQUIRED_EVENTS - set(hook.events))
    problems = _hook_problems(hook, missing, target is None)
    if problems:
        fix = f"delete {hook.webhook_id} and run: {register}"
        return Check(
            name,
            Status.FAIL if missing or hook.enabled is False else Status.WARN,
            f"{hook.url}: " + "; ".join(problems),
            fix,
        )
    return Check(name, Status.OK, f"{hook.url} receives all {len(REQUIRED_EVENTS)} event types")


def _hook_problems(hook: Webhook, missing: list[str], guessed: bool) -> list[str]:
    problems = []
    if missing:
        problems.append(f"missing events {', '.join(missing)}")
    if hook.enabled is False:
        problems.append("disabled")
    if not hook.url.startswith("https://"):
        problems.append("not HTTPS")
    if guessed:
        problems.append("pass --url to check this deployment's own URL")
    return problems


def _webhook_url(public_url: str | None) -> str | None:
    if not public_url:
        return None
    url = public_url.rstrip("/")
    return url if url.endswith("/webhook") else url + "/webhook"


async def signing_secret(probe: Probe) -> Check:
    name = "Signing secret"
    count = len(probe.settings.webhook_secrets)
    if count == 0:
        fix = "set FLEX_WEBHOOK_SECRET to the secret printed by `webhooks register`"
        return Check(name, Status.FAIL, "FLEX_WEBHOOK_SECRET is not set", fix)
    if count > 1:
        fix = "remove the old secret once Flex signs with the new one"
        return Check(name, Status.WARN, f"{count} secrets (a rotation in progress)", fix)
    return Check(name, Status.OK, "FLEX_WEBHOOK_SECRET is set")


async def migrations(probe: Probe) -> Check:
    name = "Database schema"
    try:
        pending = await pending_revisions(probe.engine)
    except (SQLAlchemyError, OSError) as exc:
        fix = "check DATABASE_URL and that the database server is running"
        return Check(name, Status.FAIL, f"database unreachable ({type(exc).__name__})", fix)
    if pending:
        detail = f"{len(pending)} migration(s) not applied"
        return Check(name, Status.FAIL, detail, "run: flexfulfill migrate")
    return Check(name, Status.OK, "all migrations applied")


async def smtp(probe: Probe) -> Check:
    name = "SMTP"
    if not probe.settings.smtp_url:
        fix = "set SMTP_URL=smtps://user:password@smtp.example.com:465"
        return Check(name, Status.FAIL, "SMTP_URL is not set: receipts cannot be sent", fix)
    config = SmtpConfig.from_url(probe.settings.smtp_url, timeout=10.0)
    client = aiosmtplib.SMTP(
        hostname=config.host,
        port=config.port,
        username=config.username,
        password=config.password,
        use_tls=config.security is Security.TLS,
        start_tls=config.security is Security.STARTTLS,
        timeout=config.timeout,
    )
    try:
        await client.connect()
        await client.noop()
        await client.quit()
    except (aiosmtplib.SMTPException, OSError) as exc:
        fix = "check SMTP_URL's host, port, scheme and credentials, and the firewall"
        return Check(name, Status.FAIL, f"{config.describe()}: {type(exc).__name__}", fix)
    return Check(name, Status.OK, f"{config.describe()} answers")


async def reconciler(probe: Probe) -> Check:
    name = "Reconciler"
    async with probe.engine.connect() as conn:
        state = (
            await conn.execute(
                select(reconcile_state).where(reconcile_state.c.name == RECONCILER_CURSOR)
            )
        ).first()
        last = (
            await conn.execute(select(reconcile_runs).order_by(reconcile_runs.c.id.desc()))
        ).first()
    start = "start `flexfulfill worker` (it reconciles) or run `flexfulfill reconcile`"
    if state is None:
        return Check(name, Status.WARN, "has never run", start)
    age = probe.clock.now() - float(state.updated_at)
    limit = 3 * probe.settings.reconcile_interval
    if last is not None and last.error:
        return Check(name, Status.WARN, f"last run failed: {last.error}", "check the Flex API key")
    if age > limit:
        return Check(name, Status.FAIL, f"last ran {_ago(age)} ago", start)
    return Check(name, Status.OK, f"cursor updated {_ago(age)} ago")


async def inbox(probe: Probe) -> Check:
    name = "Inbox"
    now = probe.clock.now()
    async with probe.engine.connect() as conn:
        dead = await conn.scalar(
            select(func.count()).where(webhook_events.c.status == EventStatus.DEAD.value)
        )
        stuck = await conn.scalar(
            select(func.count()).where(
                webhook_events.c.status == EventStatus.PENDING.value,
                webhook_events.c.next_attempt_at < now - STUCK_PENDING_SECONDS,
            )
        )
    if stuck:
        detail = f"{stuck} event(s) overdue by more than 5 minutes"
        return Check(name, Status.FAIL, detail, "is a worker running? start `flexfulfill worker`")
    if dead:
        fix = (
            "read their errors (`flexfulfill events list --status dead`), fix the cause, "
            "then `flexfulfill events replay --dead`"
        )
        return Check(name, Status.WARN, f"{dead} dead event(s)", fix)
    return Check(name, Status.OK, "no dead or overdue events")


async def dashboard_login(probe: Probe) -> Check:
    name = "Dashboard login"
    settings = probe.settings
    if not settings.dashboard_user or not settings.dashboard_password_hash:
        fix = (
            "set DASHBOARD_USER and DASHBOARD_PASSWORD_HASH (`flexfulfill dashboard hash-password`)"
        )
        return Check(name, Status.WARN, "the dashboard is off", fix)
    try:
        parse_hash(settings.dashboard_password_hash)
    except HashFormatError as exc:
        return Check(name, Status.FAIL, str(exc), "`flexfulfill dashboard hash-password`")
    return Check(name, Status.OK, f"user {settings.dashboard_user!r} can log in")


CHECKS: tuple[CheckFn, ...] = (
    api_key,
    webhook_endpoint,
    signing_secret,
    migrations,
    smtp,
    reconciler,
    inbox,
    dashboard_login,
)
# These read tables; they are skipped when the schema is missing or unreachable.
NEEDS_SCHEMA: frozenset[CheckFn] = frozenset({reconciler, inbox})


async def run_checks(probe: Probe) -> list[Check]:
    results: list[Check] = []
    schema_ok = True
    for check in CHECKS:
        if check in NEEDS_SCHEMA and not schema_ok:
            results.append(Check(_title(check), Status.FAIL, "skipped: the schema is not ready"))
            continue
        result = await check(probe)
        if check is migrations:
            schema_ok = result.status is Status.OK
        results.append(result)
    return results


def _title(check: CheckFn) -> str:
    return check.__name__.replace("_", " ").capitalize()


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def summary(results: list[Check]) -> dict[str, Any]:
    failed = sum(r.status is Status.FAIL for r in results)
    return {"ok": failed == 0, "failed": failed, "checks": [r.as_dict() for r in results]}
