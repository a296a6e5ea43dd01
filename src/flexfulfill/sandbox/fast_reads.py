"""The two GETs the merchant makes per order, served without FastAPI's per-request machinery.

Fulfilling an order reads ``GET /v1/checkout/sessions/{id}?expand_payment_intent=true
&expand_customer=true`` and ``GET /v1/checkout/sessions/{id}/line_items``. Measured
(bench/sandbox_api.py, docs/sandbox.md "Performance"), FastAPI's routing, dependency solving,
response validation and exception middleware cost more CPU than building the answer once the
documents are in the store's cache. This pure ASGI layer answers exactly those two requests with
the routes' own code (``show_session``, ``show_line_items``) and FastAPI's own serializer, so
the bytes are the same (tests/sandbox/test_fast_reads.py compares them).

It sits inside the Guard (keys and injected API faults apply first, as for every route) and
only answers the plain case: anything it does not fully understand — an unknown session (404),
a query string FastAPI would parse differently or refuse (repeated or unexpected flag values) —
goes on to the FastAPI app unchanged, which answers as it always did.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from pydantic import TypeAdapter
from starlette.types import ASGIApp, Receive, Scope, Send

from flexfulfill.sandbox.api_common import expands
from flexfulfill.sandbox.errors import SandboxError
from flexfulfill.sandbox.sessions import show_line_items, show_session
from flexfulfill.sandbox.state import SandboxState

PREFIX = "/v1/checkout/sessions/"
LINE_ITEMS = "/line_items"
# The serializer FastAPI uses for a route annotated ``-> dict[str, Any]`` (its dump_json path).
BODY = TypeAdapter(dict[str, Any])
# Flag values whose meaning is certain; any other goes to FastAPI (pydantic's lax bool parsing
# and its 422 for junk stay FastAPI's).
FLAGS = {"true": True, "1": True, "false": False, "0": False}
SESSION_PARAMS = frozenset({"expand_customer", "expand_payment_intent", "expand"})


class FastReads:
    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path: str = scope["path"]
            if path.startswith(PREFIX):
                body = await self._answer(path[len(PREFIX) :], scope)
                if body is not None:
                    await _send(send, body)
                    return
        await self.app(scope, receive, send)

    async def _answer(self, rest: str, scope: Scope) -> bytes | None:
        """The answer's bytes, or None to leave the request to FastAPI."""
        if rest.endswith(LINE_ITEMS):
            session_id = rest[: -len(LINE_ITEMS)]
            if not session_id or "/" in session_id:
                return None
            return await self._line_items(session_id)
        if not rest or "/" in rest:
            return None
        params = _params(scope.get("query_string", b""))
        if params is None:
            return None
        return await self._session(rest, params)

    async def _session(self, session_id: str, params: dict[str, str]) -> bytes | None:
        expand = params.get("expand", "")
        customer = FLAGS.get(params.get("expand_customer", ""))  # None when not given
        intents = FLAGS.get(params.get("expand_payment_intent", ""))
        async with self.state.read() as tx:
            doc = await tx.get("checkout_session", session_id)
            if doc is None:
                return None  # FastAPI answers the 404
            try:
                shown = await show_session(
                    tx,
                    doc,
                    customer=expands(expand, "customer", customer),
                    intents=expands(expand, "payment_intents", intents),
                )
            except SandboxError:
                return None
        return BODY.dump_json({"checkout_session": shown})

    async def _line_items(self, session_id: str) -> bytes | None:
        async with self.state.read() as tx:
            doc = await tx.get("checkout_session", session_id)
            if doc is None:
                return None
            try:
                lines = await show_line_items(tx, doc)
            except SandboxError:  # a price gone missing: FastAPI's route says which
                return None
        return BODY.dump_json({"line_items": lines})


def _params(query_string: bytes) -> dict[str, str] | None:
    """The session route's parameters, or None when FastAPI must judge the query string."""
    params: dict[str, str] = {}
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if name not in SESSION_PARAMS:
            continue  # FastAPI ignores parameters a route does not declare
        if name in params or (name != "expand" and value not in FLAGS):
            return None
        params[name] = value
    return params


async def _send(send: Send, body: bytes) -> None:
    # The headers Starlette's Response(content, media_type="application/json") sends.
    headers = [
        (b"content-length", str(len(body)).encode()),
        (b"content-type", b"application/json"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
