"""The hosted checkout's routes: ``/pay/c/{checkout_session_id}`` and ``/pay/l/{payment_link_id}``.

Every step is a plain form POST answered by a redirect back to the page (post/redirect/get), so
the page works without JavaScript and a reload never re-sends a form. Pay runs the sandbox's
one checkout flow through :class:`CheckoutBackend` and then sends the browser to the session's
``success_url``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from flexfulfill.clock import Clock
from flexfulfill.sandbox.hosted import forms
from flexfulfill.sandbox.hosted.drafts import Draft, Drafts
from flexfulfill.sandbox.hosted.guard import (
    CSRF_COOKIE,
    CSRF_FIELD,
    SUBMISSION_FIELD,
    CsrfGuard,
    TokenSource,
    random_token,
)
from flexfulfill.sandbox.hosted.pages import Entered, Pages
from flexfulfill.sandbox.hosted.port import (
    CheckoutBackend,
    CheckoutView,
    LinkUnavailable,
    Payment,
    Prefill,
)

STATIC = Path(__file__).parent / "static"
OPEN = "open"


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


class HostedCheckout:
    """The page's handlers; build one per sandbox app with :func:`build_router`."""

    def __init__(
        self,
        backend: CheckoutBackend,
        *,
        merchant_name: str,
        secret: bytes,
        clock: Clock,
        new_token: TokenSource = random_token,
    ) -> None:
        self.backend = backend
        self.pages = Pages(merchant_name)
        self.drafts = Drafts(new_token)
        self.guard = CsrfGuard(secret)
        self.clock = clock
        self.new_token = new_token

    # -- GET ---------------------------------------------------------------------------------

    async def show(self, request: Request) -> Response:
        session_id = request.path_params["session_id"]
        view = await self.backend.view(session_id)
        if view is None:
            return self._not_found()
        if view.status != OPEN:
            return self.pages.closed(view)
        draft = self.drafts.get(session_id)
        response = self._checkout(request, view, draft, Entered(self._step(request, view, draft)))
        draft.notice = None
        return response

    async def from_link(self, request: Request) -> Response:
        params = request.query_params
        prefill = Prefill(**{k: params.get(k) or None for k in Prefill.__dataclass_fields__})
        link_id = request.path_params["link_id"]
        base_url = str(request.base_url).rstrip("/")
        try:
            session_id = await self.backend.session_from_link(link_id, prefill, base_url)
        except LinkUnavailable as exc:
            return self.pages.message("This payment link is not available", str(exc), status=404)
        return _see_other(f"/pay/c/{session_id}")

    # -- POST --------------------------------------------------------------------------------

    async def contact(self, request: Request) -> Response:
        return await self._step_post(request, "contact")

    async def intake(self, request: Request) -> Response:
        return await self._step_post(request, "intake")

    async def pay(self, request: Request) -> Response:
        session_id = request.path_params["session_id"]
        form = await self._form(request)
        if form is None:
            return self._forbidden(session_id)
        async with self.drafts.locked(session_id) as draft:
            view = await self.backend.view(session_id)
            if view is None:
                return self._not_found()
            if view.status != OPEN or not draft.spend(form.get(SUBMISSION_FIELD)):
                # A second click, or a POST re-sent: the first submission's outcome stands.
                return self._after_pay(view, session_id)
            return await self._charge(request, view, draft, form)

    # -- steps -------------------------------------------------------------------------------

    async def _step_post(self, request: Request, step: str) -> Response:
        session_id = request.path_params["session_id"]
        form = await self._form(request)
        if form is None:
            return self._forbidden(session_id)
        view = await self.backend.view(session_id)
        if view is None:
            return self._not_found()
        if view.status != OPEN:
            return self.pages.closed(view)
        draft = self.drafts.get(session_id)
        result = forms.parse_contact(form) if step == "contact" else forms.parse_intake(form)
        if isinstance(result, dict):
            return self._checkout(request, view, draft, Entered(step, result, form))
        if isinstance(result, forms.Contact):
            draft.contact = result
        else:
            draft.intake = result.answers
            await self.backend.save_intake(session_id, result.answers)
        return _see_other(f"/pay/c/{session_id}#{self._step(request, view, draft)}")

    async def _charge(
        self, request: Request, view: CheckoutView, draft: Draft, form: dict[str, str]
    ) -> Response:
        if draft.contact is None or (view.needs_letter and draft.intake is None):
            return _see_other(f"/pay/c/{view.session_id}")
        cards = self._cards(view, form)
        if isinstance(cards, dict):
            values = {k: v for k, v in form.items() if k.endswith(("expiry", "postal_code"))}
            return self._checkout(request, view, draft, Entered("payment", cards, values))
        payment = Payment(draft.contact, *cards, draft.intake, form.get(SUBMISSION_FIELD))
        outcome = await self.backend.pay(view.session_id, payment)
        if not outcome.completed and outcome.decline_message:
            draft.notice = outcome.decline_message
            return _see_other(f"/pay/c/{view.session_id}#payment")
        completed = await self.backend.view(view.session_id)
        return self._after_pay(completed or view, view.session_id)

    def _cards(
        self, view: CheckoutView, form: dict[str, str]
    ) -> tuple[forms.Card, forms.Card | None] | forms.Errors:
        """The card, and the second card of a split cart; or every field's error."""
        today = dt.datetime.fromtimestamp(self.clock.now(), dt.UTC)
        card = forms.parse_card(form, year=today.year, month=today.month)
        second = None
        if view.is_split:
            second = forms.parse_card(form, prefix="second_", year=today.year, month=today.month)
        errors = {**_errors_of(card), **_errors_of(second)}
        if errors or isinstance(card, dict) or isinstance(second, dict):
            return errors
        return card, second

    def _after_pay(self, view: CheckoutView, session_id: str) -> Response:
        if view.status in ("complete", "paid") and view.success_redirect():
            return _see_other(view.success_redirect() or "/")
        return _see_other(f"/pay/c/{session_id}")

    def _step(self, request: Request, view: CheckoutView, draft: Draft) -> str:
        edit = request.query_params.get("edit")
        if draft.contact is None or edit == "contact":
            return "contact"
        if view.needs_letter and (draft.intake is None or edit == "intake"):
            return "intake"
        return "payment"

    # -- security ----------------------------------------------------------------------------

    def _checkout(
        self, request: Request, view: CheckoutView, draft: Draft, entered: Entered
    ) -> Response:
        browser = request.cookies.get(CSRF_COOKIE) or self.new_token()
        tokens = (
            self.guard.form_token(browser, view.session_id),
            self.drafts.submission_token(view.session_id),
        )
        response = self.pages.checkout(view, draft, entered, tokens)
        if request.cookies.get(CSRF_COOKIE) != browser:
            response.set_cookie(CSRF_COOKIE, browser, path="/pay", httponly=True, samesite="lax")
        return response

    async def _form(self, request: Request) -> dict[str, str] | None:
        """The submitted fields, or ``None`` when the CSRF token does not match."""
        raw = await request.form()
        form = {k: v for k, v in raw.items() if isinstance(v, str)}
        session_id = request.path_params["session_id"]
        if self.guard.check(request.cookies.get(CSRF_COOKIE), session_id, form.get(CSRF_FIELD)):
            return form
        return None

    def _forbidden(self, session_id: str) -> Response:
        return self.pages.message(
            "This form could not be accepted",
            "It was sent from another page or your browser blocked our cookie. Nothing was "
            "charged. Open the checkout page again and resubmit.",
            status=403,
            link_url=f"/pay/c/{session_id}",
            link_text="Back to the checkout",
        )

    def _not_found(self) -> Response:
        return self.pages.message(
            "We can't find this checkout",
            "Check the link you followed, or go back to the store and start again.",
            status=404,
            state="not_found",
        )


