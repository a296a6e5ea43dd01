"""ASGI middleware in front of ``/v1``: test keys only, then any injected API fault.

An answer lost after the commit (``lose_response_after_commit``) is decided here too: the
request runs to the end, then the Guard answers 500 or hangs up instead of passing it on.

Pure ASGI (not a Starlette ``BaseHTTPMiddleware``) so it adds next to nothing per request.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flexfulfill.sandbox.errors import error_body
from flexfulfill.sandbox.faults import FaultBox

TEST_KEY_PREFIX = "fsk_test_"
KEY_HELP = (
    "the sandbox takes test keys only (fsk_test_…); send Authorization: Bearer fsk_test_<anything>"
)

LOST_HELP = (
    "the request was carried out and committed, but its answer was lost (injected by the "
    "sandbox's lose_response_after_commit fault); retry with the same Idempotency-Key to get it"
)
LOST_HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"2")]


class Guard:
    def __init__(self, app: ASGIApp, faults: FaultBox) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        problem = _key_problem(_authorization(scope))
        if problem is not None:
            await _send(
                send, 401, error_body("invalid_api_key", problem, ["header", "authorization"])
            )
            return
        helper = path.startswith("/v1/test_helpers/")
        fault = None if helper else self.faults.take_api_fault()
        if fault is None:
            await self._serve(scope, receive, send, helper)
        elif fault.status == 429:
            body = error_body(
                "rate_limited",
                f"too many requests; retry after {fault.retry_after} s "
                "(injected by the sandbox's api_429 fault)",
            )
            await _send(send, 429, body, [(b"retry-after", str(fault.retry_after).encode())])
        else:
            body = error_body("api_error", "injected by the sandbox's api_5xx fault; retry later")
            await _send(send, fault.status, body)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, helper: bool) -> None:
        """Run the request; a lost-answer fault (POSTs) commits, then answers 500 or hangs up."""
        lost = None if helper or scope["method"] != "POST" else self.faults.take_lost_response()
        if lost is None:
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, _discard)
        if lost.drop_connection:
            # A started answer the app never completes: uvicorn logs it and closes the socket.
            await send({"type": "http.response.start", "status": 200, "headers": LOST_HEADERS})
            return
        await _send(send, 500, error_body("api_error", LOST_HELP))


async def _discard(_message: Message) -> None:
    return None


def _authorization(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            return str(value.decode("latin-1"))
    return ""


def _key_problem(header: str) -> str | None:
    scheme, _, key = header.partition(" ")
    if not header:
        return "no API key; " + KEY_HELP
    if scheme.lower() != "bearer" or not key.strip():
        return "malformed Authorization header; " + KEY_HELP
    if not key.strip().startswith(TEST_KEY_PREFIX):
        return "that is not a test key; " + KEY_HELP
    return None


async def _send(
    send: Send, status: int, body: dict[str, Any], extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
