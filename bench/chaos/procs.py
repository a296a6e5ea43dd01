"""Real processes for the chaos run: start, SIGKILL, restart, stop — each by its own pid.

Every process is a `flexfulfill` command (the project's public entry point). Output goes to one
log file per service in the run's scratch directory, appended across restarts, so a failure can
be read afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

FLEXFULFILL = str(Path(sys.executable).with_name("flexfulfill"))


def free_port() -> int:
    """A port nothing listens on now (loopback only)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_listening(port: int, timeout: float = 60.0) -> None:
    """Until something accepts connections on ``port``; TimeoutError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


@dataclass
class Service:
    """One `flexfulfill …` process that can be killed and started again."""

    name: str
    role: str  # receiver, worker, sender, sandbox, mail
    args: list[str]
    env: dict[str, str]
    log: Path
    port: int | None = None
    proc: asyncio.subprocess.Process | None = None
    kills: int = 0
    starts: int = 0
    crashes: list[int] = field(default_factory=list)  # exit codes of ends we did not cause

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self, *, wait: bool = True) -> None:
        if self.proc is not None and self.proc.returncode not in (None, -signal.SIGKILL):
            self.crashes.append(self.proc.returncode)
        with self.log.open("ab") as out:
            out.write(f"\n--- start {self.starts + 1} at {time.time():.3f}\n".encode())
            self.proc = await asyncio.create_subprocess_exec(
                FLEXFULFILL, *self.args, env=self.env, stdout=out, stderr=out
            )
        self.starts += 1
        if wait and self.port is not None:
            await self._ready()

    async def _ready(self) -> None:
        assert self.port is not None
        waiter = asyncio.create_task(wait_listening(self.port))
        exited = asyncio.create_task(self._exited())
        done, _ = await asyncio.wait({waiter, exited}, return_when=asyncio.FIRST_COMPLETED)
        for task in (waiter, exited):
            task.cancel()
        if exited in done:
            raise RuntimeError(f"{self.name} exited at start-up; see {self.log}")
        waiter.result()

    async def _exited(self) -> None:
        assert self.proc is not None
        await self.proc.wait()

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs, exactly like a crash or an OOM kill."""
        if self.proc is None or not self.alive:
            return
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        self.kills += 1

    async def stop(self) -> None:
        """SIGTERM (a clean stop), SIGKILL if it does not end within 15 s."""
        if self.proc is None or not self.alive:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), 15)
        except TimeoutError:
            await self.kill()


@dataclass
class Fleet:
    """Every process of one run, by name."""

    services: dict[str, Service] = field(default_factory=dict)

    def add(self, service: Service) -> Service:
        self.services[service.name] = service
        return service

    def of(self, role: str) -> list[Service]:
        return [s for s in self.services.values() if s.role == role]

    async def start(self, role: str) -> None:
        await asyncio.gather(*(s.start() for s in self.of(role)))

    async def revive(self) -> None:
        """Start again every process that is down (after the storm)."""
        await asyncio.gather(*(s.start() for s in self.services.values() if not s.alive))

    async def stop(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.services.values()))

    def exits(self) -> list[str]:
        """Processes that ended on their own (not by our kill): a crash worth reading."""
        found = []
        for s in self.services.values():
            codes = list(s.crashes)
            if s.proc is not None and s.proc.returncode not in (None, -signal.SIGKILL):
                codes.append(s.proc.returncode)
            if codes:
                found.append(f"{s.name} (exit {codes}, log {s.log})")
        return found


def base_env(**values: str) -> dict[str, str]:
    """The environment of every child: ours, the run's settings, unbuffered output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLEX_", "SMTP_"))}
    return {**env, "PYTHONUNBUFFERED": "1", **values}
