"""Receipt emails: templates, rendering, the SMTP transport, the outbox sender, a local server.

The pieces, in the order a receipt meets them:

- :func:`build_renderer` → :class:`ReceiptRenderer`: Jinja2 templates (HTML and plain text),
  overridable from ``RECEIPT_TEMPLATES_DIR`` and validated when built.
- :func:`compose`: the multipart message, its headers derived from the outbox row.
- :class:`SmtpMailer` (``SMTP_URL``) and :func:`classify`: delivery, failures split into
  temporary and permanent.
- :class:`OutboxSender`: claims due outbox rows with a lease, sends, records the outcome.
- :class:`SmtpServer` + :class:`MailboxHandler`: the local server that stores into ``mailbox``.

Errors are documented in :mod:`flexfulfill.mail.errors`.
"""

from flexfulfill.mail.amounts import format_cents, format_date, format_discount
from flexfulfill.mail.backoff import Backoff
from flexfulfill.mail.errors import (
    DeliveryError,
    MailError,
    PermanentDeliveryError,
    RenderError,
    TemplateError,
    TemporaryDeliveryError,
)
from flexfulfill.mail.mailbox import MailboxHandler, SmtpServer, StoredMail, list_mail
from flexfulfill.mail.message import Sender, compose, message_domain
from flexfulfill.mail.render import ReceiptRenderer, RenderedReceipt, build_renderer
from flexfulfill.mail.sender import OutboxSender, Outcome, SenderPolicy, SendReport
from flexfulfill.mail.smtp import Mailer, MailSession, Security, SmtpConfig, SmtpMailer, classify

__all__ = [
    "Backoff",
    "DeliveryError",
    "MailError",
    "MailSession",
    "MailboxHandler",
    "Mailer",
    "OutboxSender",
    "Outcome",
    "PermanentDeliveryError",
    "ReceiptRenderer",
    "RenderError",
    "RenderedReceipt",
    "Security",
    "SendReport",
    "Sender",
    "SenderPolicy",
    "SmtpConfig",
    "SmtpMailer",
    "SmtpServer",
    "StoredMail",
    "TemplateError",
    "TemporaryDeliveryError",
    "build_renderer",
    "classify",
    "compose",
    "format_cents",
    "format_date",
    "format_discount",
    "list_mail",
    "message_domain",
]
