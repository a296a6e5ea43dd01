"""Flex's webhook signatures: known answers, svix interop, header families, rotation, errors."""

from __future__ import annotations

import base64
import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from svix.webhooks import Webhook
from svix.webhooks import WebhookVerificationError as SvixError

from flexfulfill.flex import (
    FutureTimestamp,
    InvalidTimestamp,
    MalformedSignature,
    MissingHeaders,
    NoMatchingSignature,
    StaleTimestamp,
    Verifier,
    WebhookVerificationError,
    sign,
    verify,
)

SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SW_ID, SW_TS, SW_BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
SW_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

FLEX_SECRET = "fwhsec_Y2NhZDczMDYtNDEyYi0xMWVlLTg5MTItNGY4Y2E5ZmU1MmI4"
FLEX_ID, FLEX_TS = "msg_2Zx1example", 1714000000
FLEX_BODY = (
    b'{"event_id":"evt_example","event_type":"checkout.session.completed","event_dt":1714000000,'
    b'"object":{"checkout_session":{"checkout_session_id":"fcs_01HW5KTQQAAQ66WV19MFW4DTT4",'
    b'"status":"complete"}}}'
)
FLEX_SIGNATURE = "v1,yKpwzhbr6V054uGbaTGDdvt33r27dfbrhYR0+RDUzXo="
OTHER_SECRET = "whsec_" + base64.b64encode(b"another endpoint's secret!").decode()


def headers(family: str, message_id: str, timestamp: int, signature: str) -> dict[str, str]:
    id_name = "flex-event-id" if family == "flex" else f"{family}-id"
    return {
        id_name: message_id,
        f"{family}-timestamp": str(timestamp),
        f"{family}-signature": signature,
    }


def at(timestamp: int) -> Verifier:
    """A verifier for the Flex secret whose clock reads ``timestamp``."""
    return Verifier([FLEX_SECRET], now=lambda: float(timestamp))


def test_standard_webhooks_known_answer_is_reproduced() -> None:
    """sign() gives the Standard Webhooks specification's published signature."""
    assert sign(SW_SECRET, SW_ID, SW_TS, SW_BODY) == SW_SIGNATURE


def test_flex_documented_secret_gives_the_derived_vector() -> None:
    """The Flex docs' secret, decoded after its fwhsec_ prefix, gives API.md §4.5's vector."""
    assert sign(FLEX_SECRET, FLEX_ID, FLEX_TS, FLEX_BODY) == FLEX_SIGNATURE
    assert sign(FLEX_SECRET, FLEX_ID, FLEX_TS, FLEX_BODY) != (
        "v1,i6Wl2gwprU/3FzyDdWd7ti4R6E2+VR+ZuSWuBhZ1GjY="
    )


def test_flex_vector_verifies_with_the_documented_headers() -> None:
    """The derived vector verifies when delivered with svix-* headers at its own time."""
    message = at(FLEX_TS).verify(headers("svix", FLEX_ID, FLEX_TS, FLEX_SIGNATURE), FLEX_BODY)
    assert (message.message_id, message.timestamp) == (FLEX_ID, FLEX_TS)


def test_unpadded_secret_is_accepted() -> None:
    """A secret whose base64 lost its padding still decodes to the same key."""
    unpadded = "whsec_" + base64.b64encode(b"sixteen byte key").decode().rstrip("=")
    padded = "whsec_" + base64.b64encode(b"sixteen byte key").decode()
    assert sign(unpadded, "m", 1, b"x") == sign(padded, "m", 1, b"x")


def test_what_svix_signs_verifies_here() -> None:
    """A message signed by the official svix package verifies with our verify()."""
    now = datetime.now(tz=UTC)
    body = '{"event_type":"checkout.session.completed"}'
    signature = Webhook(SW_SECRET).sign("msg_svix_1", now, body)
    found = verify(
        SW_SECRET, headers("svix", "msg_svix_1", int(now.timestamp()), signature), body.encode()
    )
    assert found.message_id == "msg_svix_1"


def test_what_we_sign_verifies_in_svix() -> None:
    """Our sign() output passes the official svix Webhook.verify, and a forgery does not."""
    ts = int(datetime.now(tz=UTC).timestamp())
    body = b'{"event_type":"refund.updated"}'
    good = headers("svix", "msg_ours", ts, sign(SW_SECRET, "msg_ours", ts, body))
    Webhook(SW_SECRET).verify(body, good)
    forged = headers("svix", "msg_ours", ts, sign(OTHER_SECRET, "msg_ours", ts, body))
    with pytest.raises(SvixError):
        Webhook(SW_SECRET).verify(body, forged)


@pytest.mark.parametrize("family", ["svix", "webhook"])
def test_every_versioned_header_family_verifies(family: str) -> None:
    """svix-* and the Standard Webhooks webhook-* names carry the same v1 signature."""
    found = at(FLEX_TS).verify(headers(family, FLEX_ID, FLEX_TS, FLEX_SIGNATURE), FLEX_BODY)
    assert found.headers[f"{family}-signature"] == FLEX_SIGNATURE


def test_legacy_flex_headers_carry_a_bare_signature() -> None:
    """flex-event-id / flex-timestamp / flex-signature with a bare base64 HMAC verify."""
    bare = FLEX_SIGNATURE.removeprefix("v1,")
    found = at(FLEX_TS).verify(headers("flex", FLEX_ID, FLEX_TS, bare), FLEX_BODY)
    assert found.message_id == FLEX_ID


