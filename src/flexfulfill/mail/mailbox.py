"""The local mail server: with no ``SMTP_URL``, receipts go to an aiosmtpd server on loopback
that stores every message in the ``mailbox`` table, where the dashboard and tests read them.

The server runs on the caller's event loop (``loop.create_server`` with aiosmtpd's protocol),
not on aiosmtpd's ``Controller`` thread, so its handler can use the application's async engine.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import weakref
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any, Protocol

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.clock import Clock
from flexfulfill.store.tables import mailbox

log = logging.getLogger(__name__)

ACCEPTED = "250 2.0.0 Stored in the local mailbox"
STORE_DOWN = "451 4.3.0 Local mailbox unavailable, try again later"


class SmtpHandler(Protocol):
    """What aiosmtpd calls with each message (its handler interface, DATA only here)."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str: ...


class MailboxHandler:
    """Stores each accepted message as a ``mailbox`` row; answers 451 if the database is down."""

    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = _raw(envelope)
        headers = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
        row = {
            "message_id": str(headers.get("Message-ID", "")).strip() or None,
            "mail_from": envelope.mail_from,
            "rcpt_to": ", ".join(envelope.rcpt_tos),
            "subject": str(headers.get("Subject", "")),
            "raw": raw,
            "received_at": self._clock.now(),
        }
        try:
            # Shielded: aiosmtpd cancels this handler when the client hangs up. A cancel landing
            # while SQLite runs the INSERT or COMMIT on aiosqlite's thread left that connection
            # inside its transaction, holding the write lock for every other process (seen in a
            # 10,000-checkout chaos run: every writer "database is locked" for minutes).
            await asyncio.shield(self._store(row))
        except SQLAlchemyError as exc:
            log.warning("local mailbox: could not store a message (%s)", type(exc).__name__)
            return STORE_DOWN
        return ACCEPTED

    async def _store(self, row: dict[str, Any]) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(insert(mailbox).values(row))


def _raw(envelope: Envelope) -> bytes:
    content = envelope.original_content or envelope.content or b""
    return content.encode("utf-8") if isinstance(content, str) else content


class SmtpServer:
    """An aiosmtpd server on the running loop; ``port=0`` picks a free port (see :attr:`port`).

    ``ssl_context`` makes it implicit TLS (smtps); ``options`` go to aiosmtpd's ``SMTP``
    (``tls_context`` for STARTTLS, ``authenticator``, ...).
    """

    def __init__(
        self,
        handler: SmtpHandler,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ssl_context: ssl.SSLContext | None = None,
        **options: Any,
    ) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self._ssl = ssl_context
        self._options = options
        self._server: asyncio.Server | None = None
        self._connections: weakref.WeakSet[SMTP] = weakref.WeakSet()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, self.host, self.port, ssl=self._ssl)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            for connection in self._connections:
                if connection.transport is not None:
                    connection.transport.close()
            await server.wait_closed()

    async def __aenter__(self) -> SmtpServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _protocol(self) -> SMTP:
        loop = asyncio.get_running_loop()
        # hostname given so aiosmtpd does not resolve the machine's FQDN on every connection
        connection = SMTP(self.handler, hostname="flexfulfill.local", loop=loop, **self._options)
        self._connections.add(connection)
        return connection


@dataclass(frozen=True)
class StoredMail:
    """One message in the local mailbox."""

    id: int
    message_id: str | None
    mail_from: str | None
    rcpt_to: str | None
    subject: str | None
    raw: bytes
    received_at: float

    def parsed(self) -> EmailMessage:
        message = BytesParser(policy=policy.default).parsebytes(self.raw)
        assert isinstance(message, EmailMessage)  # policy.default builds EmailMessage
        return message


async def list_mail(
    engine: AsyncEngine, *, limit: int = 50, message_id: str | None = None
) -> list[StoredMail]:
    """Messages in the local mailbox, oldest first; optionally only one Message-ID's copies."""
    query = select(mailbox).order_by(mailbox.c.id).limit(limit)
    if message_id is not None:
        query = query.where(mailbox.c.message_id == message_id)
    async with engine.connect() as conn:
        return [_stored(r._mapping) for r in (await conn.execute(query)).all()]


def _stored(row: Any) -> StoredMail:
    return StoredMail(**dict(row))
