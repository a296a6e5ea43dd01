"""`flexfulfill doctor` against a real sandbox, a real SMTP server and both database engines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.bootstrap import build_flex_client
from flexfulfill.cli.doctor_checks import REQUIRED_EVENTS, Check, Probe, Status, run_checks
from flexfulfill.clock import ManualClock
from flexfulfill.config import Settings
from flexfulfill.mail import MailboxHandler, SmtpServer
from flexfulfill.sandbox import RunningSandbox, run_sandbox
from flexfulfill.store.tables import reconcile_runs, reconcile_state, webhook_events
from flexfulfill.web.auth import hash_password

PUBLIC = "https://shop.example.com"
NOW = 1_800_000_000.0


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with run_sandbox() as running:
        yield running


@pytest.fixture
async def smtp_port(engine: AsyncEngine) -> AsyncIterator[int]:
    async with SmtpServer(MailboxHandler(engine, ManualClock().as_clock())) as server:
        yield server.port


def _settings(database_url: str, sandbox: RunningSandbox, smtp: str, secrets: int = 1) -> Settings:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    return Settings(
        database_url=database_url,
        webhook_secrets=(secret,) * secrets,
        flex_api_base=sandbox.base_url,
        flex_api_key=sandbox.api_key,
        smtp_url=smtp,
        dashboard_user="ops",
        dashboard_password_hash=hash_password("a good passphrase"),
    )


async def _diagnose(settings: Settings, engine: AsyncEngine, url: str | None) -> dict[str, Check]:
    flex = build_flex_client(settings)
    try:
        probe = Probe(settings, engine, flex, ManualClock(NOW).as_clock(), public_url=url)
        return {check.name: check for check in await run_checks(probe)}
    finally:
        await flex.aclose()


async def test_a_ready_deployment_has_no_failed_check(
    database_url: str, engine: AsyncEngine, sandbox: RunningSandbox, smtp_port: int
) -> None:
    """Webhook with every event, schema current, SMTP up, cursor fresh: nothing fails."""
    await sandbox.create_webhook(PUBLIC + "/webhook", sorted(REQUIRED_EVENTS))
    async with engine.begin() as conn:
        values = {"name": "checkout_sessions", "cursor": NOW - 60, "updated_at": NOW - 60}
        await conn.execute(insert(reconcile_state).values(**values))
    settings = _settings(database_url, sandbox, f"smtp://127.0.0.1:{smtp_port}")
    checks = await _diagnose(settings, engine, PUBLIC)
    statuses = {name: check.status for name, check in checks.items()}
    assert statuses == {
        "Flex API key": Status.WARN,  # the sandbox takes test keys only; live is the goal
        "Webhook endpoint": Status.OK,
        "Signing secret": Status.OK,
        "Database schema": Status.OK,
        "SMTP": Status.OK,
        "Reconciler": Status.OK,
        "Inbox": Status.OK,
        "Dashboard login": Status.OK,
    }


async def test_each_problem_is_reported_with_what_to_do(
    database_url: str, engine: AsyncEngine, sandbox: RunningSandbox
) -> None:
    """Missing events, plain HTTP, no SMTP, a stale and failing reconciler, a dead event."""
    await sandbox.create_webhook(PUBLIC + "/webhook", ["checkout.session.completed"])
    async with engine.begin() as conn:
        stale = {"name": "checkout_sessions", "cursor": NOW - 86400, "updated_at": NOW - 86400}
        await conn.execute(insert(reconcile_state).values(**stale))
        await conn.execute(
            insert(webhook_events).values(
                message_id="msg_dead",
                body=b"{}",
                headers="{}",
                received_at=NOW,
                status="dead",
                attempts=8,
                last_error="boom",
            )
        )
    settings = _settings(database_url, sandbox, "smtp://127.0.0.1:9", secrets=2)
    checks = await _diagnose(settings, engine, PUBLIC)
    hook = checks["Webhook endpoint"]
    assert hook.status is Status.FAIL
    assert "missing events" in hook.detail
    assert "refund.updated" in hook.detail
    assert "flexfulfill webhooks register https://shop.example.com/webhook" in hook.fix
    assert checks["SMTP"].status is Status.FAIL
    assert checks["Signing secret"].status is Status.WARN
    assert checks["Reconciler"].status is Status.FAIL
    assert "flexfulfill reconcile" in checks["Reconciler"].fix
    assert checks["Inbox"].status is Status.WARN


async def test_a_webhook_for_another_url_does_not_count(
    database_url: str, engine: AsyncEngine, sandbox: RunningSandbox
) -> None:
    """An endpoint registered for another host fails the check for this deployment's URL."""
    await sandbox.create_webhook("https://staging.example.com/webhook", sorted(REQUIRED_EVENTS))
    settings = _settings(database_url, sandbox, "smtp://127.0.0.1:9")
    checks = await _diagnose(settings, engine, PUBLIC)
    assert checks["Webhook endpoint"].status is Status.FAIL


async def test_a_failed_reconciler_run_is_a_warning(
    database_url: str, engine: AsyncEngine, sandbox: RunningSandbox
) -> None:
    """The last reconciliation's error shows even when the cursor is recent."""
    async with engine.begin() as conn:
        values = {"name": "checkout_sessions", "cursor": NOW, "updated_at": NOW}
        await conn.execute(insert(reconcile_state).values(**values))
        await conn.execute(insert(reconcile_runs).values(started_at=NOW, error="ServerError: 503"))
    settings = _settings(database_url, sandbox, "smtp://127.0.0.1:9")
    checks = await _diagnose(settings, engine, PUBLIC)
    assert checks["Reconciler"].status is Status.WARN
    assert "503" in checks["Reconciler"].detail


def test_doctor_on_a_bare_machine_fails_and_says_what_to_set(tmp_path: Path) -> None:
    """With nothing configured: exit 1, JSON with ok=false, each failure naming its fix."""
    env = {"PATH": os.environ["PATH"], "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"}
    doctor = str(Path(sys.executable).with_name("flexfulfill"))
    result = subprocess.run(
        [doctor, "doctor", "--json"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    fixes = {c["name"]: c["fix"] for c in report["checks"]}
    assert "FLEX_API_KEY" in fixes["Flex API key"]
    assert "flexfulfill migrate" in fixes["Database schema"]
    assert "SMTP_URL" in fixes["SMTP"]


def test_doctor_prints_a_readable_checklist(tmp_path: Path) -> None:
    """Without --json the checklist is a table with the finding and what to do per check."""
    env = {
        "PATH": os.environ["PATH"],
        "COLUMNS": "200",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}",
    }
    doctor = str(Path(sys.executable).with_name("flexfulfill"))
    result = subprocess.run([doctor, "doctor"], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 1
    for text in ("Finding", "What to do", "run: flexfulfill migrate", "check(s) failed."):
        assert text in result.stdout
