"""Protection of the hosted page's forms against forgery and double submission.

Cross-site request forgery: every form carries a token that is an HMAC of the browser's own
random cookie and the checkout session id (a signed double-submit cookie). Another site can
make a browser send the cookie, but cannot read it, so it cannot compute the form's token; a
token lifted from one session's page is worthless on another. The cookie is ``SameSite=Lax``
and ``HttpOnly`` as a second line.

Double submission: the Pay form carries a one-time submission token kept with the session's
draft. The first request with it consumes it under the session's lock; a second (a double
click, a reload of the POST) finds it spent and is sent to the outcome of the first.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable

CSRF_COOKIE = "ff_checkout_browser"
CSRF_FIELD = "csrf_token"
SUBMISSION_FIELD = "submission_token"

TokenSource = Callable[[], str]


def random_token() -> str:
    """A 128-bit URL-safe random token (the default :data:`TokenSource`)."""
    return secrets.token_urlsafe(16)


class CsrfGuard:
    """Issues and checks form tokens bound to a browser cookie and a checkout session."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def form_token(self, browser: str, session_id: str) -> str:
        message = f"{browser}\x00{session_id}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def check(self, browser: str | None, session_id: str, token: str | None) -> bool:
        """True when ``token`` was issued to this browser for this session."""
        if not browser or not token:
            return False
        return hmac.compare_digest(self.form_token(browser, session_id), token)
