"""Templates and display filters of the dashboard (Jinja2, autoescaped, no build step)."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

HERE = Path(__file__).parent
# Pages only load their own script and styles, cannot be framed (no clickjacking of the action
# buttons) and post forms only to the dashboard. Inline styles are allowed for the receipt's
# HTML shown in a sandboxed frame; its remote images, if any, are not loaded.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "frame-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
FRAGMENT_HEADER = "x-fragment"
VERSION_HEADER = "X-Fragment-Version"


def money(cents: Any) -> str:
    """Integer cents as dollars: 12345 → $123.45, -50 → -$0.50."""
    if cents is None:
        return "—"
    value = int(cents)
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value) // 100:,}.{abs(value) % 100:02d}"


def when(seconds: Any) -> str:
    """Unix seconds as a UTC time an operator can read."""
    if seconds is None:
        return "—"
    moment = dt.datetime.fromtimestamp(float(seconds), tz=dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def templates() -> Jinja2Templates:
    engine = Jinja2Templates(directory=str(HERE / "templates"))
    engine.env.filters["money"] = money
    engine.env.filters["when"] = when
    return engine


def is_fragment(request: Request) -> bool:
    """The page's live-refresh script asks for the list alone, not the whole page."""
    return request.headers.get(FRAGMENT_HEADER) == "1"


def page(
    request: Request, engine: Jinja2Templates, name: str, context: dict[str, Any]
) -> HTMLResponse:
    """Render ``name`` (a full page) or, for a live refresh, its fragment ``_name`` alone.

    Both carry the fragment's version (a hash of its HTML): the refresh script swaps the list
    only when the version changed, so nothing on screen (a receipt's frame, a selection)
    flickers while nothing happened.
    """
    fragment = engine.get_template(f"_{name}").render({**context, "request": request})
    version = hashlib.sha256(fragment.encode()).hexdigest()[:16]
    headers = {**SECURITY_HEADERS, VERSION_HEADER: version}
    if is_fragment(request):
        return HTMLResponse(fragment, headers=headers)
    context = {**context, "fragment_version": version}
    return engine.TemplateResponse(request, name, context, headers=headers)
