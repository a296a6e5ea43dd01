"""Dashboard access: scrypt password hashes, a signed session cookie, CSRF tokens.

The operator's credentials come from the environment (``DASHBOARD_USER`` and
``DASHBOARD_PASSWORD_HASH``, the latter made by ``flexfulfill dashboard hash-password``). A
login sets one cookie, signed with a key derived from the password hash (so every ``serve``
process agrees without another secret, and changing the password ends every session); it carries
the user, a CSRF token and its issue time, and expires after :data:`SESSION_SECONDS`. Every POST
must echo the CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer

SESSION_COOKIE = "ff_session"
SESSION_SECONDS = 8 * 3600
# scrypt cost: 2**15 × 8 × 1 takes ~50 ms and 32 MiB here, enough against offline guessing.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
_SCRYPT_MAXMEM = 64 * 1024 * 1024


class HashFormatError(ValueError):
    """DASHBOARD_PASSWORD_HASH is not a hash made by `flexfulfill dashboard hash-password`."""


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash`` (base64 parts) for DASHBOARD_PASSWORD_HASH."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return "$".join(
        ("scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest))
    )


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored``; the comparison takes constant time."""
    n, r, p, salt, expected = parse_hash(stored)
    return hmac.compare_digest(_scrypt(password, salt, n, r, p), expected)


def parse_hash(stored: str) -> tuple[int, int, int, bytes, bytes]:
    """The parameters of a stored hash; :class:`HashFormatError` says how to make a good one."""
    parts = stored.strip().split("$")
    try:
        if len(parts) != 6 or parts[0] != "scrypt":
            raise ValueError(stored[:7])
        n, r, p = (int(x) for x in parts[1:4])
        return n, r, p, _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        raise HashFormatError(
            "DASHBOARD_PASSWORD_HASH is not a scrypt hash; make one with "
            "`flexfulfill dashboard hash-password`"
        ) from None


@dataclass(frozen=True)
class Session:
    """A signed-in operator (``user`` is None before login) and the session's CSRF token."""

    user: str | None
    csrf: str


class Sessions:
    """Issues and reads the session cookie, timed by ``now`` (a Clock's ``now``)."""

    def __init__(
        self,
        password_hash: str,
        *,
        now: Callable[[], float] = time.time,
        max_age: int = SESSION_SECONDS,
    ) -> None:
        key = hashlib.sha256(b"flexfulfill-dashboard-session\0" + password_hash.encode()).digest()
        signer = _clock_signer(now)
        self._serializer = URLSafeTimedSerializer(key, salt="ff-dashboard", signer=signer)
        self.max_age = max_age

    def issue(self, user: str | None) -> tuple[Session, str]:
        """A new session (with a new CSRF token) and its cookie value."""
        session = Session(user=user, csrf=secrets.token_urlsafe(24))
        return session, self._serializer.dumps({"u": session.user, "c": session.csrf})

    def read(self, cookie: str | None) -> Session | None:
        """The session in ``cookie``, or None when absent, forged or older than ``max_age``."""
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=self.max_age)
        except BadSignature:  # also SignatureExpired
            return None
        if not isinstance(data, dict) or not isinstance(data.get("c"), str):
            return None
        user = data.get("u")
        return Session(user=user if isinstance(user, str) else None, csrf=data["c"])


def _clock_signer(now: Callable[[], float]) -> type[TimestampSigner]:
    class ClockSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(now())

    return ClockSigner


def csrf_ok(session: Session | None, submitted: str | None) -> bool:
    """The submitted token matches the session's, compared in constant time."""
    if session is None or not submitted:
        return False
    return hmac.compare_digest(session.csrf.encode(), submitted.encode())


def user_ok(expected_user: str, given_user: str) -> bool:
    return hmac.compare_digest(expected_user.encode(), given_user.encode())


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=_SCRYPT_MAXMEM)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
