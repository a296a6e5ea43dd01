"""The operators' dashboard at ``/dashboard``: server-rendered pages, login, CSRF-checked actions.

Mount it with ``build_app(settings, engine, routers=[dashboard_router(settings, engine)])``.
Reconciliation from the dashboard needs the Flex API, so its runner is passed in.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.clock import Clock
from flexfulfill.config import ConfigError, Settings
from flexfulfill.web.auth import HashFormatError, Sessions, parse_hash
from flexfulfill.web.dashboard.access import (
    PREFIX,
    Dashboard,
    access_router,
    csrf_checked,
    operator,
)
from flexfulfill.web.dashboard.actions import Reconcile
from flexfulfill.web.dashboard.order_view import Preview
from flexfulfill.web.dashboard.pages import pages_router
from flexfulfill.web.dashboard.posts import posts_router
from flexfulfill.web.dashboard.render import HERE, templates

__all__ = ["PREFIX", "Preview", "Reconcile", "dashboard_router"]

STATIC = {"app.css": "text/css", "app.js": "text/javascript"}


def dashboard_router(
    settings: Settings,
    engine: AsyncEngine,
    *,
    clock: Clock | None = None,
    reconcile: Reconcile | None = None,
    preview: Preview | None = None,
) -> APIRouter:
    """Every dashboard route under ``/dashboard``; all but the login need a signed-in operator.

    ``reconcile`` runs one reconciliation (the button is off without it); ``preview`` renders
    a receipt snapshot for orders whose mail the local SMTP server did not receive.
    """
    clock = clock or Clock()
    sessions = None
    if settings.dashboard_user and settings.dashboard_password_hash:
        try:
            parse_hash(settings.dashboard_password_hash)
        except HashFormatError as exc:
            raise ConfigError("DASHBOARD_PASSWORD_HASH", str(exc), "'scrypt$32768$8$1$…'") from None
        sessions = Sessions(settings.dashboard_password_hash, now=clock.now)
    dash = Dashboard(
        settings=settings,
        engine=engine,
        reader=engine.execution_options(readonly=True),
        clock=clock,
        sessions=sessions,
        views=templates(),
        reconcile=reconcile,
        preview=preview,
    )
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    @router.get("")
    async def home() -> Response:
        return RedirectResponse(f"{PREFIX}/orders", status_code=303)

    router.include_router(access_router(dash))
    router.include_router(_static_router())
    signed_in = Depends(operator(dash))
    router.include_router(pages_router(dash), dependencies=[signed_in])
    router.include_router(posts_router(dash), dependencies=[signed_in, Depends(csrf_checked)])
    return router


def _static_router() -> APIRouter:
    """The stylesheet and the live-refresh script: public, small, cached for an hour."""
    router = APIRouter()
    files = {name: (HERE / "static" / name).read_bytes() for name in STATIC}

    @router.get("/static/{name}")
    async def static(name: str) -> Response:
        if name not in files:
            return Response(status_code=404)
        headers = {"Cache-Control": "public, max-age=3600"}
        return Response(files[name], media_type=STATIC[name], headers=headers)

    return router