def test_any_matching_signature_of_several_passes() -> None:
    """During a rotation the header lists several signatures; one match suffices."""
    wrong = sign(OTHER_SECRET, FLEX_ID, FLEX_TS, FLEX_BODY)
    value = f"{wrong} v2,c29tZXRoaW5nIGVsc2U= {FLEX_SIGNATURE}"
    assert at(FLEX_TS).verify(headers("svix", FLEX_ID, FLEX_TS, value), FLEX_BODY)


def test_any_configured_secret_may_match() -> None:
    """With two secrets configured (old and new), a message signed with either verifies."""
    verifier = Verifier([OTHER_SECRET, FLEX_SECRET], now=lambda: float(FLEX_TS))
    assert verifier.verify(headers("svix", FLEX_ID, FLEX_TS, FLEX_SIGNATURE), FLEX_BODY)


def test_other_signature_versions_are_ignored() -> None:
    """A v2 entry carrying the right bytes does not count; only v1 is understood."""
    value = FLEX_SIGNATURE.replace("v1,", "v2,")
    with pytest.raises(NoMatchingSignature):
        at(FLEX_TS).verify(headers("svix", FLEX_ID, FLEX_TS, value), FLEX_BODY)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"svix-signature": None}, MissingHeaders),
        ({"svix-id": ""}, MissingHeaders),
        ({"svix-signature": "v1" + FLEX_SIGNATURE[3:]}, MalformedSignature),
        ({"svix-signature": "v1,not*base64"}, MalformedSignature),
        ({"svix-signature": "v1,"}, MalformedSignature),
        ({"svix-signature": "   "}, MalformedSignature),
        ({"svix-timestamp": "1714000000.5"}, InvalidTimestamp),
        ({"svix-timestamp": "soon"}, InvalidTimestamp),
        ({"svix-id": "msg_other"}, NoMatchingSignature),
    ],
)
def test_bad_headers_raise_the_specific_error(
    change: dict[str, str | None], error: type[WebhookVerificationError]
) -> None:
    """Each kind of bad header raises its own error with a stable code."""
    sent: dict[str, str | None] = {**headers("svix", FLEX_ID, FLEX_TS, FLEX_SIGNATURE), **change}
    present = {k: v for k, v in sent.items() if v is not None}
    with pytest.raises(error) as caught:
        at(FLEX_TS).verify(present, FLEX_BODY)
    assert caught.value.code == error.code


def test_no_headers_at_all_name_the_expected_ones() -> None:
    """A request without any signature header is told which headers to send."""
    with pytest.raises(MissingHeaders, match="svix-id"):
        at(FLEX_TS).verify({}, FLEX_BODY)


def test_tampered_body_does_not_verify() -> None:
    """Changing one byte of the body breaks the signature."""
    with pytest.raises(NoMatchingSignature):
        at(FLEX_TS).verify(headers("svix", FLEX_ID, FLEX_TS, FLEX_SIGNATURE), FLEX_BODY + b" ")


@pytest.mark.parametrize(
    ("clock_offset", "error"), [(301, StaleTimestamp), (-301, FutureTimestamp)]
)
def test_timestamps_beyond_five_minutes_either_way_are_refused(
    clock_offset: int, error: type[WebhookVerificationError]
) -> None:
    """Five minutes of tolerance both ways by default, measured on the injected clock."""
    sent = headers("svix", FLEX_ID, FLEX_TS, FLEX_SIGNATURE)
    assert at(FLEX_TS + 300).verify(sent, FLEX_BODY)
    assert at(FLEX_TS - 300).verify(sent, FLEX_BODY)
    with pytest.raises(error):
        at(FLEX_TS + clock_offset).verify(sent, FLEX_BODY)


def test_tolerance_is_configurable() -> None:
    """A ten-second tolerance refuses an eleven-second-old message."""
    verifier = Verifier([FLEX_SECRET], tolerance=10, now=lambda: FLEX_TS + 11.0)
    with pytest.raises(StaleTimestamp):
        verifier.verify(headers("svix", FLEX_ID, FLEX_TS, FLEX_SIGNATURE), FLEX_BODY)


def test_absurd_timestamps_are_refused_not_crashing() -> None:
    """A timestamp of hundreds of digits is out of tolerance, not an overflow."""
    for raw in ("9" * 400, "-" + "9" * 400):
        sent = {**headers("svix", FLEX_ID, FLEX_TS, FLEX_SIGNATURE), "svix-timestamp": raw}
        with pytest.raises((StaleTimestamp, FutureTimestamp)):
            at(FLEX_TS).verify(sent, FLEX_BODY)


header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=80)


@given(
    family=st.sampled_from(["svix", "webhook", "flex"]),
    message_id=header_text,
    timestamp=header_text | st.integers().map(str),
    signature=header_text | st.lists(header_text, max_size=4).map(" ".join),
    body=st.binary(max_size=300),
)
def test_any_header_values_fail_only_with_verification_errors(
    family: str, message_id: str, timestamp: str, signature: str, body: bytes
) -> None:
    """Whatever the header values, verify() accepts or raises a WebhookVerificationError."""
    sent = headers(family, message_id, 0, signature)
    sent[f"{family}-timestamp"] = timestamp
    with contextlib.suppress(WebhookVerificationError):
        at(FLEX_TS).verify(sent, body)
