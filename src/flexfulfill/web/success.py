"""``GET /checkout/success?session_id=…``: the customer's return from Flex's hosted checkout.

The redirect is only a hint. The page calls the same :func:`fulfill_checkout` as the webhook,
which re-fetches the session from Flex and fulfills only when Flex reports it ``complete``. A
forged or early visit (unknown session, unpaid session) fulfills nothing and says so. Whichever
of the webhook and this page comes first creates the order; the other finds it.

Answers HTML for browsers, JSON when the request prefers ``application/json``.
"""

from __future__ import annotations

import html
import re

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from flexfulfill.flex import FlexError, NotFoundError
from flexfulfill.fulfillment.checkout import FulfillResult, Outcome, fulfill_checkout
from flexfulfill.fulfillment.context import Services, log
from flexfulfill.store.statuses import FulfilledVia

SUCCESS_PATH = "/checkout/success"
_SESSION_ID = re.compile(r"^[A-Za-z0-9_]{1,128}$")


def success_router(services: Services) -> APIRouter:
    """The success page's router, for ``build_app(routers=[...])``."""
    router = APIRouter()

    @router.get(SUCCESS_PATH, include_in_schema=False)
    async def success(request: Request, session_id: str = "") -> Response:
        wants_json = "application/json" in request.headers.get("accept", "")
        if not _SESSION_ID.match(session_id):
            return _answer(wants_json, 400, "missing_session", _MISSING)
        try:
            result = await fulfill_checkout(services, session_id, FulfilledVia.SUCCESS_PAGE)
        except NotFoundError:
            return _answer(wants_json, 404, "unknown_session", _UNKNOWN)
        except FlexError as exc:
            log.warning("success page could not reach Flex for %s: %s", session_id, exc.problem)
            return _answer(wants_json, 503, "flex_unavailable", _UNAVAILABLE)
        return _result(wants_json, result)

    return router


def _result(wants_json: bool, result: FulfillResult) -> Response:
    if result.outcome is Outcome.NOT_PAID:
        message = _NOT_PAID.format(status=html.escape(str(result.session_status)))
        return _answer(wants_json, 402, "not_paid", message, status=result.session_status)
    number = f"FF-{result.order_id:06d}"
    message = _THANKS.format(number=number)
    return _answer(wants_json, 200, "fulfilled", message, order=number, outcome=result.outcome)


def _answer(wants_json: bool, code: int, kind: str, message: str, **extra: object) -> Response:
    if wants_json:
        title, _, body = (
            " ".join(re.sub(r"<[^>]+>", " ", part).split()) for part in message.partition("</h1>")
        )
        payload = {"result": kind, "title": title, "message": body, **extra}
        return JSONResponse(payload, status_code=code)
    headers = {"Retry-After": "30"} if code == 503 else None
    return HTMLResponse(_PAGE.format(body=message), status_code=code, headers=headers)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Your order</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 36rem; margin: 4rem auto">
{body}
</body></html>"""
_THANKS = (
    "<h1>Thank you!</h1><p>Your payment is confirmed and order <strong>{number}</strong> "
    "is on its way. A receipt is on its way to your email.</p>"
)
_NOT_PAID = (
    "<h1>No payment received</h1><p>Flex reports this checkout as <code>{status}</code>, "
    "not paid, so nothing was ordered. If you did pay, this page will confirm it once Flex "
    "does; reload it in a minute.</p>"
)
_UNKNOWN = (
    "<h1>Unknown checkout</h1><p>No checkout with this id exists, so nothing was ordered. "
    "Please use the link from your checkout.</p>"
)
_MISSING = (
    "<h1>Missing checkout</h1><p>This link has no <code>session_id</code>, so nothing was "
    "ordered. Please use the link from your checkout.</p>"
)
_UNAVAILABLE = (
    "<h1>Confirming your payment…</h1><p>We could not reach the payment service just now. "
    "If you paid, your order is safe and will be confirmed; reload this page in a minute.</p>"
)
