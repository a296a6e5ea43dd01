"""The errors of receipt mail, in one tree.

::

    MailError
    ├── TemplateError              a receipt template is broken; raised when the renderer is built
    ├── RenderError                one receipt could not be rendered (its outbox row fails)
    └── DeliveryError              the SMTP exchange did not end in acceptance; ``reply`` says why
        ├── TemporaryDeliveryError     4xx, refused or dropped connection, timeout, bad login:
        │                              the row is retried with backoff
        └── PermanentDeliveryError     5xx (e.g. unknown recipient): the row is marked failed
"""

from __future__ import annotations


class MailError(Exception):
    """Root of every error raised by :mod:`flexfulfill.mail`."""


class TemplateError(MailError):
    """A template does not compile or does not render a sample receipt; the message names it."""


class RenderError(MailError):
    """A receipt payload could not be turned into a message (bad snapshot, template crash)."""


class DeliveryError(MailError):
    """The message was not accepted; ``reply`` is the server's answer or the transport error."""

    def __init__(self, reply: str) -> None:
        self.reply = reply
        super().__init__(reply)


class TemporaryDeliveryError(DeliveryError):
    """Worth retrying later: the server or the network may recover."""


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help (the server rejected this message with a 5xx reply)."""
