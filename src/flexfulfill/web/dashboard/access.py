"""Who may use the dashboard: the login and logout routes and the checks every route depends on.

A page asked for without a session redirects to the login (303); a live-refresh fetch or a POST
without one gets 401. A POST whose CSRF token (form field ``csrf_token`` or header
``X-CSRF-Token``) does not match the session's gets 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.clock import Clock
from flexfulfill.config import Settings
from flexfulfill.web.auth import (
    SESSION_COOKIE,
    Session,
    Sessions,
    csrf_ok,
    user_ok,
    verify_password,
)
from flexfulfill.web.dashboard.actions import Reconcile, record
from flexfulfill.web.dashboard.order_view import Preview
from flexfulfill.web.dashboard.render import SECURITY_HEADERS, is_fragment

PREFIX = "/dashboard"
FAILED_LOGIN_DELAY = 1.0
NOT_CONFIGURED = (
    "The dashboard is off: set DASHBOARD_USER and DASHBOARD_PASSWORD_HASH "
    "(make the hash with `flexfulfill dashboard hash-password`) and restart."
)


@dataclass(frozen=True)
class Dashboard:
    """What every dashboard route shares."""

    settings: Settings
    engine: AsyncEngine
    reader: AsyncEngine  # the same pool; read-only transactions (no write lock on SQLite)
    clock: Clock
    sessions: Sessions | None
    views: Jinja2Templates
    reconcile: Reconcile | None = None
    preview: Preview | None = None

    def session_of(self, request: Request) -> Session | None:
        if self.sessions is None:
            return None
        return self.sessions.read(request.cookies.get(SESSION_COOKIE))


def operator(dash: Dashboard) -> Callable[[Request], Awaitable[None]]:
    """Dependency of every dashboard route: a signed-in operator (in ``request.state.session``),
    or a redirect to the login / 401."""

    async def signed_in(request: Request) -> None:
        session = dash.session_of(request)
        if session is not None and session.user is not None:
            request.state.session = session
            return
        if request.method == "GET" and not is_fragment(request):
            query = f"?{request.url.query}" if request.url.query else ""
            target = quote(request.url.path + query)
            raise HTTPException(303, headers={"Location": f"{PREFIX}/login?next={target}"})
        raise HTTPException(401, "log in at /dashboard/login first")

    return signed_in


async def csrf_checked(request: Request) -> None:
    """Dependency of every POST (after :func:`operator`): the session's CSRF token was sent."""
    await _require_csrf(request, getattr(request.state, "session", None))


def actor(request: Request) -> str:
    """Who is acting, for audit_log (set by :func:`operator`)."""
    session: Session = request.state.session
    return session.user or "?"


async def _require_csrf(request: Request, session: Session | None) -> None:
    form = await request.form()
    submitted = form.get("csrf_token")
    token = submitted if isinstance(submitted, str) else request.headers.get("x-csrf-token")
    if not csrf_ok(session, token):
        raise HTTPException(403, "missing or stale CSRF token: reload the page and try again")


def access_router(dash: Dashboard) -> APIRouter:
    router = APIRouter()

    @router.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request, next: str = PREFIX) -> Response:
        return _login_page(dash, request, next=next, error=None)

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        user, password = str(form.get("username", "")), str(form.get("password", ""))
        target = _safe_next(str(form.get("next", PREFIX)))
        await _require_csrf(request, dash.session_of(request))
        if not _credentials_ok(dash.settings, user, password):
            await _audit(dash, user or "?", "login.failed")
            await dash.clock.sleep(FAILED_LOGIN_DELAY)  # slows guessing; scrypt does the rest
            return _login_page(dash, request, next=target, error="Wrong user name or password.")
        await _audit(dash, user, "login")
        return _login_session(dash, request, RedirectResponse(target, status_code=303), user)

    @router.post("/logout", dependencies=[Depends(operator(dash)), Depends(csrf_checked)])
    async def logout(request: Request) -> Response:
        await _audit(dash, actor(request), "logout")
        response = RedirectResponse(f"{PREFIX}/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=PREFIX)
        return response

    return router


def _login_page(dash: Dashboard, request: Request, *, next: str, error: str | None) -> Response:
    if dash.sessions is None:
        context = {"error": NOT_CONFIGURED, "csrf": "", "next": next, "disabled": True}
        return dash.views.TemplateResponse(
            request, "login.html", context, status_code=503, headers=SECURITY_HEADERS
        )
    session, cookie = dash.session_of(request), None
    if session is None:
        session, cookie = dash.sessions.issue(None)
    context = {"error": error, "csrf": session.csrf, "next": _safe_next(next), "disabled": False}
    status = 401 if error else 200
    response = dash.views.TemplateResponse(
        request, "login.html", context, status_code=status, headers=SECURITY_HEADERS
    )
    return _set_cookie(dash, request, response, cookie) if cookie else response


def _login_session(dash: Dashboard, request: Request, response: Response, user: str) -> Response:
    """A login always gets a new session and CSRF token (no session fixation)."""
    assert dash.sessions is not None
    _, cookie = dash.sessions.issue(user)
    return _set_cookie(dash, request, response, cookie)


def _set_cookie(dash: Dashboard, request: Request, response: Response, cookie: str) -> Response:
    assert dash.sessions is not None
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=dash.sessions.max_age,
        path=PREFIX,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


def _credentials_ok(settings: Settings, user: str, password: str) -> bool:
    if not settings.dashboard_user or not settings.dashboard_password_hash:
        return False
    password_ok = verify_password(password, settings.dashboard_password_hash)
    return user_ok(settings.dashboard_user, user) and password_ok


def _safe_next(target: str) -> str:
    """Only paths inside the dashboard: no open redirect to another site."""
    if target.startswith(PREFIX) and not target.startswith("//"):
        return target
    return PREFIX


async def _audit(dash: Dashboard, actor: str, action: str) -> None:
    now = dash.clock.now()
    await record(
        dash.engine, actor=actor[:255], action=action, target="dashboard", detail=None, now=now
    )
