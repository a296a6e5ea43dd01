"""The Flex API as a small library, used by the merchant side and the sandbox alike.

Public surface: webhook signing and verification (more arrives with the API client and models).
"""

from flexfulfill.flex._signing import (
    DEFAULT_TOLERANCE,
    FutureTimestamp,
    InvalidTimestamp,
    MalformedSignature,
    MissingHeaders,
    NoMatchingSignature,
    StaleTimestamp,
    VerifiedMessage,
    Verifier,
    WebhookVerificationError,
    sign,
    verify,
)

__all__ = [
    "DEFAULT_TOLERANCE",
    "FutureTimestamp",
    "InvalidTimestamp",
    "MalformedSignature",
    "MissingHeaders",
    "NoMatchingSignature",
    "StaleTimestamp",
    "VerifiedMessage",
    "Verifier",
    "WebhookVerificationError",
    "sign",
    "verify",
]
