"""`flexfulfill trigger` against a running sandbox, and the commands' help."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from flexfulfill.cli import app

runner = CliRunner()


def test_trigger_completes_a_split_checkout_with_the_given_overrides(base_url: str) -> None:
    """--split, --client-reference-id and --metadata reach the completed session."""
    result = runner.invoke(
        app,
        [
            "trigger",
            "--sandbox-url",
            base_url,
            "--split",
            "--json",
            "--client-reference-id",
            "order-7",
            "--metadata",
            "channel=cli",
        ],
    )
    assert result.exit_code == 0, result.output
    session = json.loads(result.output)["checkout_session"]
    assert session["status"] == "complete"
    assert session["client_reference_id"] == "order-7"
    assert session["metadata"] == {"channel": "cli"}
    assert len(session["payment_intents"]) == 2


def test_trigger_with_a_declining_card_exits_non_zero_and_says_why(base_url: str) -> None:
    """--card 4000000000009995 → exit 1 and the decline message."""
    result = runner.invoke(
        app, ["trigger", "--sandbox-url", base_url, "--card", "4000000000009995"]
    )
    assert result.exit_code == 1
    assert "insufficient funds" in result.output


def test_trigger_a_subscription_makes_an_active_subscription(base_url: str) -> None:
    """customer.subscription.created → a subscription-mode session, its subscription active."""
    result = runner.invoke(
        app, ["trigger", "customer.subscription.created", "--sandbox-url", base_url, "--json"]
    )
    session = json.loads(result.output)["checkout_session"]
    headers = {"authorization": "Bearer fsk_test_cli"}
    sub = httpx.get(f"{base_url}/v1/subscriptions/{session['subscription']}", headers=headers)
    assert sub.json()["subscription"]["status"] == "active"


def test_trigger_says_how_to_start_a_sandbox_when_none_answers() -> None:
    """An unreachable sandbox → exit 1 naming `flexfulfill sandbox`."""
    result = runner.invoke(app, ["trigger", "--sandbox-url", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert "flexfulfill sandbox" in result.output


def test_the_sandbox_command_documents_its_defaults() -> None:
    """--help shows the 4243 port default and an example."""
    result = runner.invoke(app, ["sandbox", "--help"])
    assert result.exit_code == 0
    assert "4243" in result.output
    assert "Example" in result.output


def test_the_sandbox_command_serves_its_database_file_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    """`flexfulfill sandbox --port N` answers /v1 and exits cleanly on SIGINT."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [str(Path(sys.executable).parent / "flexfulfill"), "sandbox", "--port", str(port)]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "COLUMNS": "200"})  # fmt: skip
    try:
        answer = _first_answer(f"http://127.0.0.1:{port}/v1/customers")
        assert answer.status_code == 200
        assert (tmp_path / "flexfulfill-sandbox.sqlite3").exists()
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)


def _first_answer(url: str) -> httpx.Response:
    deadline = time.monotonic() + 20
    while True:
        try:
            return httpx.get(url, headers={"authorization": "Bearer fsk_test_cli"})
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
