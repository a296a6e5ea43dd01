"""The sandbox's hot API paths, measured: ``python -m bench.sandbox_api [--quick]``.

Starts ``flexfulfill sandbox`` as its own process (as the fulfillment benchmark does) with a
webhook endpoint registered (a minimal receiver in this process answering 200), then:

1. checkouts: ``POST /v1/checkout/sessions`` + ``POST …/complete`` from CONCURRENCY clients
   (every ``checkout.session.completed`` delivered before the clock stops);
2. completions paced at 50/s and 100/s, as the latency benchmark drives them;
3. GETs: wrk cycles through ``GET /v1/checkout/sessions/{id}?expand_payment_intent=true
   &expand_customer=true`` and ``GET /v1/checkout/sessions/{id}/line_items`` of the paid
   sessions, one of each per session, as the merchant's worker does per order.

Besides the rates it reports the sandbox process's own CPU seconds per request (utime + stime
from /proc/PID/stat over the run): on this shared 2-core machine that figure moves far less
with other people's load than the rates do. The load average is printed with each run.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.fulfillment_shop import catalog, open_session, pay, until_up

KEY = "fsk_test_bench_sandbox_api"
ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
WRK_THREADS, WRK_CONNECTIONS = 2, 32
CONCURRENCY = 16  # checkout clients at once
PACED = (50.0, 100.0)  # completions per second, as bench/fulfillment_latency.py drives them
GET_PATHS = (
    "/v1/checkout/sessions/{}?expand_payment_intent=true&expand_customer=true",
    "/v1/checkout/sessions/{}/line_items",
)

LUA = """
-- Each request is the next path of PATHS (one per line), round robin per thread.
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  paths, sent = {}, 0
  for line in io.lines(os.getenv("PATHS")) do paths[#paths + 1] = line end
  headers = {["authorization"] = "Bearer " .. os.getenv("KEY")}
end
function request()
  sent = sent + 1
  return wrk.format("GET", paths[((sent + tid * 7919) % #paths) + 1], headers)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"non2xx":%d,"socket_errors":%d,"p50_us":%d,"p99_us":%d}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class Receiver(asyncio.Protocol):
    """An HTTP/1.1 endpoint that answers 200 to every POST (keep-alive) and counts them."""

    completed = 0
    total = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head, sep, rest = self.buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(rest) < length:
                return
            body, self.buffer = rest[:length], rest[length:]
            Receiver.total += 1
            if b'"checkout.session.completed"' in body:
                Receiver.completed += 1
            self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")


@dataclass
class Sandbox:
    pid: int
    client: httpx.AsyncClient
    base: str


@asynccontextmanager
async def sandbox(tmp: Path) -> AsyncIterator[Sandbox]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exe = Path(sys.executable).with_name("flexfulfill")
    args = [str(exe), "sandbox", "--port", str(port), "--time-scale", "0.001"]
    proc = subprocess.Popen(
        [*args, "--database", str(tmp / "sandbox.sqlite3")], stdout=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"authorization": f"Bearer {KEY}"}
    limits = httpx.Limits(max_connections=CONCURRENCY * 2)
    try:
        async with httpx.AsyncClient(
            base_url=base, headers=headers, timeout=60, limits=limits
        ) as client:
            await until_up(client)
            yield Sandbox(proc.pid, client, base)
    finally:
        proc.terminate()
        proc.wait(10)


async def checkouts(box: Sandbox, prices: list[str], count: int) -> tuple[list[str], str]:
    """Create and pay ``count`` sessions from CONCURRENCY clients; delivered before the end."""
    ids: list[str] = []
    first = Receiver.completed
    todo = iter(range(count))

    async def client() -> None:
        for k in todo:  # one shared iterator: each index is taken by one client
            session = await open_session(box.client, prices, k)
            await pay(box.client, session)
            ids.append(session)

    cpu, mine, started = cpu_seconds(box.pid), time.process_time(), time.perf_counter()
    await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
    paid = time.perf_counter() - started
    async with asyncio.timeout(120):
        while Receiver.completed - first < len(ids):
            await asyncio.sleep(0.01)
    delivered = time.perf_counter() - started
    used, client_cpu = cpu_seconds(box.pid) - cpu, time.process_time() - mine
    line = (
        f"checkouts (create + complete, {CONCURRENCY} clients): {len(ids)} in {paid:.2f} s = "
        f"{len(ids) / paid:.0f}/s; all delivered after {delivered:.2f} s; sandbox CPU "
        f"{used * 1000 / len(ids):.2f} ms per checkout (with its webhooks; this client and "
        f"receiver: {client_cpu * 1000 / len(ids):.2f} ms); load {load()}"
    )
    return ids, line


async def paced(box: Sandbox, prices: list[str], rate: float, seconds: float) -> str:
    """Completions at a fixed rate, as the latency benchmark drives them (sessions opened
    first): the rate sustained and the share of one core the sandbox used for it."""
    count = int(rate * seconds)
    sessions = [await open_session(box.client, prices, k) for k in range(count)]
    first = Receiver.completed
    cpu, started = cpu_seconds(box.pid), time.perf_counter()
    tasks = []
    for k, session_id in enumerate(sessions):
        await asyncio.sleep(max(0.0, started + k / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(pay(box.client, session_id)))
    await asyncio.gather(*tasks)
    achieved = count / (time.perf_counter() - started)
    async with asyncio.timeout(120):
        while Receiver.completed - first < count:
            await asyncio.sleep(0.01)
    used = cpu_seconds(box.pid) - cpu
    busy = used / (time.perf_counter() - started)
    return (
        f"completions paced at {rate:.0f}/s for {seconds:.0f} s: sustained {achieved:.0f}/s, "
        f"sandbox busy {busy:.0%} of one core (webhooks included); load {load()}"
    )


def gets(box: Sandbox, sessions: list[str], seconds: int, tmp: Path) -> str:
    paths = [p.format(s) for s in sessions for p in GET_PATHS]
    (tmp / "paths.txt").write_text("\n".join(paths) + "\n")
    (tmp / "gets.lua").write_text(LUA)
    env = {**os.environ, "PATHS": str(tmp / "paths.txt"), "KEY": KEY}
    cmd = ["wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s"]
    cmd += ["-s", str(tmp / "gets.lua"), box.base]
    cpu = cpu_seconds(box.pid)
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    used = cpu_seconds(box.pid) - cpu
    found = [x for x in out.stdout.splitlines() if x.startswith("{")]
    if out.returncode != 0 or not found:
        raise RuntimeError(f"wrk failed: {out.stdout}\n{out.stderr}")
    r = json.loads(found[-1])
    rate = r["requests"] / (r["duration_us"] / 1e6)
    return (
        f"GETs (session with intents + customer, line items; wrk {WRK_CONNECTIONS} connections): "
        f"{rate:.0f}/s, sandbox CPU {used * 1000 / r['requests']:.3f} ms per GET, "
        f"p50 {r['p50_us'] / 1000:.1f} ms, p99 {r['p99_us'] / 1000:.1f} ms, "
        f"non-2xx {r['non2xx']}, socket errors {r['socket_errors']}; load {load()}"
    )


@asynccontextmanager
async def profiled(pid: int, name: str) -> AsyncIterator[None]:
    """With ``--profile=DIR``: py-spy samples the sandbox (GIL holder only) into DIR/name.txt."""
    where = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--profile=")), None)
    if where is None:
        yield
        return
    exe = Path(sys.executable).with_name("py-spy")
    out = Path(where) / f"{name}.txt"
    flags = os.environ.get("PYSPY_FLAGS", "--gil").split()  # e.g. "--threads": every thread
    cmd = [str(exe), "record", "--pid", str(pid), *flags, "-r", "250", "-f", "raw", "-o", str(out)]
    spy = subprocess.Popen([*cmd, "--nonblocking"], stdout=subprocess.DEVNULL)
    await asyncio.sleep(1.0)  # py-spy attaches
    try:
        yield
    finally:
        spy.send_signal(2)  # SIGINT: py-spy writes its file and exits
        spy.wait(30)


async def _main(count: int, seconds: int) -> list[str]:
    server = await asyncio.get_running_loop().create_server(Receiver, "127.0.0.1", 0)
    hook_port = server.sockets[0].getsockname()[1]
    lines = []
    where = os.environ.get("BENCH_TMP")  # e.g. /dev/shm: no fsync cost (default: the disk)
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-api-", dir=where) as scratch:
        tmp = Path(scratch)
        async with sandbox(tmp) as box:
            url = f"http://127.0.0.1:{hook_port}/webhook"
            hook = await box.client.post("/v1/webhooks", json={"webhook": {"url": url}})
            hook.raise_for_status()
            prices = await catalog(box.client)
            await checkouts(box, prices, 2 * CONCURRENCY)  # warm-up
            async with profiled(box.pid, "checkouts"):
                sessions, line = await checkouts(box, prices, count)
            lines.append(line)
            print(line, flush=True)
            for rate in PACED:
                line = await paced(box, prices, rate, seconds / 3)
                lines.append(line)
                print(line, flush=True)
            async with profiled(box.pid, "gets"):
                line = gets(box, sessions, seconds, tmp)
            lines.append(line)
            print(line, flush=True)
    server.close()
    return lines


def main() -> None:
    """``--quick``: fewer checkouts, shorter GET run; ``--profile=DIR``: py-spy raw profiles."""
    quick = "--quick" in sys.argv
    print(f"load before: {load()}", flush=True)
    asyncio.run(_main(count=300 if quick else 1000, seconds=5 if quick else 15))


if __name__ == "__main__":
    main()
