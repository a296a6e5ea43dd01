"""`flexfulfill up` as a new user runs it: a subprocess, real ports, nothing configured."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow
FLEXFULFILL = str(Path(sys.executable).with_name("flexfulfill"))


def _clean_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a fresh shell: none of the service's variables set."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    return {**{k: os.environ[k] for k in keep if k in os.environ}, "COLUMNS": "200"}


def test_up_demo_fulfills_every_checkout_and_reports_it(tmp_path: Path) -> None:
    """`up --demo` pays five checkouts and reports five orders, five sent receipts and stock."""
    result = subprocess.run(
        [FLEXFULFILL, "up", "--demo", "--port", "0", "--sandbox-port", "0", "--json"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        env=_clean_env(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["complete"] is True
    scenarios = sorted(o["scenario"] for o in report["orders"])
    assert scenarios == sorted(
        ["plain cart", "split cart", "subscription", "LMN item", "declined, then paid"]
    )
    split = next(o for o in report["orders"] if o["scenario"] == "split cart")
    assert len(split["cards"]) == 2
    assert sum(c["amount_received"] for c in split["cards"]) == split["amount_total"]
    assert [r["status"] for r in report["receipts"]] == ["sent"] * 5
    assert all(r["subject"] for r in report["receipts"])  # each reached the local SMTP server
    chocolate = next(s for s in report["stock"] if s["name"] == "Chocolate bar")
    assert chocolate["backorder"] is True
    assert "declined" in report["declines"][0]
    assert list(tmp_path.iterdir()) == []  # nothing left behind in the working directory


def test_a_kept_data_dir_keeps_its_catalog_stock_and_orders(tmp_path: Path) -> None:
    """A second `up --demo --data-dir` reuses the catalog and stock and adds five more orders."""
    command = [FLEXFULFILL, "up", "--demo", "--port", "0", "--sandbox-port", "0", "--json"]
    runs = []
    for _ in range(2):
        result = subprocess.run(
            [*command, "--data-dir", str(tmp_path / "data")],
            capture_output=True,
            text=True,
            timeout=180,
            cwd=tmp_path,
            env=_clean_env(tmp_path),
        )
        assert result.returncode == 0, result.stderr[-3000:]
        runs.append(json.loads(result.stdout))
    stock = [{s["name"]: s["on_hand"] for s in run["stock"]} for run in runs]
    assert stock[1]["Digital thermometer"] == stock[0]["Digital thermometer"] - 2
    assert stock[1]["Chocolate bar"] == -2
    assert {o["id"] for o in runs[1]["orders"]} == {6, 7, 8, 9, 10}
    assert [r["status"] for r in runs[1]["receipts"]] == ["sent"] * 5


def test_up_serves_until_ctrl_c_and_stops_cleanly(tmp_path: Path) -> None:
    """`up` prints working URLs and a login, serves them, and exits 0 on SIGINT."""
    process = subprocess.Popen(
        [FLEXFULFILL, "up", "--port", "0", "--sandbox-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        env=_clean_env(tmp_path),
    )
    try:
        printed = _read_until(process, "Press Ctrl-C to stop", timeout=90)
        checkout = re.search(r"(http://127\.0\.0\.1:\d+/pay/c/fcs_\w+)", printed)
        dashboard = re.search(r"(http://127\.0\.0\.1:\d+)/dashboard", printed)
        password = re.search(r"admin / (\S+)", printed)
        assert checkout, printed
        assert dashboard, printed
        assert password, printed
        assert httpx.get(checkout.group(1)).status_code == 200
        _log_in(dashboard.group(1), password.group(1))
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert "Stopped cleanly." in rest


def _read_until(process: subprocess.Popen[str], marker: str, timeout: float) -> str:
    assert process.stdout is not None
    deadline, seen = time.monotonic() + timeout, ""
    while marker not in seen:
        if time.monotonic() > deadline or process.poll() is not None:
            raise AssertionError(f"`up` did not print {marker!r}:\n{seen}")
        seen += process.stdout.readline()
    return seen


def _log_in(base: str, password: str) -> None:
    with httpx.Client(base_url=base) as http:
        page = http.get("/dashboard/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        form = {"username": "admin", "password": password, "csrf_token": token.group(1)}
        assert http.post("/dashboard/login", data=form).status_code == 303
        orders = http.get("/dashboard/orders")
        assert orders.status_code == 200
        assert "No orders yet." in orders.text


@pytest.mark.parametrize("option", ["--port", "--sandbox-port"])
def test_a_busy_port_is_named_with_the_option_that_changes_it(tmp_path: Path, option: str) -> None:
    """With a port taken, `up` exits 2 naming the port and the option to pass instead."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ports = {"--port": "0", "--sandbox-port": "0", option: str(port)}
        args = [a for pair in ports.items() for a in pair]
        result = subprocess.run(
            [FLEXFULFILL, "up", *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env=_clean_env(tmp_path),
        )
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is in use" in result.stdout
    assert option in result.stdout
