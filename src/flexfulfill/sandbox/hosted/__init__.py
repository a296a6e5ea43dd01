"""The sandbox's hosted checkout: ``/pay/c/{checkout_session_id}`` and ``/pay/l/{payment_link_id}``.

Two equivalent ways to mount it into the sandbox app, one :class:`HostedCheckout` (drafts,
CSRF key) per app either way:

- ``api.include_router(hosted_router(state))``, or
- ``api.include_router(router)``: built on first use from ``request.app.state.sandbox``.

Server-rendered (Jinja2), usable without JavaScript; Pay runs the sandbox's one checkout flow.
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter
from starlette.requests import Request

from flexfulfill.sandbox.hosted.backend import SandboxBackend
from flexfulfill.sandbox.hosted.routes import HostedCheckout, build_router
from flexfulfill.sandbox.state import SandboxState

DEFAULT_MERCHANT = "Flex Demo Store"


def hosted_checkout(
    state: SandboxState, *, merchant_name: str = DEFAULT_MERCHANT, secret: bytes | None = None
) -> HostedCheckout:
    """The hosted pages of one sandbox; ``secret`` keys the CSRF tokens (random by default)."""
    return HostedCheckout(
        SandboxBackend(state, merchant_name),
        merchant_name=merchant_name,
        secret=secret or secrets.token_bytes(32),
        clock=state.clock,
    )


def hosted_router(state: SandboxState, *, merchant_name: str = DEFAULT_MERCHANT) -> APIRouter:
    """The routes of :func:`hosted_checkout` for ``state``."""
    return build_router(hosted_checkout(state, merchant_name=merchant_name))


def _for_app(request: Request) -> HostedCheckout:
    app_state = request.app.state
    hosted: HostedCheckout | None = getattr(app_state, "hosted_checkout", None)
    if hosted is None:
        merchant = getattr(app_state, "merchant_name", DEFAULT_MERCHANT)
        hosted = hosted_checkout(app_state.sandbox, merchant_name=merchant)
        app_state.hosted_checkout = hosted
    return hosted


router = build_router(_for_app)

__all__ = ["HostedCheckout", "build_router", "hosted_checkout", "hosted_router", "router"]
