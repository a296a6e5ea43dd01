"""`flexfulfill stock …` and `flexfulfill events …` through the real command line (SQLite file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flexfulfill.cli import app


@pytest.fixture
def env(sqlite_template: Path, tmp_path: Path) -> dict[str, str]:
    target = tmp_path / "cli.sqlite3"
    target.write_bytes(sqlite_template.read_bytes())
    return {"DATABASE_URL": f"sqlite:///{target}"}


def test_stock_set_import_and_list_agree(env: dict[str, str], tmp_path: Path) -> None:
    """Set one product, import two from CSV (one overriding), list them as JSON."""
    runner = CliRunner()
    assert (
        runner.invoke(app, ["stock", "set", "fprod_A", "10", "--name", "Widget"], env=env).exit_code
        == 0
    )
    csv = tmp_path / "stock.csv"
    csv.write_text("product_id,on_hand,name\nfprod_B,3,Gadget\nfprod_A,12,\n")
    assert runner.invoke(app, ["stock", "import", str(csv)], env=env).exit_code == 0
    listed = runner.invoke(app, ["stock", "list", "--json"], env=env)
    levels = {row["product_id"]: row["on_hand"] for row in json.loads(listed.stdout)}
    assert levels == {"fprod_A": 12, "fprod_B": 3}
    low = runner.invoke(app, ["stock", "list", "--low", "--json"], env=env)
    assert [row["product_id"] for row in json.loads(low.stdout)] == ["fprod_B"]


def test_stock_import_of_a_bad_csv_names_the_line(env: dict[str, str], tmp_path: Path) -> None:
    """A non-numeric on_hand stops with the file and line number."""
    csv = tmp_path / "bad.csv"
    csv.write_text("product_id,on_hand\nfprod_A,many\n")
    result = CliRunner().invoke(app, ["stock", "import", str(csv)], env=env)
    assert result.exit_code == 1
    assert "bad.csv:2" in result.stdout


def test_events_commands_say_what_to_do_when_there_is_nothing(env: dict[str, str]) -> None:
    """Show of an unknown event exits 1 with a hint; replay without ids or --dead exits 2."""
    runner = CliRunner()
    shown = runner.invoke(app, ["events", "show", "msg_nope"], env=env)
    assert shown.exit_code == 1
    assert "flexfulfill events list" in shown.stdout
    assert runner.invoke(app, ["events", "replay"], env=env).exit_code == 2
    replayed = runner.invoke(app, ["events", "replay", "--dead", "--json"], env=env)
    assert json.loads(replayed.stdout) == {"replayed": 0}
    assert runner.invoke(app, ["events", "list", "--json"], env=env).stdout == ""


@pytest.mark.parametrize(
    "command", [["worker"], ["reconcile"], ["events", "list"], ["stock", "import"]]
)
def test_every_command_has_help_with_an_example(command: list[str]) -> None:
    """--help shows an Example line."""
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.stdout


def test_stock_import_from_flex_tracks_every_product_the_sandbox_lists(
    env: dict[str, str], tmp_path: Path
) -> None:
    """`stock import --from-flex` against `flexfulfill sandbox` (a process on loopback)."""
    import shutil
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exe = shutil.which("flexfulfill", path=str(Path(sys.executable).parent))
    assert exe is not None
    cmd = [exe, "sandbox", "--port", str(port), "--database", str(tmp_path / "sb.sqlite3")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    headers = {"authorization": "Bearer fsk_test_cli"}
    try:
        with httpx.Client(base_url=base, headers=headers) as flex:
            for _ in range(200):
                try:
                    flex.get("/v1/products").raise_for_status()
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            for name in ("Thermometer", "Bandage"):
                flex.post("/v1/products", json={"product": {"name": name}}).raise_for_status()
        flex_env = {**env, "FLEX_API_KEY": "fsk_test_cli", "FLEX_API_BASE": base}
        runner = CliRunner()
        imported = runner.invoke(
            app, ["stock", "import", "--from-flex", "--on-hand", "7"], env=flex_env
        )
        assert imported.exit_code == 0, imported.stdout
        again = runner.invoke(app, ["stock", "import", "--from-flex"], env=flex_env)
        assert "0 product(s)" in again.stdout
    finally:
        proc.terminate()
        proc.wait(10)
    listed = json.loads(runner.invoke(app, ["stock", "list", "--json"], env=env).stdout)
    assert sorted((row["name"], row["on_hand"]) for row in listed) == [
        ("Bandage", 7),
        ("Thermometer", 7),
    ]


def _insert_dead_event(env: dict[str, str], message_id: str) -> None:
    import sqlite3

    path = env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO webhook_events (message_id, event_type, body, headers, received_at,"
            " status, attempts, last_error) VALUES (?, 'checkout.session.completed', ?, '{}',"
            " 1700000000, 'dead', 8, 'boom')",
            (message_id, b"{}"),
        )


def test_replay_of_dead_events_with_wait_reports_what_no_worker_picked_up(
    env: dict[str, str],
) -> None:
    """`events replay --dead --wait` re-queues each dead row and says how many are still queued."""
    for n in range(3):
        _insert_dead_event(env, f"msg_dead_{n}")
    runner = CliRunner()
    args = ["events", "replay", "--dead", "--wait", "--wait-timeout", "0.2", "--json"]
    replayed = runner.invoke(app, args, env=env)
    assert replayed.exit_code == 0, replayed.stdout
    assert json.loads(replayed.stdout) == {"replayed": 3, "still_queued": 3}
    listed = runner.invoke(app, ["events", "list", "--json"], env=env).stdout.splitlines()
    assert sorted(json.loads(line)["status"] for line in listed) == ["pending"] * 3


def test_the_worker_process_runs_at_a_lower_cpu_priority(env: dict[str, str]) -> None:
    """`flexfulfill worker --nice 7` runs niced, so co-located receivers keep the CPU first."""
    import os
    import shutil
    import subprocess
    import sys
    import time

    exe = shutil.which("flexfulfill", path=str(Path(sys.executable).parent))
    assert exe is not None
    command = [exe, "worker", "--nice", "7"]
    closed_port = {"FLEX_API_KEY": "fsk_test_nice", "FLEX_API_BASE": "http://127.0.0.1:9"}
    process = subprocess.Popen(
        command,
        env={**os.environ, **env, **closed_port},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = os.getpriority(os.PRIO_PROCESS, 0)
        deadline = time.monotonic() + 20
        while os.getpriority(os.PRIO_PROCESS, process.pid) != base + 7:
            assert process.poll() is None, "the worker exited"
            assert time.monotonic() < deadline, "the worker never lowered its priority"
            time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=20)
