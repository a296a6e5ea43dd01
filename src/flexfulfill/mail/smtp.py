"""Sending over SMTP with aiosmtplib, configured by ``SMTP_URL``, and what a failure means.

``smtp://`` is plain SMTP (default port 25), ``smtp+starttls://`` requires STARTTLS (587) and
``smtps://`` is TLS from the first byte (465); ``user:password@`` logs in. Every failure comes
out as a :class:`~flexfulfill.mail.errors.DeliveryError`: 5xx replies are permanent, everything
else (4xx, refused or dropped connections, timeouts, TLS trouble, a refused login) temporary.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from email.message import Message
from enum import StrEnum
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib

from flexfulfill.mail.errors import DeliveryError, PermanentDeliveryError, TemporaryDeliveryError

_SMTP_ERRORS = (aiosmtplib.SMTPException, OSError)


class Security(StrEnum):
    """How the connection is protected, named by the ``SMTP_URL`` scheme."""

    PLAIN = "smtp"
    STARTTLS = "smtp+starttls"
    TLS = "smtps"


DEFAULT_PORTS = {Security.PLAIN: 25, Security.STARTTLS: 587, Security.TLS: 465}
# 5xx replies about the session, not the message (RFC 3207, RFC 4954): authentication or
# encryption required, authentication failed.
SESSION_POLICY_CODES = frozenset({530, 534, 535, 538})


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to connect; build from a URL with :meth:`from_url`."""

    host: str
    port: int
    security: Security = Security.PLAIN
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    # The EHLO name. Unset, it is the machine's FQDN, looked up once per mailer: aiosmtplib
    # would otherwise resolve it on every connection, blocking the event loop on DNS.
    local_hostname: str | None = None

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 30.0) -> SmtpConfig:
        """Parse ``smtp[s|+starttls]://[user:password@]host[:port]``; ValueError if malformed."""
        parts = urlsplit(url)
        try:
            security = Security(parts.scheme)
        except ValueError:
            raise ValueError(f"unsupported scheme {parts.scheme!r}") from None
        if not parts.hostname:
            raise ValueError("no host after the scheme")
        return cls(
            host=parts.hostname,
            port=parts.port or DEFAULT_PORTS[security],
            security=security,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            timeout=timeout,
        )

    def describe(self) -> str:
        """The URL without the password, for logs and ``doctor``."""
        user = f"{self.username}@" if self.username else ""
        return f"{self.security.value}://{user}{self.host}:{self.port}"


class MailSession(Protocol):
    """An open channel to the mail server for a batch of messages."""

    async def send(self, message: Message) -> str:
        """Deliver one message; the server's acceptance reply, or a DeliveryError."""
        ...


class Mailer(Protocol):
    """Opens sessions; the sender uses one session per claimed batch."""

    def session(self) -> AbstractAsyncContextManager[MailSession]: ...


class SmtpMailer:
    """Delivers over SMTP; one connection is reused for every message of a session."""

    def __init__(self, config: SmtpConfig, *, tls_context: ssl.SSLContext | None = None) -> None:
        if config.local_hostname is None:
            config = replace(config, local_hostname=socket.getfqdn())
        self.config = config
        self._tls_context = tls_context

    @asynccontextmanager
    async def session(self) -> AsyncIterator[SmtpSession]:
        session = SmtpSession(self.config, self._tls_context)
        try:
            yield session
        finally:
            await session.close()


class SmtpSession:
    """Connects lazily; reconnects after a failure, but not after a failure to connect.

    When the server cannot be reached at all, the rest of the batch fails at once with the same
    error instead of each message waiting out its own connection timeout.
    """

    def __init__(self, config: SmtpConfig, tls_context: ssl.SSLContext | None) -> None:
        self._config = config
        self._tls_context = tls_context
        self._client: aiosmtplib.SMTP | None = None
        self._unreachable: DeliveryError | None = None

    async def send(self, message: Message) -> str:
        client = await self._connected()
        try:
            _refused, reply = await client.send_message(message)
        except _SMTP_ERRORS as exc:
            await self.close()  # a clean slate for the next message, whatever state this left
            raise classify(exc) from exc
        return reply

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is None or not client.is_connected:
            return
        try:
            await client.quit()
        except _SMTP_ERRORS:
            client.close()

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._unreachable is not None:
            raise self._unreachable
        if self._client is None:
            client = _client(self._config, self._tls_context)
            try:
                await client.connect()
            except _SMTP_ERRORS as exc:
                self._unreachable = classify(exc)
                raise self._unreachable from exc
            self._client = client
        return self._client


def _client(config: SmtpConfig, tls_context: ssl.SSLContext | None) -> aiosmtplib.SMTP:
    return aiosmtplib.SMTP(
        hostname=config.host,
        port=config.port,
        username=config.username,
        password=config.password,
        use_tls=config.security is Security.TLS,
        start_tls=config.security is Security.STARTTLS,
        tls_context=tls_context,
        timeout=config.timeout,
        local_hostname=config.local_hostname,
    )


def classify(exc: aiosmtplib.SMTPException | OSError) -> DeliveryError:
    """Turn an aiosmtplib or socket error into a temporary or permanent DeliveryError."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError) or (
        isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code in SESSION_POLICY_CODES
    ):
        # Wrong credentials or a missing STARTTLS are the operator's to fix, not the message's
        # fault: keep the receipts and retry until SMTP_URL is corrected.
        return TemporaryDeliveryError(f"{exc.code} {exc.message} (check SMTP_URL)")
    if isinstance(exc, aiosmtplib.SMTPConnectResponseError | aiosmtplib.SMTPHeloError):
        return TemporaryDeliveryError(f"{exc.code} {exc.message} (server refused the session)")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        reply = f"{exc.code} {exc.message}"
        permanent = 500 <= exc.code < 600
        return PermanentDeliveryError(reply) if permanent else TemporaryDeliveryError(reply)
    return TemporaryDeliveryError(f"{type(exc).__name__}: {exc}")
