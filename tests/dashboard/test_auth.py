"""Password hashes, session cookies and CSRF tokens, as plain values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flexfulfill.clock import ManualClock
from flexfulfill.config import ConfigError, Settings
from flexfulfill.web.auth import (
    HashFormatError,
    Session,
    Sessions,
    csrf_ok,
    hash_password,
    parse_hash,
    verify_password,
)
from flexfulfill.web.dashboard import dashboard_router


def test_a_hash_verifies_its_password_and_no_other(password_hash: str) -> None:
    """The right password verifies; a wrong one and an empty one do not."""
    assert verify_password("correct horse battery staple", password_hash)
    assert not verify_password("correct horse battery stapler", password_hash)
    assert not verify_password("", password_hash)


def test_the_same_password_hashes_differently_each_time() -> None:
    """A random salt per hash: equal passwords do not give equal hashes."""
    assert hash_password("same password") != hash_password("same password")


def test_a_malformed_hash_says_how_to_make_one() -> None:
    """A hash that is not ours raises an error naming the command that makes a good one."""
    for bad in ("plaintext", "scrypt$1$2$3$!!$??", "bcrypt$a$b$c$d$e"):
        with pytest.raises(HashFormatError, match="dashboard hash-password"):
            parse_hash(bad)


def test_a_malformed_hash_stops_the_dashboard_at_start_up() -> None:
    """Configuring a bad DASHBOARD_PASSWORD_HASH fails when the app is built, not at login."""
    settings = Settings(dashboard_user="ops", dashboard_password_hash="hunter2")
    with pytest.raises(ConfigError, match="DASHBOARD_PASSWORD_HASH"):
        dashboard_router(settings, engine=None)  # type: ignore[arg-type]


def test_a_session_expires_after_its_max_age(password_hash: str) -> None:
    """A cookie reads back until max_age has passed on the clock, then it is refused."""
    clock = ManualClock()
    sessions = Sessions(password_hash, now=clock.now, max_age=600)
    session, cookie = sessions.issue("ops")
    clock.advance(599)
    assert sessions.read(cookie) == session
    clock.advance(2)
    assert sessions.read(cookie) is None


def test_a_tampered_or_foreign_cookie_is_refused(password_hash: str) -> None:
    """Changing one character, or signing with another password's key, invalidates a cookie."""
    sessions = Sessions(password_hash)
    _, cookie = sessions.issue("ops")
    # The first character carries six whole bits of the payload (the last one of the signature
    # may carry only padding bits, which base64 decoding ignores).
    tampered = ("B" if cookie[0] == "A" else "A") + cookie[1:]
    assert sessions.read(tampered) is None
    _, foreign = Sessions(hash_password("another password")).issue("ops")
    assert sessions.read(foreign) is None


def test_csrf_tokens_must_match_the_session() -> None:
    """Only the session's own token passes; missing tokens and missing sessions fail."""
    session = Session(user="ops", csrf="token-1")
    assert csrf_ok(session, "token-1")
    assert not csrf_ok(session, "token-2")
    assert not csrf_ok(session, None)
    assert not csrf_ok(None, "token-1")


def test_hash_password_command_prints_a_working_hash() -> None:
    """`flexfulfill dashboard hash-password --stdin` prints a hash that verifies the password."""
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("flexfulfill")),
            "dashboard",
            "hash-password",
            "--stdin",
        ],
        input="s3cret-passphrase\n",
        capture_output=True,
        text=True,
        check=True,
    )
    printed = result.stdout.strip()
    assert verify_password("s3cret-passphrase", printed)
    assert "s3cret" not in result.stderr
