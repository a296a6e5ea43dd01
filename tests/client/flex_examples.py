"""Flex's objects as API.md (§2) documents them: every field listed, with its documented example
values where API.md gives one (ids, amounts, enums, ISO strings, integer session timestamps).

API.md's literal JSON examples are not copied here: the model tests read them out of API.md
itself, so a new example added there is tested without touching this file.
"""

from __future__ import annotations

from typing import Any

PRODUCT: dict[str, Any] = {
    "product_id": "fprod_01HW5MXAPBE79RHMMJJGB4ACAB",
    "name": "Blood pressure monitor",
    "description": "Upper arm cuff",
    "document_description": "Blood pressure monitor",
    "receipt_description": "BP monitor",
    "created_at": "2024-04-23T14:14:16.029253Z",
    "visit_type": "cbtSleep",
    "active": True,
    "upc_code": "012345678905",
    "gtin": "00012345678905",
    "reference_gtin": None,
    "hsa_fsa_eligibility": "not_eligible",
    "eligibility_rationale": "classified",
    "test_mode": True,
    "metadata": {"sku": "BP-1"},
    "url": "https://shop.example.com/bp",
    "client_reference_id": "sku-bp-1",
}

PRICE: dict[str, Any] = {
    "price_id": "fprice_01HT5GKN33F6E31WE2RF1GYYKH",
    "description": "Monitor",
    "trial_period_days": None,
    "unit_amount": 4999,
    "recurring": {"interval": "daily", "interval_count": 1, "trial_period_days": 0},
    "active": True,
    "product": PRODUCT,
    "created_at": "2024-01-01T00:00:00Z",
    "type": "one_time",
    "metadata": {},
    "hsa_fsa_eligibility": "auto_substantiation",
    "test_mode": True,
}

CUSTOMER: dict[str, Any] = {
    "customer_id": "fcus_01HACM7FZ1084XB1GB6053VM0D",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "phone": "+15555550100",
    "employer": "Analytical Engines",
    "shipping": {
        "shipping_address_id": "fsh_01J9XR8M3K7VZ8N2YB4WJ6T0RA",
        "line1": "1 Main St",
        "line2": None,
        "city": "Beverly Hills",
        "state": "CA",
        "postal_code": "90210",
        "country": "US",
    },
    "metadata": {},
    "created_at": "2024-01-01T00:00:00Z",
    "test_mode": True,
}

PAYMENT_INTENT: dict[str, Any] = {
    "payment_intent_id": "fpi_01HW5KTQQAAQ66WV19MFW4DTT4",
    "amount": 4999,
    "amount_capturable": 0,
    "amount_received": 4999,
    "application_fee_amount": 0,
    "customer": CUSTOMER,
    "transfer_data": {"amount": 4999, "destination": "acct_1"},
    "status": "canceled",
    "latest_charge": "ch_1",
    "created_at": "2024-01-01T00:00:00Z",
    "invoice": None,
    "capture_method": "automatic",
    "client_secret": "pi_secret",
    "metadata": {},
    "payment_method": "pm_1",
    "test_mode": True,
    "transfer_group": None,
    "payment_card_type": "primary",
    "letter_fee_amount": 0,
    "transaction_fee": 0,
    "last_payment_error": {
        "type": "card_error",
        "code": "card_declined",
        "decline_code": "insufficient_funds",
        "message": "Your card has insufficient funds.",
        "payment_method": "pm_1",
    },
}

REFUND: dict[str, Any] = {
    "refund_id": "fref_01HW5KTQQAAQ66WV19MFW4DTT4",
    "payment_intent_id": "fpi_01HW5KTQQAAQ66WV19MFW4DTT4",
    "amount": 1000,
    "created_at": "2024-01-01T00:00:00Z",
    "reason": "requested_by_customer",
    "status": "succeeded",
    "test_mode": True,
    "metadata": {},
    "reference_id": "74567891234567891234567",
    "reference_type": "acquirer_reference_number",
    "reference_status": "available",
}

CHECKOUT_SESSION: dict[str, Any] = {
    "checkout_session_id": "fcs_01HW5KTQQAAQ66WV19MFW4DTT4",
    "status": "complete",
    "mode": "payment",
    "amount_total": 4999,
    "amount_subtotal": 4999,
    "amount_received": 4999,
    "amount_refunded": 0,
    "amount_disputed": 0,
    "allow_promotion_codes": False,
    "success_url": "https://shop.example.com/success?session_id={CHECKOUT_SESSION_ID}",
    "cancel_url": "https://shop.example.com/cart",
    "redirect_url": "https://checkout.withflex.com/pay/c/fcs_01HW5KTQQAAQ66WV19MFW4DTT4",
    "client_reference_id": "order-1001",
    "customer": CUSTOMER,
    "defaults": {
        "customer_id": None,
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "phone": None,
    },
    "captures": [
        {
            "amount_captured": 4999,
            "capture_id": "cap_1",
            "created_at": 123,
            "items": [
                {
                    "amount_captured": 4999,
                    "capture_item_id": "capi_1",
                    "created_at": 123,
                    "price": PRICE,
                    "payment_intent": "fpi_01HW5KTQQAAQ66WV19MFW4DTT4",
                    "test_mode": True,
                }
            ],
            "test_mode": True,
            "amount_shipping_captured": 0,
            "amount_discount_captured": 0,
            "amount_tax_captured": 0,
            "metadata": {},
        }
    ],
    "capture_method": "automatic",
    "created_at": 123,
    "expires_at": 0,
    "hsa_fsa_eligible": True,
    "letter_of_medical_necessity_required": False,
    "invoice": None,
    "metadata": {"order": "1001"},
    "origin": "shopify",
    "payment_intents": ["fpi_01HW5KTQQAAQ66WV19MFW4DTT4", PAYMENT_INTENT],
    "refunds": [REFUND],
    "disputes": [],
    "setup_intent": None,
    "shipping_options": {"shipping_rate_id": "shr_1", "shipping_amount": 0},
    "shipping_address_collection": True,
    "shipping_details": {},
    "fees": [{"amount": 100, "fee_type": "custom", "name": "Handling", "description": "h"}],
    "custom_text": {},
    "subscription_data": {},
    "tax_rate": {"amount": 0},
    "tax_calculation_mode": "exclusive",
    "total_details": {"amount_discount": 0, "amount_tax": 0, "amount_shipping": 0},
    "visit_type": "cbtSleep",
    "payment_method_options": {},
    "platform_fees": {},
    "test_mode": True,
}

