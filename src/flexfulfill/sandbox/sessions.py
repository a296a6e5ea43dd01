"""Checkout sessions: building one from a request, and showing it (with expansions).

A line item is HSA/FSA-eligible when its product's ``hsa_fsa_eligibility`` is anything but
``not_eligible``, read when the session is created (later product changes do not alter an
open session). ``eligibility`` on each line is that value.
"""

from __future__ import annotations

from flexfulfill.flex import CheckoutSessionStatus, HsaFsaEligibility
from flexfulfill.sandbox.api_catalog import new_price, price_shown
from flexfulfill.sandbox.errors import invalid
from flexfulfill.sandbox.ids import new_id
from flexfulfill.sandbox.inputs import LineItemIn, PriceIn, SessionIn
from flexfulfill.sandbox.present import Doc, present
from flexfulfill.sandbox.store import Tx

SESSION_LIFETIME = 24 * 3600
LMN = HsaFsaEligibility.LETTER_OF_MEDICAL_NECESSITY


def is_eligible(line: Doc) -> bool:
    eligibility = line.get("eligibility") or HsaFsaEligibility.NOT_ELIGIBLE
    return bool(eligibility != HsaFsaEligibility.NOT_ELIGIBLE)


async def create_session(tx: Tx, data: SessionIn, base_url: str) -> Doc:
    """Validate the request, price its lines and store an ``open`` session."""
    lines = [await _line(tx, item, i, data.mode) for i, item in enumerate(data.line_items)]
    await _check(tx, data, lines)
    return await tx.insert("checkout_session", _session_doc(data, lines, base_url, tx.now))


async def _check(tx: Tx, data: SessionIn, lines: list[Doc]) -> None:
    if data.mode == "subscription" and not any(line["_recurring"] for line in lines):
        message = "subscription mode needs at least one recurring price"
        raise invalid(
            "recurring_price_required", message, ["body", "checkout_session", "line_items"]
        )
    if data.customer is not None and await tx.get("customer", data.customer) is None:
        message = f"No such customer: {data.customer!r}"
        raise invalid("customer_not_found", message, ["body", "checkout_session", "customer"])


def _session_doc(data: SessionIn, lines: list[Doc], base_url: str, now: float) -> Doc:
    session_id = new_id("checkout_session")
    subtotal = sum(line["amount_subtotal"] for line in lines)
    shipping = sum(line["amount_shipping"] for line in lines)
    return {
        "checkout_session_id": session_id,
        "status": CheckoutSessionStatus.OPEN,
        "mode": data.mode,
        "amount_subtotal": subtotal,
        "amount_total": subtotal + shipping,
        "amount_received": 0,
        "amount_refunded": 0,
        "amount_disputed": 0,
        "success_url": data.success_url,
        "cancel_url": data.cancel_url,
        "redirect_url": f"{base_url}/pay/c/{session_id}",
        "client_reference_id": data.client_reference_id,
        "customer": data.customer,
        "defaults": data.defaults.model_dump(exclude_none=True) if data.defaults else None,
        "metadata": data.metadata or {},
        "capture_method": data.capture_method,
        "allow_promotion_codes": bool(data.allow_promotion_codes),
        "hsa_fsa_eligible": any(is_eligible(line) for line in lines),
        "letter_of_medical_necessity_required": any(line["eligibility"] == LMN for line in lines),
        "payment_intents": [],
        "refunds": [],
        "captures": [],
        "disputes": [],
        "total_details": {"amount_discount": 0, "amount_tax": 0, "amount_shipping": shipping},
        "created_at": int(now),
        "expires_at": int(now) + SESSION_LIFETIME,
        "test_mode": True,
        "_line_items": lines,
    }


async def _line(tx: Tx, item: LineItemIn, index: int, mode: str) -> Doc:
    loc = ("body", "checkout_session", "line_items", str(index))
    price = await _price_of(tx, item, loc)
    if mode == "payment" and price.get("recurring"):
        raise invalid(
            "recurring_price_in_payment_mode",
            f"price {price['price_id']} is recurring; use mode=subscription",
            [*loc, "price"],
        )
    product = await tx.get("product", price["product"]) or {}
    subtotal = int(price["unit_amount"]) * item.quantity
    rate = item.shipping_options.shipping_rate_data if item.shipping_options else None
    shipping = rate.amount if rate else 0
    return {
        "line_item_id": new_id("line_item"),
        "price": price["price_id"],
        "quantity": item.quantity,
        "description": price.get("description") or product.get("name"),
        "amount_subtotal": subtotal,
        "amount_discount": 0,
        "amount_tax": 0,
        "amount_shipping": shipping,
        "amount_total": subtotal + shipping,
        "eligibility": product.get("hsa_fsa_eligibility") or HsaFsaEligibility.NOT_ELIGIBLE,
        "_recurring": bool(price.get("recurring")),
    }


async def _price_of(tx: Tx, item: LineItemIn, loc: tuple[str, ...]) -> Doc:
    if item.price is not None:
        price = await tx.get("price", item.price)
        if price is None:
            # The exact body Flex answers (seen by Flex's WooCommerce plugin, API.md §1.6).
            raise invalid("price_not_found", "One or more prices are not valid", ["price"])
        if not price.get("active", True):
            raise invalid("price_inactive", f"price {item.price} is not active", [*loc, "price"])
        return price
    if item.price_data is not None:
        data = PriceIn(**item.price_data.model_dump())
        return await new_price(tx, data, (*loc, "price_data"), active=False)
    raise invalid("missing", "each line item needs a price or price_data", list(loc))


async def show_session(tx: Tx, doc: Doc, *, customer: bool = False, intents: bool = False) -> Doc:
    """The session as the API shows it, with the customer or payment intents expanded."""
    shown = dict(doc)
    if customer and doc.get("customer"):
        found = await tx.get("customer", doc["customer"])
        shown["customer"] = present("customer", found) if found else doc["customer"]
    if intents:
        found = await tx.get_many("payment_intent", doc["payment_intents"])
        shown["payment_intents"] = [
            present("payment_intent", found[pid]) for pid in doc["payment_intents"] if pid in found
        ]
    return present("checkout_session", shown)


async def show_line_items(tx: Tx, doc: Doc) -> list[Doc]:
    """The session's lines, each with its price and the price's product expanded (their
    prices and products read in one query each)."""
    lines = doc["_line_items"]
    prices = await tx.get_many("price", [line["price"] for line in lines])
    for line in lines:
        if line["price"] not in prices:
            await tx.require("price", line["price"])  # the same 404 as before
    products = await tx.get_many("product", [p["product"] for p in prices.values()])
    return [
        present(
            "line_item",
            {**line, "price": _price(prices[line["price"]], products, expand_product=True)},
        )
        for line in lines
    ]


def _price(price: Doc, products: dict[str, Doc], expand_product: bool) -> Doc:
    return price_shown(price, products.get(price["product"]) or {}, expand_product)


async def validate_line_items(tx: Tx, items: list[LineItemIn], mode: str, resource: str) -> None:
    """Check prices exist (Flex's 422 ``price_not_found``) without creating anything."""
    for index, item in enumerate(items):
        loc = ("body", resource, "line_items", str(index))
        if item.price is None and item.price_data is None:
            raise invalid("missing", "each line item needs a price or price_data", list(loc))
        if item.price is not None and await tx.get("price", item.price) is None:
            raise invalid("price_not_found", "One or more prices are not valid", ["price"])
        if item.price_data is not None:
            await tx.reference("product", item.price_data.product, (*loc, "price_data", "product"))