def _errors_of(result: object) -> forms.Errors:
    return result if isinstance(result, dict) else {}


Resolve = Callable[[Request], HostedCheckout]
Handler = Callable[[HostedCheckout, Request], Awaitable[Response]]


def build_router(hosted: HostedCheckout | Resolve) -> APIRouter:
    """The hosted page's routes, for ``app.include_router``.

    ``hosted`` is one :class:`HostedCheckout`, or a function finding the one of the app
    serving a request (the sandbox keeps one per app, next to its state).
    """
    resolve: Resolve = (lambda _r: hosted) if isinstance(hosted, HostedCheckout) else hosted
    router = APIRouter(include_in_schema=False)

    def route(path: str, method: str, handler: Handler) -> None:
        async def endpoint(request: Request) -> Response:
            return await handler(resolve(request), request)

        router.add_api_route(path, endpoint, methods=[method])

    route("/pay/c/{session_id}", "GET", HostedCheckout.show)
    route("/pay/c/{session_id}/contact", "POST", HostedCheckout.contact)
    route("/pay/c/{session_id}/intake", "POST", HostedCheckout.intake)
    route("/pay/c/{session_id}/pay", "POST", HostedCheckout.pay)
    route("/pay/l/{link_id}", "GET", HostedCheckout.from_link)
    router.add_api_route("/pay/static/{name}", _static, methods=["GET"])
    return router


async def _static(name: str) -> Response:
    path = STATIC / name
    if name not in ("checkout.css", "checkout.js") or not path.is_file():
        return Response("not found", status_code=404)
    return FileResponse(path, headers={"Cache-Control": "public, max-age=300"})


__all__ = ["HostedCheckout", "build_router"]