LINE_ITEM: dict[str, Any] = {
    "line_item_id": "fli_1",
    "amount_discount": 0,
    "amount_subtotal": 4999,
    "amount_tax": 0,
    "amount_total": 4999,
    "amount_shipping": 0,
    "description": "Monitor",
    "price": PRICE,
    "quantity": 1,
    "eligibility": "not_eligible",
    "shipping_rate": None,
}

INVOICE: dict[str, Any] = {
    "invoice_id": "finv_1",
    "total": 4999,
    "amount_due": 4999,
    "amount_paid": 4999,
    "payment_intent": "fpi_01HW5KTQQAAQ66WV19MFW4DTT4",
    "charge": "ch_1",
    "customer": "fcus_01HACM7FZ1084XB1GB6053VM0D",
    "period_end": "2024-02-01T00:00:00Z",
    "period_start": "2024-01-01T00:00:00Z",
    "subscription": "fsub_1",
}

SUBSCRIPTION: dict[str, Any] = {
    "subscription_id": "fsub_01HW5KTQQAAQ66WV19MFW4DTT4",
    "created_at": "2024-01-01T00:00:00Z",
    "items": [
        {
            "subscription_item_id": "fsi_1",
            "price": PRICE,
            "quantity": 1,
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "test_mode": True,
        }
    ],
    "latest_invoice": INVOICE,
    "customer": "fcus_01HACM7FZ1084XB1GB6053VM0D",
    "status": "trialing",
    "cancel_at_period_end": False,
    "current_period_end": "2024-02-01T00:00:00Z",
    "current_period_start": "2024-01-01T00:00:00Z",
    "metadata": {},
    "test_mode": True,
    "client_secret": {"setup_secret": "s", "payment_secret": "p"},
    "proration_behavior": "always_invoice",
    "trial_start": None,
    "trial_end": None,
    "cancel_at": None,
    "default_payment_method": None,
}

PAYMENT_LINK: dict[str, Any] = {
    "payment_link_id": "fplink_01HTGAQWMJK6P4WVA4P8X63SM2",
    "label": "Monitor",
    "active": True,
    "line_items": [{"price": "fprice_01HT5GKN33F6E31WE2RF1GYYKH", "quantity": 1}],
    "allow_promotion_codes": False,
    "shipping_address_collection": False,
    "shipping_options": {"shipping_rate_id": "shr_1", "shipping_amount": 0, "display_name": "S"},
    "metadata": {},
    "url": "https://checkout.withflex.com/pay/l/fplink_01HTGAQWMJK6P4WVA4P8X63SM2",
    "created_at": "2024-01-01T00:00:00Z",
    "payment_intent_data": {"capture_method": "automatic", "metadata": {}},
    "after_completion": {
        "type": "redirect",
        "hosted_confirmation": {"custom_message": "Thanks"},
        "redirect": {"url": "https://shop.example.com/thanks"},
    },
    "origin": "shopify",
    "tax_rate": {"amount": 0},
    "discounts": [],
    "setup_future_use": "on_session",
    "mode": "payment",
    "test_mode": True,
}

EVENT: dict[str, Any] = {
    "event_id": "fevt_1",
    "event_type": "customer.created",
    "object": {"customer": CUSTOMER},
    "test_mode": True,
    "created_at": "2024-01-01T00:00:00Z",
}

WEBHOOK: dict[str, Any] = {
    "webhook_id": "fwh_1",
    "url": "https://shop.example.com/webhook",
    "events": ["checkout.session.completed", "refund.updated"],
    "signing_secret": "fwhsec_Y2NhZDczMDYtNDEyYi0xMWVlLTg5MTItNGY4Y2E5ZmU1MmI4",
    "test_mode": True,
}

CONSULTATION: dict[str, Any] = {
    "consultation_id": "fcons_2c963f66afa6",
    "consultation_type": "fitness",
    "status": "complete",
    "customer": "fcus_01HACM7FZ1084XB1GB6053VM0D",
    "created_at": "2025-01-23T14:00:00Z",
    "test_mode": True,
}
