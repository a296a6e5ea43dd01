"""``Idempotency-Key`` on every POST under ``/v1``: a retry with the same key replays the answer.

Flex documents the header (API.md §1.8); the sandbox gives it Stripe's semantics, tabled in
docs/sandbox.md ("Idempotency"). The first POST with a key runs, and an answer below 500 is
stored under (SHA-256 of the API key, key) with the request's fingerprint; the same request
again gets those bytes back (plus ``Idempotent-Replayed: true``) and runs nothing; another body
or path → 400 ``idempotency_key_reused``. One key runs at a time (an in-process lock: one
sandbox process per database); a request waiting past ``busy_wait`` → 409. 5xx answers are not
stored, and injected faults never get here (the Guard in front answers them). Answers expire
24 h after the first request, by the sandbox clock. Pure ASGI, like the Guard.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, or_, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flexfulfill.clock import Clock
from flexfulfill.sandbox import tables as t
from flexfulfill.sandbox.errors import error_body
from flexfulfill.sandbox.store import SandboxStore

KEY_HEADER = b"idempotency-key"
MAX_KEY_LENGTH = 255
KEY_TTL = 24 * 3600.0  # seconds of sandbox time
KEY_LOC = ("header", "idempotency-key")
REPLAYED = (b"idempotent-replayed", b"true")

Slot = tuple[str, str]  # (SHA-256 of the API key, Idempotency-Key)


@dataclass(frozen=True)
class Fingerprint:
    """What makes two requests "the same request" under one key."""

    method: str
    path: str
    request_hash: str


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


class KeyInUse(Exception):
    """Another request with the same key did not finish within ``busy_wait``."""


class Idempotency:
    """The middleware; wrap the sandbox's API app with it (inside the Guard)."""

    def __init__(
        self, app: ASGIApp, store: SandboxStore, clock: Clock, *, busy_wait: float = 10.0
    ) -> None:
        self.app = app
        self.store = store
        self.clock = clock
        self.busy_wait = busy_wait  # real seconds a request waits for its key's lock
        self.locks = KeyLocks()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = _header(scope, KEY_HEADER) if _applies(scope) else None
        if key is None:
            await self.app(scope, receive, send)
            return
        problem = _key_problem(key)
        if problem is not None:
            await _send(send, _error(400, "idempotency_key_invalid", problem))
            return
        body = await _read_body(receive)
        if body is None:  # the client left while sending its body
            return
        slot = (_sha256(_api_key(scope)), key)
        request = Fingerprint(scope["method"], _path(scope), _body_hash(body))
        await _send(send, await self._locked(slot, request, scope, _replaying(body, receive)))

    async def _locked(
        self, slot: Slot, request: Fingerprint, scope: Scope, receive: Receive
    ) -> Answer:
        try:
            async with self.locks.hold(slot, self.busy_wait):
                return await self._answer(slot, request, scope, receive)
        except KeyInUse:
            message = (
                "another request with this Idempotency-Key is still in progress; "
                "retry in a moment with the same key to get its answer"
            )
            return _error(409, "idempotency_key_in_use", message)

    async def _answer(
        self, slot: Slot, request: Fingerprint, scope: Scope, receive: Receive
    ) -> Answer:
        stored = await self._lookup(slot)
        if stored is not None:
            first, answer = stored
            return _replayed(answer) if first == request else _reused(first, request)
        answer = await _run(self.app, scope, receive)
        if answer.status < 500:  # a 5xx is not an outcome: the retry must really run
            await self._store(slot, request, answer)
        return answer

    async def _lookup(self, slot: Slot) -> tuple[Fingerprint, Answer] | None:
        """The unexpired stored request and answer for ``slot``, if any."""
        k = t.idempotency_keys.c
        query = select(t.idempotency_keys).where(
            k.api_key_hash == slot[0],
            k.idempotency_key == slot[1],
            k.created_at > self.clock.now() - KEY_TTL,
        )
        async with self.store.reading() as conn:
            row = (await conn.execute(query)).mappings().one_or_none()
        if row is None:
            return None
        headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in json.loads(row.headers)]
        first = Fingerprint(row.method, row.path, row.request_hash)
        return first, Answer(row.status_code, headers, bytes(row.body))

    async def _store(self, slot: Slot, request: Fingerprint, answer: Answer) -> None:
        """Record the answer, dropping this slot's expired row and every other expired one."""
        now = self.clock.now()
        k = t.idempotency_keys.c
        stale = or_(
            k.created_at <= now - KEY_TTL,
            (k.api_key_hash == slot[0]) & (k.idempotency_key == slot[1]),
        )
        async with self.store.engine.begin() as conn:
            await conn.execute(delete(t.idempotency_keys).where(stale))
            await conn.execute(insert(t.idempotency_keys).values(_row(slot, request, answer, now)))


