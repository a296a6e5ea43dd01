"""`flexfulfill receipts …` and the start-up check of receipt templates, through the CLI."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from mail_harness import plain_receipt, seed, split_receipt
from typer.testing import CliRunner

from flexfulfill.cli import app
from flexfulfill.store.db import make_engine

FLEXFULFILL = str(Path(sys.executable).parent / "flexfulfill")


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A runner against a seeded database: a plain order (1) and a split cart (2)."""

    async def prepare() -> None:
        engine = make_engine(database_url)
        await seed(engine, plain_receipt(1), split_receipt(2))
        await engine.dispose()

    asyncio.run(prepare())
    for name in ("SMTP_URL", "RECEIPT_TEMPLATES_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("MERCHANT_NAME", "Acme Health")
    monkeypatch.setenv("COLUMNS", "200")
    return CliRunner()


def _json(runner: CliRunner, *args: str) -> object:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_list_shows_pending_receipts_as_json(cli: CliRunner) -> None:
    """Newest first, with status and Message-ID."""
    rows = _json(cli, "receipts", "list")
    assert isinstance(rows, list)
    assert [(r["order_id"], r["status"]) for r in rows] == [(2, "pending"), (1, "pending")]
    assert rows[0]["message_id"] == "<receipt.2.fcs_split_2@shop.example>"


def test_resend_queues_a_new_message_for_an_order_number(cli: CliRunner) -> None:
    """FF-000002 resolves to order 2; the resend row has its own key and Message-ID."""
    row = _json(cli, "receipts", "resend", "FF-000002", "--actor", "tester")
    assert isinstance(row, dict)
    assert row["key"] == "receipt:fcs_split_2:resend:1"
    assert row["message_id"] == "<receipt.2.fcs_split_2.resend1@shop.example>"


def test_an_unknown_order_says_what_to_give_instead(cli: CliRunner) -> None:
    """Exit 1 with the accepted forms of ORDER."""
    result = cli.invoke(app, ["receipts", "resend", "FF-999999"])
    assert result.exit_code == 1
    assert "No order matches 'FF-999999'" in result.output
    assert "checkout session id" in result.output


def test_show_prints_the_rows_and_the_message_a_row_sends(cli: CliRunner) -> None:
    """Headers and the plain-text part, rendered from the row's snapshot."""
    result = cli.invoke(app, ["receipts", "show", "fcs_split_2"])
    assert result.exit_code == 0, result.output
    assert "Message-ID: <receipt.2.fcs_split_2@shop.example>" in result.output
    assert "Scented candle\n    2 × $12.50 = $25.00" in result.output
    assert "Other card •••• 0005: $25.00" in result.output


def test_send_once_without_smtp_url_delivers_into_the_local_mailbox(cli: CliRunner) -> None:
    """No SMTP_URL: the local server runs, stores both receipts, and mailbox lists them."""
    result = cli.invoke(app, ["receipts", "send", "--once"])
    assert result.exit_code == 0, result.output
    assert "receipts: 2 sent" in result.output
    mails = _json(cli, "receipts", "mailbox")
    assert isinstance(mails, list)
    # The two go out over parallel connections: either may reach the mailbox first.
    assert sorted(m["message_id"] for m in mails) == [
        "<receipt.1.fcs_plain_1@shop.example>",
        "<receipt.2.fcs_split_2@shop.example>",
    ]
    assert {r["status"] for r in _json(cli, "receipts", "list")} == {"sent"}  # type: ignore[union-attr]


@pytest.mark.parametrize("command", ["list", "show", "resend", "preview", "send", "mailbox"])
def test_every_receipts_command_has_help_with_an_example(command: str) -> None:
    """--help ends with an Example line."""
    result = CliRunner().invoke(app, ["receipts", command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "Example:" in result.output
    assert f"flexfulfill receipts {command}" in result.output


def test_a_broken_template_stops_the_sender_at_start_up(tmp_path: Path) -> None:
    """The real command exits 2 naming the variable, the file and the line, before sending."""
    (tmp_path / "receipt.html").write_text("<p>\n{% for line in receipt.lines %}\n")
    env = {"RECEIPT_TEMPLATES_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    result = subprocess.run(
        [FLEXFULFILL, "receipts", "send", "--once"],
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert (
        "Configuration error: RECEIPT_TEMPLATES_DIR: a receipt template is broken" in result.stderr
    )
    assert "receipt.html, line 2" in result.stderr
