"""Everything that goes wrong at once while the shoppers shop.

Set once at the start (sandbox fault API): duplicate deliveries, reordering, dropped first
attempts. Then, concurrently until the shoppers are done: receivers, workers and receipt
senders SIGKILLed at random and started again; the SMTP server refusing for stretches; the
Flex API answering 5xx or 429 for stretches; and the webhook endpoint down longer than the
sandbox's whole (compressed) retry schedule, so messages sent meanwhile exhaust their retries
and only the reconciler can fulfill their checkouts. A few deliberately poisoned events (signed,
but naming no object) go in through the endpoint: they, and only they, may end dead.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import httpx

from bench.chaos.driver import Api, Progress
from bench.chaos.procs import Fleet
from bench.chaos.proxy import Proxy
from flexfulfill.flex import sign

# Svix's schedule after the first attempt (seconds), each ±20 %: the sandbox uses the same.
RETRY_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)
POISON_PREFIX = "msg_chaos_poison_"


def retry_span(time_scale: float) -> float:
    """Real seconds from a message's first attempt to its last, at the longest."""
    return sum(RETRY_SCHEDULE) * 1.2 * time_scale


@dataclass(frozen=True)
class StormPlan:
    duplicate_rate: float = 0.3
    reorder_window: float = 2.0  # sandbox seconds
    drop_first_rate: float = 0.15
    kill_every: tuple[float, float] = (1.5, 4.0)
    smtp_every: tuple[float, float] = (6.0, 12.0)
    smtp_refuse: tuple[float, float] = (2.0, 5.0)
    api_every: tuple[float, float] = (5.0, 10.0)
    api_stretch: tuple[float, float] = (1.5, 3.5)
    api_rate: float = 0.5
    outages_at: tuple[float, ...] = (0.3,)  # when, as a fraction of checkouts done
    poisoned: int = 3


@dataclass
class StormLog:
    """What was injected, for the report."""

    kills: Counter[str] = field(default_factory=Counter)
    sender_kill_times: list[float] = field(default_factory=list)  # workers and senders
    smtp_refusing_s: float = 0.0
    smtp_stretches: int = 0
    api_stretches: Counter[str] = field(default_factory=Counter)
    api_faulty_s: float = 0.0
    outage_s: float = 0.0
    outages: int = 0
    poisoned: list[str] = field(default_factory=list)


