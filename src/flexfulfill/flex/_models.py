"""Flex's objects as pydantic models that read permissively, as Flex asks integrators to.

Unknown fields are kept (``extra="allow"``) and ignored; enum-like fields are plain strings
(the ``*Status`` classes name the known values for comparisons), so a value Flex adds tomorrow
parses today; ids keep their prefixes. The sandbox serializes through the same models, so the
two sides cannot drift apart.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Metadata = dict[str, Any]


class FlexModel(BaseModel):
    """Base of every Flex object: unknown fields kept, nothing rejected for being new."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class CheckoutSessionStatus(StrEnum):
    OPEN = "open"
    PAID = "paid"
    COMPLETE = "complete"
    CANCELED = "canceled"
    EXPIRED = "expired"


class CheckoutSessionMode(StrEnum):
    PAYMENT = "payment"
    SUBSCRIPTION = "subscription"
    REIMBURSEMENT = "reimbursement"


class HsaFsaEligibility(StrEnum):
    NOT_ELIGIBLE = "not_eligible"
    AUTO_SUBSTANTIATION = "auto_substantiation"
    PRIVATE_LABEL = "private_label"
    VISION = "vision"
    PRESCRIPTION = "prescription"
    LETTER_OF_MEDICAL_NECESSITY = "letter_of_medical_necessity"


class SubscriptionStatus(StrEnum):
    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    UNPAID = "unpaid"
    PAUSED = "paused"


class PaymentIntentStatus(StrEnum):
    REQUIRES_PAYMENT_METHOD = "requires_payment_method"
    REQUIRES_CONFIRMATION = "requires_confirmation"
    REQUIRES_ACTION = "requires_action"
    PROCESSING = "processing"
    REQUIRES_CAPTURE = "requires_capture"
    CANCELED = "canceled"
    SUCCEEDED = "succeeded"


class RefundStatus(StrEnum):
    PENDING = "pending"
    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class Recurring(FlexModel):
    interval: str | None = None
    interval_count: int | None = None
    trial_period_days: int | None = None


class TaxRate(FlexModel):
    amount: int | None = None


class TotalDetails(FlexModel):
    amount_discount: int = 0
    amount_tax: int = 0
    amount_shipping: int = 0


class CustomerDefaults(FlexModel):
    customer_id: str | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None


class Product(FlexModel):
    product_id: str
    name: str | None = None
    description: str | None = None
    receipt_description: str | None = None
    active: bool = True
    hsa_fsa_eligibility: str | None = None
    visit_type: str | None = None
    upc_code: str | None = None
    url: str | None = None
    client_reference_id: str | None = None
    metadata: Metadata | None = None
    created_at: str | None = None
    test_mode: bool | None = None


class Price(FlexModel):
    price_id: str
    description: str | None = None
    unit_amount: int | None = None
    recurring: Recurring | None = None
    trial_period_days: int | None = None
    active: bool = True
    product: str | Product | None = None
    type: str | None = None
    hsa_fsa_eligibility: str | None = None
    metadata: Metadata | None = None
    created_at: str | None = None
    test_mode: bool | None = None

    @property
    def product_id(self) -> str | None:
        """The product's id whether ``product`` is an id or expanded."""
        return self.product.product_id if isinstance(self.product, Product) else self.product


class Shipping(FlexModel):
    shipping_address_id: str | None = None
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None


class Customer(FlexModel):
    customer_id: str
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    employer: str | None = None
    shipping: Shipping | None = None
    metadata: Metadata | None = None
    created_at: str | None = None
    test_mode: bool | None = None


class PaymentError(FlexModel):
    type: str | None = None
    code: str | None = None
    decline_code: str | None = None
    message: str | None = None


class PaymentIntent(FlexModel):
    payment_intent_id: str
    amount: int = 0
    amount_capturable: int | None = None
    amount_received: int = 0
    status: str | None = None
    customer: str | Customer | None = None
    invoice: Any = None
    capture_method: str | None = None
    payment_card_type: str | None = None
    payment_method: str | None = None
    latest_charge: str | None = None
    last_payment_error: PaymentError | None = None
    metadata: Metadata | None = None
    created_at: str | None = None
    test_mode: bool | None = None