def _row(slot: Slot, request: Fingerprint, answer: Answer, now: float) -> dict[str, Any]:
    headers = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in answer.headers]
    return {
        "api_key_hash": slot[0],
        "idempotency_key": slot[1],
        **vars(request),
        "status_code": answer.status,
        "headers": json.dumps(headers),
        "body": answer.body,
        "created_at": now,
    }


@dataclass
class _Entry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # holding or waiting


class KeyLocks:
    """One :class:`asyncio.Lock` per key, kept only while someone holds or waits for it."""

    def __init__(self) -> None:
        self._entries: dict[Slot, _Entry] = {}

    @asynccontextmanager
    async def hold(self, slot: Slot, within: float) -> AsyncIterator[None]:
        """Hold ``slot``'s lock; :class:`KeyInUse` if it is not free within ``within`` s."""
        entry = self._entries.setdefault(slot, _Entry())
        entry.users += 1
        try:
            await _acquire(entry.lock, within)
            try:
                yield
            finally:
                entry.lock.release()
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._entries[slot]


async def _acquire(lock: asyncio.Lock, within: float) -> None:
    try:
        async with asyncio.timeout(within):
            await lock.acquire()
    except TimeoutError:
        raise KeyInUse from None


async def _run(app: ASGIApp, scope: Scope, receive: Receive) -> Answer:
    """Run the API for this request and keep its whole answer (sandbox answers are small)."""
    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def keep(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, keep)
    headers = [(bytes(n), bytes(v)) for n, v in start.get("headers", [])]
    return Answer(start["status"], headers, b"".join(chunks))


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then defers to the server."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


async def _send(send: Send, answer: Answer) -> None:
    await send({"type": "http.response.start", "status": answer.status, "headers": answer.headers})
    await send({"type": "http.response.body", "body": answer.body})


def _replayed(answer: Answer) -> Answer:
    return Answer(answer.status, [*answer.headers, REPLAYED], answer.body)


def _reused(first: Fingerprint, request: Fingerprint) -> Answer:
    differs = "body" if (first.method, first.path) == (request.method, request.path) else "path"
    message = (
        f"this Idempotency-Key was first used for {first.method} {first.path} with another "
        f"{differs}; send a new key for a new request, or resend the first request unchanged "
        "to get its answer again (keys expire after 24 h)"
    )
    return _error(400, "idempotency_key_reused", message)


def _error(status: int, type_: str, message: str) -> Answer:
    payload = json.dumps(error_body(type_, message, KEY_LOC)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    return Answer(status, headers, payload)


def _applies(scope: Scope) -> bool:
    path = str(scope.get("path", ""))
    return scope["type"] == "http" and scope["method"] == "POST" and path.startswith("/v1/")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _api_key(scope: Scope) -> str:
    """The bearer token (the Guard has checked it is a test key); only its hash is stored."""
    return (_header(scope, b"authorization") or "").partition(" ")[2].strip()


def _key_problem(key: str) -> str | None:
    if not key.strip():
        return "the Idempotency-Key header is empty; send a unique key (a UUID) or leave it out"
    if len(key) > MAX_KEY_LENGTH:
        return f"the Idempotency-Key is longer than {MAX_KEY_LENGTH} characters; send a UUID"
    return None


def _path(scope: Scope) -> str:
    query = bytes(scope.get("query_string", b"")).decode("latin-1")
    return str(scope["path"]) + (f"?{query}" if query else "")


def _body_hash(body: bytes) -> str:
    """SHA-256 of the body as canonical JSON (key order and spacing do not matter)."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):  # not JSON (FastAPI will say so): compare the bytes
        canonical = body
    return _sha256(canonical)


def _sha256(value: str | bytes) -> str:
    data = value.encode() if isinstance(value, str) else value
    return hashlib.sha256(data).hexdigest()
