"""One receipt as an RFC 5322 message: multipart/alternative, plain text first, then HTML.

Every header is derived from the outbox row (Message-ID, recipient, creation time) and the
settings, never from the moment of sending, so the re-send after a crash is the same message.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate

from flexfulfill.mail.render import RenderedReceipt

DEFAULT_DOMAIN = "flexfulfill.local"


@dataclass(frozen=True)
class Sender:
    """Who receipts come from: ``RECEIPT_FROM``, ``MERCHANT_NAME`` and ``RECEIPT_REPLY_TO``."""

    address: str
    name: str
    reply_to: str | None = None

    @property
    def domain(self) -> str:
        """The domain Message-IDs are minted in: the sender address's own."""
        return message_domain(self.address)


def message_domain(address: str) -> str:
    """``receipts@shop.example`` → ``shop.example`` (``flexfulfill.local`` if there is none)."""
    _, _, domain = address.rpartition("@")
    return domain.strip().strip(">") or DEFAULT_DOMAIN


def compose(
    rendered: RenderedReceipt, sender: Sender, recipient: str, message_id: str, created_at: float
) -> EmailMessage:
    """The complete message; ``created_at`` (the outbox row's) becomes its ``Date``."""
    message = EmailMessage()
    message["From"] = Address(display_name=sender.name, addr_spec=sender.address)
    message["To"] = recipient
    if sender.reply_to:
        message["Reply-To"] = sender.reply_to
    message["Subject"] = rendered.subject
    message["Date"] = formatdate(created_at, usegmt=True)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to receipts
    message.set_content(rendered.text, subtype="plain", charset="utf-8")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8")
    # A boundary derived from the Message-ID, not a random one: a re-send is byte-identical.
    message.set_boundary("=_" + hashlib.sha256(message_id.encode()).hexdigest()[:32])
    return message
