"""Settings, read once from the environment.

Every variable is parsed here and nowhere else. A missing or malformed value raises
:class:`ConfigError`, whose message names the variable and shows a valid example, so a
misconfigured deployment stops at start-up instead of failing on the first webhook.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./flexfulfill.sqlite3"
DEFAULT_FLEX_API_BASE = "https://api.withflex.com"
SECRET_PREFIXES = ("fwhsec_", "whsec_")


class ConfigError(Exception):
    """A setting is missing or malformed; the message says which and shows an example."""

    def __init__(self, variable: str, problem: str, example: str) -> None:
        self.variable = variable
        super().__init__(f"{variable}: {problem}. Example: {variable}={example}")


@dataclass(frozen=True)
class Settings:
    """Everything the services read from the environment. Build with :meth:`from_env`."""

    database_url: str = DEFAULT_DATABASE_URL
    webhook_secrets: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    port: int = 4242
    body_limit: int = 1024 * 1024
    timestamp_tolerance: int = 300
    flex_api_base: str = DEFAULT_FLEX_API_BASE
    flex_api_key: str | None = field(default=None, repr=False)
    smtp_url: str | None = field(default=None, repr=False)
    receipt_from: str = "receipts@example.com"
    receipt_reply_to: str | None = None
    merchant_name: str = "Flex Demo Store"
    receipt_templates_dir: Path | None = None
    dashboard_user: str | None = None
    dashboard_password_hash: str | None = field(default=None, repr=False)
    max_attempts: int = 8
    lease_seconds: float = 60.0
    reconcile_interval: float = 300.0
    restock_on_refund: bool = False
    run_worker_in_serve: bool = True

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, require: tuple[str, ...] = ()
    ) -> Settings:
        """Parse the environment; ``require`` names variables that must be present."""
        env = os.environ if env is None else env
        for name in require:
            if not env.get(name, "").strip():
                raise ConfigError(name, "is not set", _EXAMPLES[name])
        return cls(
            database_url=normalize_database_url(env.get("DATABASE_URL", DEFAULT_DATABASE_URL)),
            webhook_secrets=_parse(env, "FLEX_WEBHOOK_SECRET", parse_secrets, ()),
            host=env.get("FLEXFULFILL_HOST", "127.0.0.1"),
            port=_parse(env, "FLEXFULFILL_PORT", _port, 4242),
            body_limit=_parse(env, "WEBHOOK_BODY_LIMIT", _positive_int, 1024 * 1024),
            timestamp_tolerance=_parse(env, "WEBHOOK_TOLERANCE_SECONDS", _positive_int, 300),
            flex_api_base=_parse(env, "FLEX_API_BASE", _http_url, DEFAULT_FLEX_API_BASE),
            flex_api_key=_parse(env, "FLEX_API_KEY", _api_key, None),
            smtp_url=_parse(env, "SMTP_URL", _smtp_url, None),
            receipt_from=env.get("RECEIPT_FROM", "receipts@example.com"),
            receipt_reply_to=env.get("RECEIPT_REPLY_TO") or None,
            merchant_name=env.get("MERCHANT_NAME", "Flex Demo Store"),
            receipt_templates_dir=_parse(env, "RECEIPT_TEMPLATES_DIR", _directory, None),
            dashboard_user=env.get("DASHBOARD_USER") or None,
            dashboard_password_hash=env.get("DASHBOARD_PASSWORD_HASH") or None,
            max_attempts=_parse(env, "WORKER_MAX_ATTEMPTS", _positive_int, 8),
            lease_seconds=float(_parse(env, "WORKER_LEASE_SECONDS", _positive_int, 60)),
            reconcile_interval=float(_parse(env, "RECONCILE_INTERVAL_SECONDS", _positive_int, 300)),
            restock_on_refund=_parse(env, "RESTOCK_ON_REFUND", _bool, False),
            run_worker_in_serve=_parse(env, "SERVE_WITH_WORKER", _bool, True),
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


_EXAMPLES = {
    "FLEX_WEBHOOK_SECRET": "fwhsec_Y2NhZDczMDYtNDEyYi0xMWVlLTg5MTItNGY4Y2E5ZmU1MmI4",
    "DATABASE_URL": "postgresql://user@127.0.0.1:5432/flexfulfill",
    "FLEXFULFILL_PORT": "4242",
    "WEBHOOK_BODY_LIMIT": "1048576",
    "WEBHOOK_TOLERANCE_SECONDS": "300",
    "FLEX_API_BASE": "https://api.withflex.com",
    "FLEX_API_KEY": "fsk_test_4f3c…",
    "SMTP_URL": "smtps://user:password@smtp.example.com:465",
    "RECEIPT_TEMPLATES_DIR": "/etc/flexfulfill/templates",
    "WORKER_MAX_ATTEMPTS": "8",
    "WORKER_LEASE_SECONDS": "60",
    "RECONCILE_INTERVAL_SECONDS": "300",
    "RESTOCK_ON_REFUND": "false",
    "SERVE_WITH_WORKER": "true",
}


def _parse(env: Mapping[str, str], name: str, parse: Callable[[str], T], default: T) -> T:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return parse(raw.strip())
    except ValueError as exc:
        raise ConfigError(name, str(exc), _EXAMPLES.get(name, "…")) from None


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a webhook signing secret: the base64 after the prefix, decoded.

    ``fwhsec_`` (Flex) and ``whsec_`` (Svix / Standard Webhooks) prefixes are accepted, as is
    unpadded base64. Raises ValueError for anything else.
    """
    body = secret.strip()
    for prefix in SECRET_PREFIXES:
        if body.startswith(prefix):
            body = body[len(prefix) :]
            break
    body += "=" * (-len(body) % 4)
    try:
        key = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            f"secret starting {secret[:9]!r}… is not base64 after its prefix"
        ) from None
    if not key:
        raise ValueError("secret is empty after its prefix")
    return key


