"""The dashboard's actions: replay an event, resend a receipt, reconcile, adjust stock.

Every action is a POST behind the login and the CSRF check, records who did it in ``audit_log``
and answers with a redirect back to the page it came from, carrying the outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from flexfulfill.web.dashboard import actions
from flexfulfill.web.dashboard.access import PREFIX, Dashboard, actor
from flexfulfill.web.dashboard.pages import FLASH_COOKIE

log = logging.getLogger(__name__)


def posts_router(dash: Dashboard) -> APIRouter:
    router = APIRouter()

    @router.post("/inbox/{row_id}/replay")
    async def replay(request: Request, row_id: int) -> Response:
        async def act() -> str:
            await actions.replay_event(dash.engine, row_id, actor=actor(request), now=_now(dash))
            return f"Event {row_id} queued again; the worker picks it up within seconds."

        return await _outcome(request, f"{PREFIX}/inbox/{row_id}", act)

    @router.post("/orders/{order_id}/resend-receipt")
    async def resend(request: Request, order_id: int) -> Response:
        async def act() -> str:
            to = await actions.resend_receipt(
                dash.engine, order_id, actor=actor(request), now=_now(dash)
            )
            return f"The receipt of order {order_id} is queued to be sent again to {to}."

        return await _outcome(request, f"{PREFIX}/orders/{order_id}", act)

    @router.post("/stock/{product_id}/adjust")
    async def adjust(
        request: Request,
        product_id: str,
        delta: Annotated[int, Form()],
        note: Annotated[str, Form()] = "",
    ) -> Response:
        async def act() -> str:
            after = await actions.adjust_stock(
                dash.engine, product_id, delta, note=note, actor=actor(request), now=_now(dash)
            )
            return f"{product_id}: {delta:+d}, now {after} on hand."

        return await _outcome(request, f"{PREFIX}/stock", act)

    @router.post("/reconcile/run")
    async def reconcile(request: Request) -> Response:
        async def act() -> str:
            if dash.reconcile is None:
                raise actions.ActionError("reconciliation needs FLEX_API_KEY; set it and restart")
            summary = await dash.reconcile(actor(request))
            await actions.record(
                dash.engine,
                actor=actor(request),
                action="reconcile.run",
                target="reconciler",
                detail=summary,
                now=_now(dash),
            )
            return summary

        return await _outcome(request, f"{PREFIX}/reconcile", act)

    return router


def _now(dash: Dashboard) -> float:
    return dash.clock.now()


async def _outcome(request: Request, back: str, act: Callable[[], Awaitable[str]]) -> Response:
    """Run ``act`` and redirect to ``back`` with its message (or its error) to show."""
    try:
        message = await act()
    except actions.ActionError as exc:
        message = f"Not done: {exc}"
    response = RedirectResponse(back, status_code=303)
    response.set_cookie(FLASH_COOKIE, quote(message), max_age=60, path=PREFIX, httponly=True)
    return response
