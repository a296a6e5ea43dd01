"""The load side of bench/ingest.py: servers on free ports, pre-signed pools, wrk runs."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flexfulfill.flex import sign

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "bench" / "ingest.lua"
CONNECTIONS, THREADS = 32, 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def write_pool(work: Path, body: bytes, size: int, secret: str) -> dict[str, str]:
    """Pre-sign ``size`` distinct messages; returns the environment wrk's script reads."""
    ts = int(time.time())
    run = uuid.uuid4().hex[:8]
    lines = []
    for i in range(size):
        mid = f"msg_{run}_{i}"
        lines.append(f"{mid} {sign(secret, mid, ts, body)}")
    (work / "pool.txt").write_text("\n".join(lines) + "\n")
    (work / "body.json").write_bytes(body)
    return {
        "POOL": str(work / "pool.txt"),
        "BODY": str(work / "body.json"),
        "TS": str(ts),
        "THREADS": str(THREADS),
        "POOL_SIZE": str(size),
    }


def run_wrk(port: int, env: dict[str, str], duration: int) -> dict[str, int]:
    cmd = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{duration}s", "-s", str(LUA)]
    cmd.append(f"http://127.0.0.1:{port}/webhook")
    out = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True)
    line = [x for x in out.stdout.splitlines() if x.startswith("{")]
    if out.returncode != 0 or not line:
        raise RuntimeError(f"wrk failed: {out.stdout}\n{out.stderr}")
    return dict(json.loads(line[-1]))


@contextmanager
def served(cmd: list[str], env: dict[str, str], cwd: Path = ROOT) -> Iterator[int]:
    """Run a server on a free port (``{port}`` in ``cmd``/``PORT``) until the block ends."""
    port = free_port()
    cmd = [part.replace("{port}", str(port)) for part in cmd]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            cmd, env={**env, "PORT": str(port)}, cwd=cwd, stdout=log, stderr=log
        )
        try:
            wait_listening(port, proc)
            yield port
        finally:
            stop(proc)
