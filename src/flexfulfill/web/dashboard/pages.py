"""The dashboard's pages. Each list page also answers its live-refresh fetch with its fragment."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from flexfulfill.store.statuses import EventStatus, OrderStatus, OutboxStatus
from flexfulfill.web.dashboard import queries
from flexfulfill.web.dashboard.access import PREFIX, Dashboard
from flexfulfill.web.dashboard.order_view import order_page
from flexfulfill.web.dashboard.render import page

FLASH_COOKIE = "ff_flash"


async def _show(dash: Dashboard, request: Request, name: str, **context: Any) -> Response:
    """Render a page with what every page shows: the user, the CSRF token, flags, the flash."""
    async with dash.reader.connect() as conn:
        context["attention"] = await queries.attention_counts(conn)
    session = request.state.session
    context.update(user=session.user, csrf=session.csrf, flash=_flash(request))
    context.setdefault("can_reconcile", dash.reconcile is not None)
    response = page(request, dash.views, name, context)
    if context["flash"]:
        response.delete_cookie(FLASH_COOKIE, path=PREFIX)
    return response


def pages_router(dash: Dashboard) -> APIRouter:
    router = APIRouter()
    _commerce_pages(router, dash)
    _operations_pages(router, dash)
    return router


def _commerce_pages(router: APIRouter, dash: Dashboard) -> None:
    async def show(request: Request, name: str, **context: Any) -> Response:
        return await _show(dash, request, name, **context)

    @router.get("/orders", response_class=HTMLResponse)
    async def orders(request: Request, q: str = "", status: str = "") -> Response:
        async with dash.reader.connect() as conn:
            rows = await queries.list_orders(conn, q=q, status=status)
            totals = await queries.order_totals(conn, q=q, status=status)
        statuses = [s.value for s in OrderStatus]
        return await show(
            request, "orders.html", rows=rows, totals=totals, q=q, status=status, statuses=statuses
        )

    @router.get("/orders/{order_id}", response_class=HTMLResponse)
    async def order(request: Request, order_id: int) -> Response:
        async with dash.reader.connect() as conn:
            found = await order_page(conn, order_id, preview=dash.preview)
        if found is None:
            raise HTTPException(404, f"no order {order_id}; search the orders list")
        return await show(request, "order.html", **found)

    @router.get("/customers", response_class=HTMLResponse)
    async def customers(request: Request, q: str = "") -> Response:
        async with dash.reader.connect() as conn:
            rows = await queries.list_customers(conn, q=q)
        return await show(request, "customers.html", rows=rows, q=q)

    @router.get("/subscriptions", response_class=HTMLResponse)
    async def subscriptions(request: Request, status: str = "") -> Response:
        async with dash.reader.connect() as conn:
            rows = await queries.list_subscriptions(conn, status=status)
        return await show(request, "subscriptions.html", rows=rows, status=status)

    @router.get("/stock", response_class=HTMLResponse)
    async def stock(request: Request) -> Response:
        async with dash.reader.connect() as conn:
            rows = await queries.list_stock(conn)
        return await show(request, "stock.html", rows=rows)


def _operations_pages(router: APIRouter, dash: Dashboard) -> None:
    async def show(request: Request, name: str, **context: Any) -> Response:
        return await _show(dash, request, name, **context)

    @router.get("/inbox", response_class=HTMLResponse)
    async def inbox(request: Request, status: str = "", type: str = "") -> Response:
        async with dash.reader.connect() as conn:
            rows = await queries.list_events(conn, status=status, type_=type)
            types = await queries.event_types(conn)
        statuses = [s.value for s in EventStatus]
        context = {"rows": rows, "status": status, "type": type, "types": types}
        return await show(request, "inbox.html", statuses=statuses, **context)

    @router.get("/inbox/{row_id}", response_class=HTMLResponse)
    async def event(request: Request, row_id: int) -> Response:
        async with dash.reader.connect() as conn:
            found = await queries.event_detail(conn, row_id)
        if found is None:
            raise HTTPException(404, f"no inbox row {row_id}; see the inbox list")
        return await show(request, "event.html", event=found)

    @router.get("/outbox", response_class=HTMLResponse)
    async def outbox(request: Request, status: str = "") -> Response:
        async with dash.reader.connect() as conn:
            rows = await queries.list_outbox(conn, status=status)
        statuses = [s.value for s in OutboxStatus]
        return await show(request, "outbox.html", rows=rows, status=status, statuses=statuses)

    @router.get("/reconcile", response_class=HTMLResponse)
    async def reconcile(request: Request) -> Response:
        async with dash.reader.connect() as conn:
            rows = await queries.list_reconcile_runs(conn)
            cursors = await queries.reconcile_cursors(conn)
        return await show(request, "reconcile.html", rows=rows, cursors=cursors)

    @router.get("/audit", response_class=HTMLResponse)
    async def audit(request: Request) -> Response:
        async with dash.reader.connect() as conn:
            rows = await queries.list_audit(conn)
        return await show(request, "audit.html", rows=rows)


def _flash(request: Request) -> str | None:
    """The outcome of the last action, carried across its redirect in a short-lived cookie."""
    raw = request.cookies.get(FLASH_COOKIE)
    return unquote(raw) if raw else None
