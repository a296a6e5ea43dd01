"""The hosted page's form rules, as plain values."""

from __future__ import annotations

import pytest

from flexfulfill.sandbox.hosted import forms

GOOD_CARD = {
    "card_number": "4242 4242 4242 4242",
    "expiry": "12/30",
    "cvc": "123",
    "postal_code": "90210",
}


@pytest.mark.parametrize(
    "number", ["4242424242424242", "4000056655665556", "5555555555554444", "4000000000009995"]
)
def test_flex_test_cards_pass_the_luhn_check(number: str) -> None:
    """Every test card Flex documents carries a valid Luhn checksum."""
    assert forms.luhn_ok(number)


def test_a_mistyped_digit_fails_the_luhn_check() -> None:
    """Changing one digit of a valid number breaks its checksum."""
    assert not forms.luhn_ok("4242424242424241")


def test_a_valid_card_parses_with_spaces_removed() -> None:
    """Spaces in the number are ignored and the expiry becomes month and four-digit year."""
    card = forms.parse_card(GOOD_CARD, year=2026, month=11)
    assert isinstance(card, forms.Card)
    assert (card.number, card.exp_month, card.exp_year, card.last4) == (
        "4242424242424242",
        12,
        2030,
        "4242",
    )


def test_a_card_shows_only_its_last_four_digits_in_its_repr() -> None:
    """Logging a card by accident never prints its number or CVC."""
    card = forms.parse_card(GOOD_CARD, year=2026, month=11)
    assert "424242424242" not in repr(card)
    assert "123" not in repr(card)
    assert "4242" in repr(card)


@pytest.mark.parametrize(
    ("expiry", "ok"),
    [("11/26", True), ("10/26", False), ("13/30", False), ("1230", False), ("01/2031", True)],
)
def test_the_expiry_must_be_this_month_or_later(expiry: str, ok: bool) -> None:
    """An expiry before the current month, or not a month, is refused with a message."""
    result = forms.parse_expiry(expiry, year=2026, month=11)
    assert isinstance(result, tuple) is ok


def test_every_bad_card_field_gets_its_own_message() -> None:
    """Number, expiry, CVC and postal code are each checked and named."""
    bad = {"card_number": "1234", "expiry": "01/20", "cvc": "1", "postal_code": "!"}
    errors = forms.parse_card(bad, year=2026, month=11)
    assert isinstance(errors, dict)
    assert set(errors) == {"card_number", "expiry", "cvc", "postal_code"}


def test_the_second_card_of_a_split_cart_reads_its_own_prefixed_fields() -> None:
    """A prefix selects the second card's fields and names its errors."""
    errors = forms.parse_card(GOOD_CARD, prefix="second_", year=2026, month=11)
    assert isinstance(errors, dict)
    assert "second_card_number" in errors


def test_contact_details_are_validated_and_the_phone_normalized() -> None:
    """A good contact parses with the phone reduced to digits; a bad one names each field."""
    good = forms.parse_contact(
        {
            "email": "jane@example.com",
            "first_name": "Jane",
            "last_name": "Doe",
            "phone": "(555) 010-4242",
        }
    )
    assert isinstance(good, forms.Contact)
    assert good.phone == "5550104242"
    bad = forms.parse_contact(
        {"email": "jane", "first_name": "", "last_name": "Doe", "phone": "12"}
    )
    assert isinstance(bad, dict)
    assert set(bad) == {"email", "first_name", "phone"}


def test_the_intake_form_needs_the_required_answers_and_the_attestation() -> None:
    """Missing answers and an unticked attestation are refused; complete answers are kept."""
    errors = forms.parse_intake({"condition": "Back pain"})
    assert isinstance(errors, dict)
    assert {"diagnosed", "duration", "attest"} <= set(errors)
    answers = {"condition": "Back pain", "diagnosed": "yes", "duration": "2 years", "attest": "yes"}
    intake = forms.parse_intake(answers)
    assert isinstance(intake, forms.Intake)
    assert intake.answers["condition"] == "Back pain"
