"""Flex's webhook signature scheme (Svix / Standard Webhooks), both directions.

Signed content is ``{id}.{timestamp}.{raw body}``; the signature is base64(HMAC-SHA256) keyed
by the base64-decoded secret after its ``fwhsec_``/``whsec_`` prefix. Three header families
carry it: ``svix-*`` (what Flex sends now), ``webhook-*`` (Standard Webhooks) and Flex's legacy
``flex-event-id``/``flex-timestamp``/``flex-signature`` (a bare base64 signature).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from flexfulfill.config import decode_secret

DEFAULT_TOLERANCE = 300

# (id, timestamp, signature) header names per family, in the order they are tried.
HEADER_FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("svix-id", "svix-timestamp", "svix-signature"),
    ("webhook-id", "webhook-timestamp", "webhook-signature"),
    ("flex-event-id", "flex-timestamp", "flex-signature"),
)
_LEGACY_SIGNATURE = "flex-signature"


class WebhookVerificationError(Exception):
    """A webhook failed verification. ``code`` is stable and machine-readable."""

    code = "verification_failed"


class MissingHeaders(WebhookVerificationError):
    code = "missing_headers"


class MalformedSignature(WebhookVerificationError):
    code = "malformed_signature"


class InvalidTimestamp(WebhookVerificationError):
    code = "invalid_timestamp"


class StaleTimestamp(WebhookVerificationError):
    code = "stale_timestamp"


class FutureTimestamp(WebhookVerificationError):
    code = "future_timestamp"


class NoMatchingSignature(WebhookVerificationError):
    code = "no_matching_signature"


@dataclass(frozen=True, slots=True)
class VerifiedMessage:
    """What a verified webhook's headers said."""

    message_id: str
    timestamp: int
    headers: dict[str, str]


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64>`` signature of one message, as Svix and Flex send it."""
    return "v1," + _signature(decode_secret(secret), message_id, timestamp, body)


def _signature(key: bytes, message_id: str, timestamp: int | str, body: bytes) -> str:
    signed = b"%s.%s.%s" % (message_id.encode(), str(timestamp).encode(), body)
    return base64.b64encode(hmac.digest(key, signed, hashlib.sha256)).decode()


class Verifier:
    """Verifies webhooks against one or more secrets (several during a rotation).

    Keys are decoded once; the clock is injectable so tests can move time.
    """

    __slots__ = ("_keys", "_now", "tolerance")

    def __init__(
        self,
        secrets: Iterable[str],
        *,
        tolerance: int = DEFAULT_TOLERANCE,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._keys = tuple(decode_secret(s) for s in secrets)
        if not self._keys:
            raise ValueError("at least one webhook secret is needed to verify webhooks")
        self.tolerance = tolerance
        self._now = now

    def verify(self, headers: Mapping[str, str], body: bytes) -> VerifiedMessage:
        """Return the verified message or raise a :class:`WebhookVerificationError`.

        ``headers`` must have lower-case names (as ASGI servers deliver them).
        """
        family = _find_family(headers)
        id_name, ts_name, sig_name = family
        message_id, raw_ts, raw_sig = headers[id_name], headers[ts_name], headers[sig_name]
        timestamp = self._check_timestamp(raw_ts)
        candidates = _parse_signatures(raw_sig, legacy=sig_name == _LEGACY_SIGNATURE)
        for key in self._keys:
            expected = _signature(key, message_id, raw_ts, body).encode()
            # compare_digest against every candidate: constant time per comparison.
            if any(hmac.compare_digest(expected, c) for c in candidates):
                kept = {id_name: message_id, ts_name: raw_ts, sig_name: raw_sig}
                return VerifiedMessage(message_id, timestamp, kept)
        raise NoMatchingSignature(
            "no signature matches a configured secret; check FLEX_WEBHOOK_SECRET holds the "
            "signing secret of this webhook endpoint"
        )

    def _check_timestamp(self, raw: str) -> int:
        try:
            timestamp = int(raw)
        except ValueError:
            raise InvalidTimestamp(
                f"timestamp header {raw[:40]!r} is not whole Unix seconds"
            ) from None
        # Whole seconds: an absurd timestamp (hundreds of digits) must not overflow a float.
        now = int(self._now())
        if timestamp < now - self.tolerance:
            raise StaleTimestamp(
                f"timestamp is {int(now - timestamp)} s old, beyond the {self.tolerance} s "
                "tolerance; the message is too old to accept (or this clock is wrong)"
            )
        if timestamp > now + self.tolerance:
            raise FutureTimestamp(
                f"timestamp is {int(timestamp - now)} s in the future, beyond the "
                f"{self.tolerance} s tolerance; check the sender's and this server's clocks"
            )
        return timestamp


def verify(
    secrets: Sequence[str] | str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: Callable[[], float] = time.time,
) -> VerifiedMessage:
    """Verify one webhook; see :class:`Verifier` to verify many with the same secrets."""
    secret_list = [secrets] if isinstance(secrets, str) else list(secrets)
    lowered = {k.lower(): v for k, v in headers.items()}
    return Verifier(secret_list, tolerance=tolerance, now=now).verify(lowered, body)


def _find_family(headers: Mapping[str, str]) -> tuple[str, str, str]:
    for family in HEADER_FAMILIES:
        if family[0] in headers or family[2] in headers:
            missing = [name for name in family if not headers.get(name)]
            if missing:
                raise MissingHeaders(f"missing header(s): {', '.join(missing)}")
            return family
    raise MissingHeaders(
        "missing signature headers: send svix-id, svix-timestamp and svix-signature "
        "(or webhook-* / flex-* equivalents)"
    )


def _parse_signatures(raw: str, *, legacy: bool) -> list[bytes]:
    """The ``v1`` signatures in a header; other versions are ignored."""
    found: list[bytes] = []
    for entry in raw.split():
        version, sep, value = entry.partition(",")
        if not sep:
            if not legacy:
                raise MalformedSignature(
                    f"signature entry {entry[:20]!r}… has no comma; expected v1,<base64>"
                )
            version, value = "v1", entry
        if version != "v1":
            continue
        _check_base64(value)
        found.append(value.encode())
    if not raw.strip():
        raise MalformedSignature("signature header is empty; expected v1,<base64>")
    return found


def _check_base64(value: str) -> None:
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedSignature("signature is not valid base64; expected v1,<base64>") from None
    if not decoded:
        raise MalformedSignature("signature is empty; expected v1,<base64>")
