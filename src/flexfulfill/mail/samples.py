"""Sample receipts: what template validation renders at start-up and `receipts preview` shows.

Between them they reach every branch of the stock templates (discount, split cart, subscription,
customer name, test mode), so a template that breaks on any of them fails before a real send.
"""

from __future__ import annotations

from flexfulfill.domain.receipts import (
    Receipt,
    ReceiptLine,
    ReceiptPayment,
    ReceiptSubscription,
)

_NOV_26_2026 = 1_795_651_200.0
_DAY = 86_400.0

PLAIN = Receipt(
    order_id=1,
    checkout_session_id="fcs_sample_plain",
    email="shopper@example.com",
    created_at=_NOV_26_2026,
    lines=(ReceiptLine("Digital thermometer", 1, 1999, 1999, "auto_substantiation"),),
    amount_subtotal=1999,
    amount_tax=0,
    amount_shipping=0,
    amount_discount=0,
    amount_total=1999,
    payments=(ReceiptPayment("fpi_sample_1", 1999, hsa_fsa=True, card_last4="4242"),),
    test_mode=False,
)

SPLIT_SUBSCRIPTION = Receipt(
    order_id=2,
    checkout_session_id="fcs_sample_split",
    email="shopper@example.com",
    created_at=_NOV_26_2026,
    customer_name="Ada Lovelace",
    lines=(
        ReceiptLine("Blood pressure monitor", 2, 4999, 9998, "auto_substantiation"),
        ReceiptLine("Scented candle", 1, 1250, 1250, "not_eligible"),
        ReceiptLine("Vitamin subscription", 1, 2500, 2500, None),
    ),
    amount_subtotal=13748,
    amount_tax=825,
    amount_shipping=599,
    amount_discount=1000,
    amount_total=14172,
    payments=(
        ReceiptPayment("fpi_sample_2", 11423, hsa_fsa=True, card_last4="4242"),
        ReceiptPayment("fpi_sample_3", 2749, hsa_fsa=False, card_last4=None),
    ),
    subscription=ReceiptSubscription(
        "fsub_sample",
        "active",
        period_start=_NOV_26_2026,
        period_end=_NOV_26_2026 + 30 * _DAY,
        next_renewal=_NOV_26_2026 + 30 * _DAY,
        interval="month",
    ),
    test_mode=True,
)

SAMPLES = (PLAIN, SPLIT_SUBSCRIPTION)
