"""The hosted page's forms, validated as plain values: no framework, no I/O.

Each ``parse_*`` function takes the submitted fields and returns either the clean value or a
mapping of field name → message that says what to fix. Card numbers live only in the
:class:`Card` value on its way to the checkout flow; ``repr`` shows the last four digits only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

Errors = dict[str, str]
Fields = Mapping[str, str]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_US_ZIP = re.compile(r"^\d{5}(-\d{4})?$")
_POSTAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 -]{1,8}[A-Za-z0-9]$")
_EXPIRY = re.compile(r"^(\d{1,2})\s*/\s*(\d{2}|\d{4})$")
NAME_MAX = 100


@dataclass(frozen=True)
class Contact:
    email: str
    first_name: str
    last_name: str
    phone: str

    def as_dict(self) -> dict[str, str]:
        return {
            "email": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "phone": self.phone,
        }


@dataclass(frozen=True)
class Card:
    """A card as typed; only :attr:`last4` may be stored or shown."""

    number: str = field(repr=False)
    exp_month: int
    exp_year: int
    cvc: str = field(repr=False)
    postal_code: str

    @property
    def last4(self) -> str:
        return self.number[-4:]

    def __repr__(self) -> str:
        return f"Card(last4={self.last4!r}, exp={self.exp_month:02d}/{self.exp_year})"


@dataclass(frozen=True)
class IntakeQuestion:
    name: str
    label: str
    kind: str  # "text", "yesno" or "confirm"
    required: bool = True


INTAKE_QUESTIONS: tuple[IntakeQuestion, ...] = (
    IntakeQuestion("condition", "What condition or symptom is this purchase for?", "text"),
    IntakeQuestion("diagnosed", "Has a clinician diagnosed this condition?", "yesno"),
    IntakeQuestion("duration", "How long have you had it?", "text"),
    IntakeQuestion("medications", "Current medications (leave empty if none)", "text", False),
    IntakeQuestion("allergies", "Known allergies (leave empty if none)", "text", False),
    IntakeQuestion("attest", "I confirm that these answers are true and complete.", "confirm"),
)


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum every card number carries."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def digits_only(text: str) -> str:
    return re.sub(r"[\s-]", "", text)


def parse_contact(form: Fields) -> Contact | Errors:
    """Email, first and last name, and a phone number of 10 to 15 digits."""
    values = {key: form.get(key, "").strip() for key in ("email", "first_name", "last_name")}
    errors: Errors = {}
    if not _EMAIL.match(values["email"]) or len(values["email"]) > 254:
        errors["email"] = "Enter an email address like jane@example.com."
    for key, label in (("first_name", "first name"), ("last_name", "last name")):
        if not values[key] or len(values[key]) > NAME_MAX:
            errors[key] = f"Enter your {label} (up to {NAME_MAX} characters)."
    phone = re.sub(r"[\s().+-]", "", form.get("phone", ""))
    if not phone.isdigit() or not 10 <= len(phone) <= 15:
        errors["phone"] = "Enter a phone number with 10 to 15 digits, e.g. (555) 010-4242."
    if errors:
        return errors
    return Contact(phone=phone, **values)


def parse_expiry(text: str, *, year: int, month: int) -> tuple[int, int] | str:
    """``MM/YY`` or ``MM/YYYY`` not before the current month; else a message."""
    match = _EXPIRY.match(text.strip())
    if not match:
        return "Enter the expiry as MM/YY, e.g. 12/30."
    exp_month, exp_year = int(match.group(1)), int(match.group(2))
    exp_year += 2000 if exp_year < 100 else 0
    if not 1 <= exp_month <= 12:
        return "The expiry month must be between 01 and 12."
    if (exp_year, exp_month) < (year, month):
        return "This card has expired: use a card with a future expiry date."
    return exp_month, exp_year


def parse_card(form: Fields, *, prefix: str = "", year: int, month: int) -> Card | Errors:
    """Number (Luhn), future expiry, CVC and postal code; ``prefix`` names a second card."""
    errors: Errors = {}
    number = digits_only(form.get(prefix + "card_number", ""))
    if not number.isdigit() or not 12 <= len(number) <= 19 or not luhn_ok(number):
        errors[prefix + "card_number"] = "This card number is not valid: check the digits."
    expiry = parse_expiry(form.get(prefix + "expiry", ""), year=year, month=month)
    if isinstance(expiry, str):
        errors[prefix + "expiry"] = expiry
    cvc = form.get(prefix + "cvc", "").strip()
    if not cvc.isdigit() or len(cvc) not in (3, 4):
        errors[prefix + "cvc"] = "Enter the 3 or 4 digit security code."
    postal = form.get(prefix + "postal_code", "").strip()
    if not (_US_ZIP.match(postal) or _POSTAL.match(postal)):
        errors[prefix + "postal_code"] = "Enter a postal code, e.g. 90210."
    if errors or isinstance(expiry, str):
        return errors
    return Card(number, expiry[0], expiry[1], cvc, postal.upper())


@dataclass(frozen=True)
class Intake:
    """Answers to :data:`INTAKE_QUESTIONS`, by question name."""

    answers: dict[str, str]


def parse_intake(form: Fields) -> Intake | Errors:
    """The Letter of Medical Necessity questions; answers come back as plain strings."""
    answers: dict[str, str] = {}
    errors: Errors = {}
    for question in INTAKE_QUESTIONS:
        value = form.get(question.name, "").strip()[:1000]
        if question.kind == "yesno" and value not in ("yes", "no"):
            errors[question.name] = "Choose yes or no."
        elif question.kind == "confirm" and value != "yes":
            errors[question.name] = "Tick the box to confirm your answers."
        elif question.required and not value:
            errors[question.name] = "Answer this question to continue."
        answers[question.name] = value
    return errors or Intake(answers)
