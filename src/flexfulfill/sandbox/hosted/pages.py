"""Rendering of the hosted page: Jinja2 templates in, HTML responses out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from flexfulfill.sandbox.hosted.drafts import Draft
from flexfulfill.sandbox.hosted.forms import INTAKE_QUESTIONS, Errors
from flexfulfill.sandbox.hosted.port import CheckoutView

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # No form-action: Chromium applies it to the redirect to the merchant's success_url.
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'",
}


def phone(digits: str) -> str:
    """A US number as ``(555) 010-4242``; other lengths as typed."""
    if len(digits) == 10 and digits.isdigit():
        return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    return digits


def money(cents: int) -> str:
    """Integer cents as US dollars, e.g. ``123456`` → ``$1,234.56``."""
    sign = "−" if cents < 0 else ""
    return f"{sign}${abs(cents) / 100:,.2f}"


@dataclass
class Entered:
    """What the page shows in its forms: the current step, values typed and errors."""

    step: str
    errors: Errors = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)


class Pages:
    """The page templates, loaded once when the router is built."""

    def __init__(self, merchant_name: str) -> None:
        self.merchant_name = merchant_name
        self._env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.filters["money"] = money
        self._env.filters["phone"] = phone

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("merchant_name", self.merchant_name)
        context.setdefault("test_mode", True)
        html = self._env.get_template(template).render(**context)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def checkout(
        self, view: CheckoutView, draft: Draft, entered: Entered, tokens: tuple[str, str]
    ) -> HTMLResponse:
        contact = draft.contact.as_dict() if draft.contact else dict(view.defaults)
        if entered.step == "contact" and entered.values:
            contact = entered.values
        intake = entered.values if entered.step == "intake" else (draft.intake or {})
        return self.render(
            "checkout.html",
            422 if entered.errors else 200,
            view=view,
            merchant_name=view.merchant_name,
            test_mode=view.test_mode,
            step=entered.step,
            errors=entered.errors,
            values=entered.values,
            contact=_Blank(contact),
            contact_done=draft.contact is not None,
            intake=intake,
            intake_done=draft.intake is not None,
            questions=INTAKE_QUESTIONS,
            notice=draft.notice,
            csrf_token=tokens[0],
            submission_token=tokens[1],
        )

    def message(self, heading: str, body: str, *, status: int = 200, **extra: Any) -> HTMLResponse:
        extra.setdefault("state", "message")
        return self.render("message.html", status, heading=heading, body=body, **extra)

    def closed(self, view: CheckoutView) -> HTMLResponse:
        """A clear page for a session that can no longer be paid."""
        heading, body, url, text = _CLOSED.get(view.status, _CLOSED["expired"])
        link = view.success_redirect() if url == "success" else view.cancel_url
        return self.message(
            heading,
            body.format(merchant=view.merchant_name),
            state=view.status,
            merchant_name=view.merchant_name,
            link_url=link,
            link_text=text.format(merchant=view.merchant_name),
        )


class _Blank(dict[str, str]):
    """A mapping whose missing keys read as empty strings in templates."""

    def __getattr__(self, name: str) -> str:
        return self.get(name) or ""


_CLOSED = {
    "complete": (
        "This order is already paid",
        "Payment went through and {merchant} has your order. There is nothing more to pay.",
        "success",
        "Return to {merchant}",
    ),
    "paid": (
        "This order is already paid",
        "Payment went through and {merchant} has your order. There is nothing more to pay.",
        "success",
        "Return to {merchant}",
    ),
    "expired": (
        "This checkout has expired",
        "Nothing was charged. Go back to {merchant} to start a new checkout.",
        "cancel",
        "Back to {merchant}",
    ),
    "canceled": (
        "This checkout was canceled",
        "Nothing was charged. Go back to {merchant} to start a new checkout.",
        "cancel",
        "Back to {merchant}",
    ),
}
