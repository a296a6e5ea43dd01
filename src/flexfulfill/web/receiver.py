"""``POST /webhook``: verify on the raw body, store durably, and only then answer 2xx.

A raw ASGI app rather than a FastAPI route: on the hot path the framework costs more than the
HMAC and the insert together (docs/architecture.md, "Receiver"). The request body is read once,
with the size limit enforced while it streams; the signature is checked on exactly those bytes;
the row goes to the inbox through :class:`~flexfulfill.store.inbox.GroupCommit` and the 2xx is
sent after the commit that holds it.

Answers: 200 with an empty body and ``flexfulfill-outcome: stored`` or ``duplicate``; 4xx
``{"error": {"code", "message"}}`` for anything the sender got wrong (nothing stored); 503 only
when the database cannot take the write.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

from flexfulfill.domain.events import is_handled
from flexfulfill.flex import (
    NoMatchingSignature,
    VerifiedMessage,
    Verifier,
    WebhookVerificationError,
)
from flexfulfill.flex._signing import HEADER_FAMILIES
from flexfulfill.store.inbox import GroupCommit, InboxRow, StoreUnavailable
from flexfulfill.store.statuses import EventStatus
from flexfulfill.web.metrics import ReceiverMetrics

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_FIELD = 255  # the width of the message_id / event_id / event_type columns
_JSON = (b"content-type", b"application/json")
# The acknowledgement has no body (one write less per request); the outcome is in a header.
_STORED = [(b"content-length", b"0"), (b"flexfulfill-outcome", b"stored")]
_DUPLICATE = [(b"content-length", b"0"), (b"flexfulfill-outcome", b"duplicate")]


class Refused(Exception):
    """A request the receiver answers with a 4xx; ``code`` is stable, ``message`` says why."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class ClientGone(Exception):
    """The client disconnected before the body arrived; there is no one to answer."""


class WebhookReceiver:
    """The ASGI app behind ``POST /webhook``."""

    def __init__(
        self,
        verifier: Verifier,
        inbox: GroupCommit,
        metrics: ReceiverMetrics,
        *,
        body_limit: int,
        now: Callable[[], float],
    ) -> None:
        self._verifier = verifier
        self._inbox = inbox
        self._metrics = metrics
        self._limit = body_limit
        self._now = now

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        try:
            message, body = await self._verified(scope, receive)
        except Refused as exc:
            return await self._refuse(send, exc)
        except ClientGone:
            return self._metrics.refused("client_disconnected")
        row = self._row(message, body)
        try:
            new = await self._inbox.submit(row)
        except StoreUnavailable:
            return await self._refuse(send, UNAVAILABLE)
        await send({"type": "http.response.start", "status": 200, "headers": _ACK[new]})
        await send(_EMPTY_BODY)
        self._count_ack(row, new, time.perf_counter() - started)

    def _count_ack(self, row: InboxRow, new: bool, elapsed: float) -> None:
        if new:
            self._metrics.stored(row.status, elapsed)
        else:
            self._metrics.duplicate(elapsed)

    async def _verified(self, scope: Scope, receive: Receive) -> tuple[VerifiedMessage, bytes]:
        if scope["method"] != "POST":
            raise Refused(405, "method_not_allowed", "send webhooks with POST")
        headers = {
            k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k in _WANTED
        }
        body = await read_body(receive, headers.get("content-length"), self._limit)
        try:
            message = self._verifier.verify(headers, body)
        except WebhookVerificationError as exc:
            status = 401 if isinstance(exc, NoMatchingSignature) else 400
            raise Refused(status, exc.code, str(exc)) from None
        check_message_id(message.message_id)
        return message, body

    def _row(self, message: VerifiedMessage, body: bytes) -> InboxRow:
        event_id, event_type, test_mode, status, problem = classify(body)
        return InboxRow(
            message_id=message.message_id,
            event_id=event_id,
            event_type=event_type,
            test_mode=test_mode,
            body=body,
            headers=_headers_json(message.headers),
            received_at=self._now(),
            status=status,
            last_error=problem,
        )

    async def _refuse(self, send: Send, exc: Refused) -> None:
        self._metrics.refused(exc.code)
        payload = {"error": {"code": exc.code, "message": exc.message}}
        await _respond(send, exc.status, json.dumps(payload).encode())


UNAVAILABLE = Refused(
    503, "store_unavailable", "the database is unavailable; nothing was stored, retry later"
)


async def read_body(receive: Receive, content_length: str | None, limit: int) -> bytes:
    """The whole body, refused with 413 as soon as it is known to exceed ``limit``."""
    if content_length is not None:
        if not content_length.strip().isdigit():
            raise Refused(400, "invalid_content_length", "Content-Length is not a whole number")
        if int(content_length) > limit:
            raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(limit: int) -> Refused:
    return Refused(413, "body_too_large", f"the body exceeds the {limit}-byte limit")


def check_message_id(message_id: str) -> None:
    """Refuse a message id the inbox could not store faithfully (too long, control bytes)."""
    if len(message_id) > MAX_FIELD or not message_id.isprintable():
        raise Refused(
            400,
            "invalid_message_id",
            f"the message id must be at most {MAX_FIELD} printable characters",
        )


def classify(body: bytes) -> tuple[str | None, str | None, bool | None, EventStatus, str | None]:
    """(event_id, event_type, test_mode, status, problem) of a verified body.

    A body that is not a UTF-8 JSON object, or whose id or type cannot be stored, is ``dead``
    with the reason, so an operator sees it and the sender does not retry it.
    """
    try:
        payload = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        return _dead("the body is not UTF-8")
    except (ValueError, RecursionError) as exc:
        return _dead(f"the body is not JSON ({str(exc)[:120]})")
    if not isinstance(payload, dict):
        return _dead("the body is JSON but not an object")
    event_id, event_type = payload.get("event_id"), payload.get("event_type")
    problem = _field_problem("event_id", event_id) or _field_problem("event_type", event_type)
    if problem:
        return _dead(problem)
    test_mode = payload.get("test_mode")
    status = EventStatus.PENDING if is_handled(event_type) else EventStatus.IGNORED
    return event_id, event_type, test_mode if isinstance(test_mode, bool) else None, status, None


def _dead(reason: str) -> tuple[None, None, None, EventStatus, str]:
    return None, None, None, EventStatus.DEAD, reason


def _field_problem(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        return f"{name} is not a string"
    if len(value) > MAX_FIELD or "\x00" in value:
        return f"{name} is longer than {MAX_FIELD} characters or holds a NUL character"
    if value.isascii():
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return f"{name} holds an unpaired surrogate"
    return None


_ACK = {True: _STORED, False: _DUPLICATE}
# The request headers the receiver reads; the rest are never decoded.
_WANTED = frozenset(name.encode() for family in HEADER_FAMILIES for name in family) | {
    b"content-length"
}


def _headers_json(headers: dict[str, str]) -> str:
    """``json.dumps`` of the kept signature headers, without the encoder's per-call set-up."""
    items = ",".join(f"{_quote(k)}:{_quote(v)}" for k, v in headers.items())
    return "{" + items + "}"


_EMPTY_BODY = {"type": "http.response.body", "body": b""}


async def _respond(send: Send, status: int, body: bytes) -> None:
    headers = [_JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