class Refund(FlexModel):
    refund_id: str
    payment_intent_id: str | None = None
    amount: int = 0
    status: str | None = None
    reason: str | None = None
    metadata: Metadata | None = None
    reference_id: str | None = None
    reference_type: str | None = None
    reference_status: str | None = None
    created_at: str | None = None
    test_mode: bool | None = None


class CheckoutSession(FlexModel):
    checkout_session_id: str
    status: str | None = None
    mode: str | None = None
    amount_total: int = 0
    amount_subtotal: int = 0
    amount_received: int = 0
    amount_refunded: int = 0
    success_url: str | None = None
    cancel_url: str | None = None
    redirect_url: str | None = None
    client_reference_id: str | None = None
    customer: str | Customer | None = None
    defaults: CustomerDefaults | None = None
    hsa_fsa_eligible: bool | None = None
    letter_of_medical_necessity_required: bool | None = None
    invoice: str | None = None
    subscription: str | None = None
    payment_intents: list[str | PaymentIntent] = Field(default_factory=list)
    refunds: list[Refund] = Field(default_factory=list)
    total_details: TotalDetails | None = None
    tax_rate: TaxRate | None = None
    metadata: Metadata | None = None
    created_at: int | None = None
    expires_at: int | None = None
    test_mode: bool | None = None

    @property
    def customer_id(self) -> str | None:
        """The customer's id whether ``customer`` is an id or expanded."""
        return self.customer.customer_id if isinstance(self.customer, Customer) else self.customer

    @property
    def payment_intent_ids(self) -> list[str]:
        return [
            p.payment_intent_id if isinstance(p, PaymentIntent) else p for p in self.payment_intents
        ]


class LineItem(FlexModel):
    """One line of ``GET /v1/checkout/sessions/{id}/line_items``."""

    line_item_id: str
    description: str | None = None
    quantity: int = 1
    price: Price | None = None
    amount_subtotal: int = 0
    amount_discount: int = 0
    amount_tax: int = 0
    amount_shipping: int = 0
    amount_total: int = 0
    eligibility: str | None = None
    shipping_rate: str | None = None


class Invoice(FlexModel):
    invoice_id: str
    total: int | None = None
    amount_due: int | None = None
    amount_paid: int | None = None
    payment_intent: Any = None
    customer: Any = None
    subscription: Any = None
    period_start: str | None = None
    period_end: str | None = None


class SubscriptionItem(FlexModel):
    subscription_item_id: str | None = None
    price: Price | str | None = None
    quantity: int = 1


class Subscription(FlexModel):
    subscription_id: str
    status: str | None = None
    customer: str | Customer | None = None
    items: list[SubscriptionItem] = Field(default_factory=list)
    latest_invoice: str | Invoice | None = None
    cancel_at_period_end: bool = False
    current_period_start: str | None = None
    current_period_end: str | None = None
    trial_start: str | None = None
    trial_end: str | None = None
    cancel_at: str | None = None
    metadata: Metadata | None = None
    created_at: str | None = None
    test_mode: bool | None = None


class PaymentLink(FlexModel):
    payment_link_id: str
    label: str | None = None
    active: bool = True
    url: str | None = None
    line_items: list[dict[str, Any]] = Field(default_factory=list)
    mode: str | None = None
    metadata: Metadata | None = None
    created_at: str | None = None
    test_mode: bool | None = None


class Webhook(FlexModel):
    webhook_id: str
    url: str
    events: list[str] = Field(default_factory=list)
    # Only create (and retrieve) return it; never logged.
    signing_secret: str | None = Field(default=None, repr=False)
    enabled: bool | None = None
    test_mode: bool | None = None


class Event(FlexModel):
    """A webhook event or an Event object of the API: the resource sits under one key."""

    event_id: str
    event_type: str
    event_dt: int | None = None
    created_at: str | int | None = None
    test_mode: bool | None = None
    object: dict[str, Any] = Field(default_factory=dict)

    def resource(self, key: str) -> dict[str, Any] | None:
        """The wrapped resource, e.g. ``event.resource("checkout_session")``."""
        value = self.object.get(key)
        return value if isinstance(value, dict) else None


class ErrorDetailItem(FlexModel):
    """One entry of Flex's 422 ``{"detail": [...]}`` error body."""

    loc: list[str | int] = Field(default_factory=list)
    msg: str = ""
    type: str = ""
