"""`flexfulfill serve` as a real process: migration on start, kill -9 under load, SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from receiver_helpers import SECRET, event, signed
from sqlalchemy import select

from flexfulfill.store.db import make_engine
from flexfulfill.store.tables import webhook_events

CLI = Path(sys.executable).parent / "flexfulfill"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(
    database_url: str, cwd: Path, *args: str
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`flexfulfill serve` on a free port; yields the process and its base URL once it is up."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "FLEX_WEBHOOK_SECRET": SECRET}
    proc = subprocess.Popen(
        [str(CLI), "serve", "--port", str(port), *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(proc, base)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


def _wait_healthy(proc: subprocess.Popen[bytes], base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else b""
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("serve did not come up within 60 s")


async def _stored_ids(database_url: str) -> set[str]:
    engine = make_engine(database_url)
    async with engine.connect() as conn:
        ids = set((await conn.execute(select(webhook_events.c.message_id))).scalars())
    await engine.dispose()
    return ids


async def _load(base: str, acked: list[str], stop: asyncio.Event, worker: int) -> None:
    """Post distinct messages until the server dies; remember every id answered 2xx."""
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        n = 0
        while not stop.is_set():
            mid = f"msg_{worker}_{n}"
            n += 1
            body = event(event_id=mid)
            try:
                response = await client.post("/webhook", content=body, headers=signed(mid, body))
            except httpx.TransportError:
                return
            if response.status_code == 200:
                acked.append(mid)


@pytest.mark.slow
async def test_every_acknowledged_webhook_survives_kill_9_under_load(
    database_url: str, tmp_path: Path
) -> None:
    """SIGKILL mid-load, then restart: each message answered 2xx is in the database."""
    acked: list[str] = []
    stop = asyncio.Event()
    with serving(database_url, tmp_path) as (proc, base):
        load = [asyncio.create_task(_load(base, acked, stop, w)) for w in range(16)]
        while len(acked) < 300:
            await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(asyncio.gather(*load), timeout=30)
    with serving(database_url, tmp_path) as (_proc, base):
        body = event(event_id=acked[0])
        again = httpx.post(f"{base}/webhook", content=body, headers=signed(acked[0], body))
    assert again.headers["flexfulfill-outcome"] == "duplicate"
    missing = set(acked) - await _stored_ids(database_url)
    assert not missing, f"{len(missing)} acknowledged messages lost: {sorted(missing)[:5]}"


def test_serve_migrates_an_empty_database_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """A new SQLite file gets the schema at start-up; SIGTERM ends the process within seconds."""
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    with serving(url, tmp_path) as (proc, base):
        body = event()
        assert httpx.post(f"{base}/webhook", content=body, headers=signed("m", body)).is_success
        assert httpx.get(f"{base}/readyz").status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) in (0, -signal.SIGTERM)
    assert asyncio.run(_stored_ids(url.replace("sqlite:", "sqlite+aiosqlite:"))) == {"m"}


@pytest.mark.slow
async def test_two_sqlite_server_processes_store_every_acknowledged_message(
    tmp_path: Path,
) -> None:
    """`serve --workers 2` on one SQLite file: concurrent posts, each ack stored exactly once."""
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    bodies = {f"msg_w{i}": event(event_id=f"evt_w{i}") for i in range(60)}
    with serving(url, tmp_path, "--workers", "2") as (proc, base):
        limits = httpx.Limits(max_connections=16)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
            answers = await asyncio.gather(
                *(
                    client.post("/webhook", content=b, headers=signed(m, b))
                    for m, b in bodies.items()
                )
            )
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert all(a.status_code == 200 for a in answers)
    assert await _stored_ids(url.replace("sqlite:", "sqlite+aiosqlite:")) == set(bodies)


def test_serve_with_an_unreachable_database_says_what_to_check(tmp_path: Path) -> None:
    """A database that does not answer stops `serve` with one clear message, password hidden."""
    env = {
        **os.environ,
        "FLEX_WEBHOOK_SECRET": SECRET,
        "DATABASE_URL": "postgresql://shop:hunter2@127.0.0.1:1/shop",
    }
    done = subprocess.run(
        [str(CLI), "serve", "--port", str(_free_port())],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "Check DATABASE_URL" in done.stderr
    assert "hunter2" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
