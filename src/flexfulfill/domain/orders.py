"""An order as the merchant records it: drafted from the Flex session and its line items.

Pure rules only. The money facts come from what the Flex API returned (never an event body);
fulfillment turns a draft into rows inside one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from flexfulfill.domain.receipts import Receipt, ReceiptLine, ReceiptPayment, ReceiptSubscription
from flexfulfill.flex import CheckoutSession, Customer, CustomerDefaults, LineItem, PaymentIntent

PAID_STATUS = "complete"  # the only session status that fulfills (Flex's redirect guide)
HSA_FSA_CARD = "primary"  # payment_card_type of the HSA/FSA charge in a split cart


def is_paid(session: CheckoutSession) -> bool:
    """Whether the session, as the API reports it, may be fulfilled."""
    return session.status == PAID_STATUS


def needs_customer(session: CheckoutSession) -> bool:
    """Whether the receipt's address must come from the customer object (not expanded here)."""
    has_email = bool(session.defaults and session.defaults.email)
    return isinstance(session.customer, str) and not has_email


@dataclass(frozen=True)
class LineDraft:
    line_item_id: str
    product_id: str | None
    price_id: str | None
    description: str
    quantity: int
    unit_amount: int
    amount_subtotal: int
    amount_tax: int
    amount_discount: int
    amount_total: int
    hsa_fsa_eligibility: str | None

    @classmethod
    def from_line_item(cls, item: LineItem) -> LineDraft:
        price = item.price
        unit = price.unit_amount if price and price.unit_amount is not None else 0
        return cls(
            line_item_id=item.line_item_id,
            product_id=price.product_id if price else None,
            price_id=price.price_id if price else None,
            description=item.description or (price.description if price else None) or "",
            quantity=item.quantity,
            unit_amount=unit,
            amount_subtotal=item.amount_subtotal,
            amount_tax=item.amount_tax,
            amount_discount=item.amount_discount,
            amount_total=item.amount_total,
            hsa_fsa_eligibility=item.eligibility or (price.hsa_fsa_eligibility if price else None),
        )


@dataclass(frozen=True)
class PaymentDraft:
    payment_intent_id: str
    amount: int
    amount_received: int
    status: str
    payment_card_type: str | None

    @classmethod
    def from_intent(cls, intent: PaymentIntent) -> PaymentDraft:
        return cls(
            payment_intent_id=intent.payment_intent_id,
            amount=intent.amount,
            amount_received=intent.amount_received,
            status=intent.status or "unknown",
            payment_card_type=intent.payment_card_type,
        )


@dataclass(frozen=True)
class OrderDraft:
    """Everything one paid checkout session becomes, before it has an id."""

    checkout_session_id: str
    mode: str
    customer_id: str | None
    email: str | None
    customer_name: str | None
    client_reference_id: str | None
    subscription_id: str | None
    amount_subtotal: int
    amount_tax: int
    amount_shipping: int
    amount_discount: int
    amount_total: int
    test_mode: bool
    lines: tuple[LineDraft, ...]
    payments: tuple[PaymentDraft, ...]
    metadata: dict[str, object]

    @classmethod
    def from_api(
        cls,
        session: CheckoutSession,
        items: list[LineItem],
        intents: list[PaymentIntent],
    ) -> OrderDraft:
        totals = session.total_details
        return cls(
            checkout_session_id=session.checkout_session_id,
            mode=session.mode or "payment",
            customer_id=session.customer_id,
            email=_email(session),
            customer_name=_name(session),
            client_reference_id=session.client_reference_id,
            subscription_id=session.subscription,
            amount_subtotal=session.amount_subtotal,
            amount_tax=totals.amount_tax if totals else 0,
            amount_shipping=totals.amount_shipping if totals else 0,
            amount_discount=totals.amount_discount if totals else 0,
            amount_total=session.amount_total,
            test_mode=bool(session.test_mode) if session.test_mode is not None else True,
            lines=tuple(LineDraft.from_line_item(item) for item in items),
            payments=tuple(PaymentDraft.from_intent(intent) for intent in intents),
            metadata=dict(session.metadata or {}),
        )

    def receipt(
        self, order_id: int, created_at: float, subscription: ReceiptSubscription | None
    ) -> Receipt:
        """The snapshot the receipt email renders, frozen at fulfillment time."""
        return Receipt(
            order_id=order_id,
            checkout_session_id=self.checkout_session_id,
            email=self.email or "",
            created_at=created_at,
            lines=tuple(_receipt_line(line) for line in self.lines),
            amount_subtotal=self.amount_subtotal,
            amount_tax=self.amount_tax,
            amount_shipping=self.amount_shipping,
            amount_discount=self.amount_discount,
            amount_total=self.amount_total,
            customer_name=self.customer_name,
            payments=tuple(_receipt_payment(p, len(self.payments)) for p in self.payments),
            subscription=subscription,
            test_mode=self.test_mode,
        )


def paid_amount(received: list[int]) -> int:
    """An order's paid amount: the sum of its payments (a split cart has two)."""
    return sum(received)


def _receipt_line(line: LineDraft) -> ReceiptLine:
    return ReceiptLine(
        description=line.description,
        quantity=line.quantity,
        unit_amount=line.unit_amount,
        amount_total=line.amount_total,
        hsa_fsa_eligibility=line.hsa_fsa_eligibility,
    )


def _receipt_payment(payment: PaymentDraft, count: int) -> ReceiptPayment:
    hsa = payment.payment_card_type == HSA_FSA_CARD or count == 1
    return ReceiptPayment(payment.payment_intent_id, payment.amount_received, hsa_fsa=hsa)


def _email(session: CheckoutSession) -> str | None:
    customer = session.customer
    if customer is not None and not isinstance(customer, str) and customer.email:
        return customer.email
    return session.defaults.email if session.defaults else None


def _name(session: CheckoutSession) -> str | None:
    customer = session.customer
    source: Customer | CustomerDefaults | None = (
        customer if customer is not None and not isinstance(customer, str) else None
    )
    source = source or session.defaults
    if source is None:
        return None
    name = " ".join(part for part in (source.first_name, source.last_name) if part)
    return name or None
