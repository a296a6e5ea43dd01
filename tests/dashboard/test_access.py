"""Nothing in the dashboard without a login; nothing changes without the CSRF token."""

from __future__ import annotations

import httpx
import pytest
from dashboard_seed import SECRET, USER, csrf_of, log_in
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.cli.serve_commands import COMPONENTS
from flexfulfill.config import Settings
from flexfulfill.store.tables import audit_log, webhook_events
from flexfulfill.web.app import build_app
from flexfulfill.web.dashboard import dashboard_router

# Access control does not depend on the engine: these run on SQLite only (pages and actions,
# in test_pages.py and test_actions.py, run on both).
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

PAGES = [
    "/dashboard/orders",
    "/dashboard/orders/1",
    "/dashboard/customers",
    "/dashboard/subscriptions",
    "/dashboard/stock",
    "/dashboard/inbox",
    "/dashboard/inbox/3",
    "/dashboard/outbox",
    "/dashboard/reconcile",
    "/dashboard/audit",
]
ACTIONS = [
    "/dashboard/inbox/3/replay",
    "/dashboard/orders/1/resend-receipt",
    "/dashboard/reconcile/run",
    "/dashboard/stock/fprod_SOCKS/adjust",
    "/dashboard/logout",
]


@pytest.mark.usefixtures("seeded")
async def test_every_page_redirects_to_the_login_without_a_session(
    client: httpx.AsyncClient,
) -> None:
    """Each page answers 303 to the login page, remembering where the operator was going."""
    for path in PAGES:
        response = await client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/dashboard/login?next=/dashboard/")


async def test_live_refresh_without_a_session_is_401(client: httpx.AsyncClient) -> None:
    """A fragment fetch without a session gets 401 (the script then reloads into the login)."""
    response = await client.get("/dashboard/orders", headers={"X-Fragment": "1"})
    assert response.status_code == 401


async def test_every_action_without_a_session_is_401(client: httpx.AsyncClient) -> None:
    """Each POST without a session is refused with 401, even with a plausible token."""
    for path in ACTIONS:
        response = await client.post(path, data={"csrf_token": "x", "delta": "1"})
        assert response.status_code == 401, path


@pytest.mark.usefixtures("seeded")
async def test_every_action_without_the_csrf_token_is_403(
    operator: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """Logged in, each POST without (or with a wrong) CSRF token is refused and changes nothing."""
    for path in ACTIONS:
        assert (await operator.post(path, data={"delta": "1"})).status_code == 403, path
        wrong = {"delta": "1", "csrf_token": "not-the-token"}
        assert (await operator.post(path, data=wrong)).status_code == 403, path
    async with engine.connect() as conn:
        status = await conn.scalar(select(webhook_events.c.status).where(webhook_events.c.id == 3))
    assert status == "dead"


async def test_the_csrf_token_may_come_as_a_header(operator: httpx.AsyncClient) -> None:
    """A script may send the token in X-CSRF-Token instead of a form field."""
    token = csrf_of((await operator.get("/dashboard/orders")).text)
    response = await operator.post("/dashboard/logout", headers={"X-CSRF-Token": token})
    assert response.status_code == 303
    assert (await operator.get("/dashboard/orders")).status_code == 303  # logged out


async def test_a_wrong_password_is_refused_and_audited(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """A wrong password answers 401 with the login form again, and the attempt is recorded."""
    response = await log_in(client, password="guess")
    assert response.status_code == 401
    assert "Wrong user name or password" in response.text
    assert (await client.get("/dashboard/orders")).status_code == 303
    async with engine.connect() as conn:
        actions = (await conn.execute(select(audit_log.c.action, audit_log.c.actor))).all()
    assert ("login.failed", USER) in [tuple(a) for a in actions]


async def test_login_without_its_csrf_token_is_403(client: httpx.AsyncClient) -> None:
    """The login form is CSRF-protected too (no logging a victim into an attacker's session)."""
    form = {"username": USER, "password": "x"}
    assert (await client.post("/dashboard/login", data=form)).status_code == 403


async def test_login_leads_to_the_page_asked_for_and_never_off_site(
    client: httpx.AsyncClient,
) -> None:
    """After login the operator lands on ``next`` if inside the dashboard, else on /dashboard."""
    page = await client.get("/dashboard/login")
    form = {
        "username": "ops@example.com",
        "password": "correct horse battery staple",
        "csrf_token": csrf_of(page.text),
        "next": "https://evil.example/",
    }
    response = await client.post("/dashboard/login", data=form)
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"


async def test_the_session_cookie_is_http_only_and_scoped(client: httpx.AsyncClient) -> None:
    """The session cookie is HttpOnly, SameSite=Lax and limited to /dashboard."""
    response = await log_in(client)
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/dashboard" in cookie


async def test_serve_mounts_the_dashboard(settings: Settings, engine: AsyncEngine) -> None:
    """The components `flexfulfill serve` composes include the dashboard and its login page."""
    components = [factory(settings, engine) for factory in COMPONENTS]
    app = build_app(settings, engine, routers=[r for c in components for r in c.routers])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://serve.test") as http:
        assert (await http.get("/dashboard/login")).status_code == 200
        assert (await http.get("/dashboard/orders")).status_code == 303


async def test_without_credentials_the_dashboard_is_off_and_says_how_to_turn_it_on(
    engine: AsyncEngine,
) -> None:
    """No DASHBOARD_USER/HASH: the login page answers 503 naming both, and pages stay closed."""
    settings = Settings(database_url=str(engine.url), webhook_secrets=(SECRET,))
    app = build_app(settings, engine, routers=[dashboard_router(settings, engine)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://off.test") as http:
        login = await http.get("/dashboard/login")
        assert login.status_code == 503
        assert "DASHBOARD_PASSWORD_HASH" in login.text
        assert (await http.get("/dashboard/orders")).status_code == 303
        form = {"username": "x", "password": "y", "csrf_token": ""}
        assert (await http.post("/dashboard/login", data=form)).status_code == 403


async def test_pages_cannot_be_framed_and_load_only_their_own_code(
    operator: httpx.AsyncClient,
) -> None:
    """Dashboard pages and the login forbid framing and foreign scripts, and are not cached."""
    for path in ("/dashboard/orders", "/dashboard/login"):
        response = await operator.get(path)
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["cache-control"] == "no-store"