class Storm:
    def __init__(
        self,
        plan: StormPlan,
        fleet: Fleet,
        endpoint: Proxy,
        smtp: Proxy,
        api: Api,
        rng: random.Random,
        time_scale: float,
        failed_messages: Callable[[], Awaitable[int]],
    ) -> None:
        self.plan, self.fleet, self.endpoint, self.smtp = plan, fleet, endpoint, smtp
        self.api, self.rng, self.time_scale = api, rng, time_scale
        self.failed_messages = failed_messages
        self.log = StormLog()

    async def delivery_faults(self, on: bool) -> None:
        plan = self.plan
        faults = {
            "duplicate_rate": plan.duplicate_rate if on else 0.0,
            "reorder_window": plan.reorder_window if on else 0.0,
            "drop_first_attempt_rate": plan.drop_first_rate if on else 0.0,
        }
        await self._faults(faults)

    async def _faults(self, faults: Mapping[str, object]) -> None:
        response = await self.api.call("PUT", "/v1/test_helpers/faults", {"faults": faults})
        response.raise_for_status()

    async def rage(self, progress: Progress, done: asyncio.Event) -> None:
        """Every storm at once until ``done`` is set; then everything is calm again."""
        await asyncio.gather(
            self._kills(done),
            self._smtp_refusals(done),
            self._api_faults(done),
            self._outages(progress, done),
        )
        self.endpoint.down = self.smtp.down = False
        await self._faults({"api_429": {"rate": 0.0}, "api_5xx": {"rate": 0.0}})

    async def _pause(self, bounds: tuple[float, float], done: asyncio.Event) -> bool:
        """Sleep a random while; False if the storm ended meanwhile."""
        try:
            await asyncio.wait_for(done.wait(), self.rng.uniform(*bounds))
        except TimeoutError:
            return True
        return False

    async def _kills(self, done: asyncio.Event) -> None:
        while await self._pause(self.plan.kill_every, done):
            victims = [s for s in self.fleet.services.values() if s.role in _KILLABLE and s.alive]
            receivers = [s for s in victims if s.role == "receiver"]
            if len(receivers) < 2:  # the endpoint's own outage is separate and deliberate
                victims = [s for s in victims if s.role != "receiver"]
            if not victims:
                continue
            victim = self.rng.choice(victims)
            await victim.kill()
            self.log.kills[victim.role] += 1
            if victim.role in SENDS_RECEIPTS:
                self.log.sender_kill_times.append(time.time())
            await asyncio.sleep(self.rng.uniform(0.1, 1.0))
            await victim.start(wait=False)

    async def _smtp_refusals(self, done: asyncio.Event) -> None:
        while await self._pause(self.plan.smtp_every, done):
            began = time.monotonic()
            self.smtp.down = True
            await self._pause(self.plan.smtp_refuse, done)
            self.smtp.down = False
            self.log.smtp_stretches += 1
            self.log.smtp_refusing_s += time.monotonic() - began

    async def _api_faults(self, done: asyncio.Event) -> None:
        while await self._pause(self.plan.api_every, done):
            kind = self.rng.choice(["api_429", "api_5xx"])
            began = time.monotonic()
            await self._faults({kind: {"rate": self.plan.api_rate}})
            await self._pause(self.plan.api_stretch, done)
            await self._faults({kind: {"rate": 0.0}})
            self.log.api_stretches[kind] += 1
            self.log.api_faulty_s += time.monotonic() - began

    async def _outages(self, progress: Progress, done: asyncio.Event) -> None:
        for at in self.plan.outages_at:
            while progress.fraction < at and not done.is_set():
                await asyncio.sleep(0.1)
            if done.is_set():
                return
            began = time.monotonic()
            self.endpoint.down = True
            await self._until_retries_run_out()  # on purpose not cut short by ``done``
            self.endpoint.down = False
            self.log.outages += 1
            self.log.outage_s += time.monotonic() - began

    async def _until_retries_run_out(self) -> None:
        """The whole retry schedule, and on until the sandbox gave up on a checkout's completion.

        A loaded sandbox attempts late, so the schedule alone does not prove exhaustion; the
        outage ends at the latest after four schedules.
        """
        span = retry_span(self.time_scale)
        before = await self.failed_messages()
        await asyncio.sleep(span + 2.0)
        deadline = time.monotonic() + 3 * span + 10.0
        while time.monotonic() < deadline and await self.failed_messages() <= before:
            await asyncio.sleep(0.5)

    async def poison(self, secret: str) -> None:
        """Signed events a handler cannot process: they must end dead, visibly."""
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.endpoint.port}") as http:
            for i in range(self.plan.poisoned):
                message_id = f"{POISON_PREFIX}{i}"
                await _post_signed(http, secret, message_id, _poison_body(i))
                self.log.poisoned.append(message_id)


_KILLABLE = frozenset({"receiver", "worker", "sender"})
# `flexfulfill worker` runs a receipt sender too, so killing it can repeat a receipt.
SENDS_RECEIPTS = frozenset({"worker", "sender"})


def _poison_body(i: int) -> bytes:
    event = {
        "event_id": f"fevt_chaos_poison_{i}",
        "event_type": "payment_intent.succeeded",
        "event_dt": int(time.time()),
        "object": {"payment_intent": {"note": "no payment_intent_id: unprocessable"}},
        "test_mode": True,
    }
    return json.dumps(event).encode()


async def _post_signed(http: httpx.AsyncClient, secret: str, message_id: str, body: bytes) -> None:
    for _ in range(100):
        stamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "svix-id": message_id,
            "svix-timestamp": str(stamp),
            "svix-signature": sign(secret, message_id, stamp, body),
        }
        try:
            response = await http.post("/webhook", content=body, headers=headers)
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code == 200:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"could not deliver the poisoned message {message_id}")
