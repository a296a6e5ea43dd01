"""The SMTP transport: SMTP_URL parsing, failure classes, STARTTLS, implicit TLS and login."""

from __future__ import annotations

import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import aiosmtplib
import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from mail_harness import SENDER, ScriptedHandler, plain_receipt

from flexfulfill.mail import (
    PermanentDeliveryError,
    Security,
    SmtpConfig,
    SmtpMailer,
    SmtpServer,
    TemporaryDeliveryError,
    build_renderer,
    classify,
    compose,
)


def _message() -> object:
    rendered = build_renderer(SENDER.name).render(plain_receipt())
    return compose(rendered, SENDER, "shopper1@example.com", "<r.1@shop.example>", 0.0)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.local", ("mail.local", 25, Security.PLAIN, None, None)),
        (
            "smtp+starttls://u@smtp.example.com",
            ("smtp.example.com", 587, Security.STARTTLS, "u", None),
        ),
        (
            "smtps://u%40x:p%3Aw@smtp.example.com:2465",
            ("smtp.example.com", 2465, Security.TLS, "u@x", "p:w"),
        ),
    ],
)
def test_smtp_url_gives_host_port_security_and_decoded_credentials(
    url: str, expected: tuple[object, ...]
) -> None:
    """Default ports per scheme; user and password are percent-decoded."""
    config = SmtpConfig.from_url(url)
    assert (config.host, config.port, config.security, config.username, config.password) == expected


def test_a_described_smtp_url_never_shows_the_password() -> None:
    """describe() is what logs and doctor print."""
    config = SmtpConfig.from_url("smtps://user:s3cret@smtp.example.com")
    assert config.describe() == "smtps://user@smtp.example.com:465"
    assert "s3cret" not in repr(config)


@pytest.mark.parametrize(
    ("url", "problem"), [("http://x", "unsupported scheme"), ("smtp://", "no host after")]
)
def test_a_malformed_smtp_url_is_refused(url: str, problem: str) -> None:
    """The message says what is wrong."""
    with pytest.raises(ValueError, match=problem):
        SmtpConfig.from_url(url)


@pytest.mark.parametrize(
    ("error", "kind", "reply"),
    [
        (aiosmtplib.SMTPResponseException(451, "busy"), TemporaryDeliveryError, "451 busy"),
        (aiosmtplib.SMTPDataError(552, "too big"), PermanentDeliveryError, "552 too big"),
        (
            aiosmtplib.SMTPRecipientsRefused(
                [aiosmtplib.SMTPRecipientRefused(550, "no user", "a@b")]
            ),
            PermanentDeliveryError,
            "550 no user",
        ),
        (
            aiosmtplib.SMTPAuthenticationError(535, "bad login"),
            TemporaryDeliveryError,
            "535 bad login",
        ),
        (aiosmtplib.SMTPSenderRefused(530, "STARTTLS first", "r@s"), TemporaryDeliveryError, "530"),
        (
            aiosmtplib.SMTPConnectResponseError(554, "go away"),
            TemporaryDeliveryError,
            "554 go away",
        ),
        (aiosmtplib.SMTPConnectError("refused"), TemporaryDeliveryError, "SMTPConnectError"),
        (aiosmtplib.SMTPServerDisconnected("gone"), TemporaryDeliveryError, "gone"),
        (ConnectionResetError("reset"), TemporaryDeliveryError, "reset"),
    ],
)
def test_failures_are_temporary_unless_the_server_rejects_the_message_with_5xx(
    error: aiosmtplib.SMTPException, kind: type[Exception], reply: str
) -> None:
    """5xx about the message is permanent; 4xx, transport, login and TLS trouble are not."""
    classified = classify(error)
    assert type(classified) is kind
    assert reply in classified.reply


@dataclass
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1, made with the openssl command."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return Certificate(cert, key)


async def _send(server: SmtpServer, config: SmtpConfig, tls: ssl.SSLContext | None = None) -> str:
    async with SmtpMailer(config, tls_context=tls).session() as session:
        return await session.send(_message())  # type: ignore[arg-type]


async def test_starttls_upgrades_the_connection_before_sending(certificate: Certificate) -> None:
    """smtp+starttls:// talks TLS to a server that requires STARTTLS."""
    handler = ScriptedHandler()
    options = {"tls_context": certificate.server_context(), "require_starttls": True}
    async with SmtpServer(handler, **options) as server:
        config = SmtpConfig("127.0.0.1", server.port, Security.STARTTLS, local_hostname="t")
        await _send(server, config, certificate.client_context())
        with pytest.raises(TemporaryDeliveryError, match="530"):
            await _send(server, SmtpConfig("127.0.0.1", server.port, local_hostname="t"))
    assert handler.message_ids() == ["<r.1@shop.example>"]


async def test_smtps_speaks_tls_from_the_first_byte(certificate: Certificate) -> None:
    """smtps:// connects with implicit TLS; an untrusted certificate is a temporary failure."""
    handler = ScriptedHandler()
    async with SmtpServer(handler, ssl_context=certificate.server_context()) as server:
        config = SmtpConfig("127.0.0.1", server.port, Security.TLS, local_hostname="t")
        await _send(server, config, certificate.client_context())
        with pytest.raises(TemporaryDeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
            await _send(server, config, ssl.create_default_context())
    assert handler.message_ids() == ["<r.1@shop.example>"]


def _authenticator(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: object
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"shop", b"pa:ss")
    return AuthResult(success=ok, handled=False)


async def test_credentials_in_the_url_log_in_and_a_wrong_password_is_retried_not_failed() -> None:
    """user:password@ logs in; a refused login keeps the receipt for after the fix."""
    handler = ScriptedHandler()
    options = {"authenticator": _authenticator, "auth_require_tls": False}
    async with SmtpServer(handler, **options) as server:
        good = SmtpConfig.from_url(f"smtp://shop:pa%3Ass@127.0.0.1:{server.port}")
        await _send(server, good)
        bad = SmtpConfig.from_url(f"smtp://shop:wrong@127.0.0.1:{server.port}")
        with pytest.raises(TemporaryDeliveryError, match="535"):
            await _send(server, bad)
    assert handler.message_ids() == ["<r.1@shop.example>"]