def parse_secrets(raw: str) -> tuple[str, ...]:
    secrets = tuple(s.strip() for s in raw.split(",") if s.strip())
    for secret in secrets:
        if not secret.startswith(SECRET_PREFIXES):
            raise ValueError("each secret must start with fwhsec_ or whsec_")
        decode_secret(secret)
    if not secrets:
        raise ValueError("no secret given")
    return secrets


def normalize_database_url(raw: str) -> str:
    """Accept the usual spellings and pick the async driver the project uses."""
    url = raw.strip()
    for plain in ("postgres://", "postgresql://", "postgresql+psycopg://"):
        if url.startswith(plain):
            return "postgresql+asyncpg://" + url[len(plain) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    if url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite:///")):
        return url
    raise ConfigError(
        "DATABASE_URL",
        f"unsupported URL scheme in {url.split('://')[0]!r}; use sqlite:/// or postgresql://",
        _EXAMPLES["DATABASE_URL"],
    )


def _port(raw: str) -> int:
    value = _positive_int(raw)
    if value > 65535:
        raise ValueError(f"{raw!r} is not a TCP port (1–65535)")
    return value


def _positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not a whole number") from None
    if value <= 0:
        raise ValueError(f"{raw!r} must be greater than zero")
    return value


def _bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{raw!r} is not true or false")


def _http_url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ValueError(f"{raw!r} is not an http:// or https:// URL")
    return raw.rstrip("/")


def _api_key(raw: str) -> str:
    if not raw.startswith("fsk_"):
        raise ValueError("Flex API keys start with fsk_test_ (test mode) or fsk_ (live)")
    return raw


def _smtp_url(raw: str) -> str:
    if not raw.startswith(("smtp://", "smtps://", "smtp+starttls://")):
        raise ValueError("use smtp://, smtps:// or smtp+starttls:// followed by host:port")
    return raw


def _directory(raw: str) -> Path:
    path = Path(raw)
    if not path.is_dir():
        raise ValueError(f"{raw!r} is not a directory")
    return path
