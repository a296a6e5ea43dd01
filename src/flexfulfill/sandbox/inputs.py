"""Request bodies, validated by pydantic; a failure answers 422 in Flex's ``detail`` shape.

Unknown fields are ignored (Flex's API is FastAPI-based and does the same); a known field of
the wrong type, or a missing required one, is refused.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from flexfulfill.flex import HsaFsaEligibility

Metadata = dict[str, Any]
Eligibility = Literal[
    "not_eligible",
    "auto_substantiation",
    "private_label",
    "vision",
    "prescription",
    "letter_of_medical_necessity",
]
assert set(Eligibility.__args__) == {e.value for e in HsaFsaEligibility}  # type: ignore[attr-defined]


class Input(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RecurringIn(Input):
    interval: Literal["daily", "weekly", "monthly", "yearly", "day", "week", "month", "year"]
    interval_count: int = Field(default=1, ge=1, le=365)
    trial_period_days: int | None = Field(default=None, ge=0)


class ProductIn(Input):
    name: str | None = None
    description: str | None = None
    receipt_description: str | None = None
    upc_code: str | None = None
    gtin: str | None = None
    visit_type: str | None = None
    url: str | None = None
    hsa_fsa_eligibility: Eligibility | None = None
    client_reference_id: str | None = None
    metadata: Metadata | None = None
    active: bool | None = None


class PriceIn(Input):
    product: str | None = None
    unit_amount: int | None = Field(default=None, ge=0)
    description: str | None = None
    active: bool | None = None
    recurring: RecurringIn | None = None
    metadata: Metadata | None = None


class PriceDataIn(Input):
    product: str
    unit_amount: int = Field(ge=0)
    description: str | None = None
    recurring: RecurringIn | None = None
    metadata: Metadata | None = None


class ShippingRateDataIn(Input):
    display_name: str | None = None
    amount: int = Field(default=0, ge=0)


class ShippingOptionsIn(Input):
    shipping_rate_id: str | None = None
    shipping_rate_data: ShippingRateDataIn | None = None


class LineItemIn(Input):
    price: str | None = None
    price_data: PriceDataIn | None = None
    quantity: int = Field(default=1, ge=1, le=10_000)
    shipping_options: ShippingOptionsIn | None = None


class DefaultsIn(Input):
    customer_id: str | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None


class SessionIn(Input):
    line_items: list[LineItemIn] = Field(min_length=1, max_length=100)
    success_url: str
    cancel_url: str | None = None
    mode: Literal["payment", "subscription"] = "payment"
    client_reference_id: str | None = None
    customer: str | None = None
    defaults: DefaultsIn | None = None
    metadata: Metadata | None = None
    allow_promotion_codes: bool | None = None
    capture_method: Literal["automatic"] = "automatic"


class ShippingIn(Input):
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None


class CustomerIn(Input):
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    employer: str | None = None
    shipping: ShippingIn | None = None
    metadata: Metadata | None = None


class RefundIn(Input):
    payment_intent_id: str
    amount: int | None = Field(default=None, ge=1)
    reason: (
        Literal["duplicate", "fraudulent", "requested_by_customer", "expired_uncaptured_charge"]
        | None
    ) = None
    metadata: Metadata | None = None


class RefundUpdateIn(Input):
    reason: (
        Literal["duplicate", "fraudulent", "requested_by_customer", "expired_uncaptured_charge"]
        | None
    ) = None
    metadata: Metadata | None = None


class SubscriptionUpdateIn(Input):
    metadata: Metadata | None = None
    cancel_at_period_end: bool | None = None


class PaymentLinkIn(Input):
    line_items: list[LineItemIn] = Field(min_length=1, max_length=100)
    label: str | None = None
    mode: Literal["payment", "subscription"] = "payment"
    metadata: Metadata | None = None
    after_completion: dict[str, Any] | None = None
    allow_promotion_codes: bool | None = None
    shipping_address_collection: bool | None = None


class WebhookIn(Input):
    url: str | None = Field(default=None, pattern=r"^https?://")
    events: list[str] | None = None
    enabled: bool | None = None


class RetryEventIn(Input):
    webhook_id: str


class CardIn(Input):
    number: str = "4242424242424242"
    exp_month: int = Field(default=12, ge=1, le=12)
    exp_year: int = Field(default=2034, ge=2000, le=2100)
    cvc: str = "123"
    postal_code: str = "90210"


class CompleteIn(Input):
    """The body of ``POST /v1/test_helpers/checkout_sessions/{id}/complete`` (all optional)."""

    customer: str | None = None  # an existing fcus_… instead of new contact details
    contact: CustomerIn | None = None
    card: CardIn = Field(default_factory=CardIn)
    second_card: CardIn | None = None  # the regular card of a split cart


# Flex wraps every request body in a key named after the resource.
class ProductBody(Input):
    product: ProductIn


class PriceBody(Input):
    price: PriceIn


class SessionBody(Input):
    checkout_session: SessionIn


class CustomerBody(Input):
    customer: CustomerIn


class RefundBody(Input):
    refund: RefundIn


class RefundUpdateBody(Input):
    refund: RefundUpdateIn = Field(default_factory=RefundUpdateIn)


class SubscriptionUpdateBody(Input):
    subscription: SubscriptionUpdateIn = Field(default_factory=SubscriptionUpdateIn)


class PaymentLinkBody(Input):
    payment_link: PaymentLinkIn


class WebhookBody(Input):
    webhook: WebhookIn


class RetryEventBody(Input):
    event: RetryEventIn
