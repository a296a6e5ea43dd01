"""A fake of the hosted page's port, for tests of the page alone (browser tests use the sandbox)."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field

from flexfulfill.sandbox.hosted.port import (
    CheckoutView,
    LinkUnavailable,
    Payment,
    PayOutcome,
    Prefill,
    ViewLine,
)

DECLINE = "4000000000009995"


@dataclass
class FakeBackend:
    views: dict[str, CheckoutView] = field(default_factory=dict)
    payments: list[Payment] = field(default_factory=list)
    intakes: dict[str, dict[str, str]] = field(default_factory=dict)
    pay_delay: float = 0.0

    def add(self, session_id: str, **changes: object) -> CheckoutView:
        view = dataclasses.replace(plain_view(session_id), **changes)  # type: ignore[arg-type]
        self.views[session_id] = view
        return view

    async def view(self, session_id: str) -> CheckoutView | None:
        return self.views.get(session_id)

    async def save_intake(self, session_id: str, answers: dict[str, str]) -> None:
        self.intakes[session_id] = answers

    async def pay(self, session_id: str, payment: Payment) -> PayOutcome:
        await asyncio.sleep(self.pay_delay)
        self.payments.append(payment)
        if payment.card.number == DECLINE:
            return PayOutcome(False, "Your card was declined: insufficient funds.")
        self.views[session_id] = dataclasses.replace(self.views[session_id], status="complete")
        return PayOutcome(True)

    async def session_from_link(self, link_id: str, prefill: Prefill, base_url: str) -> str:
        if link_id != "fplink_ok":
            raise LinkUnavailable(f"No payment link {link_id!r}.")
        session_id = f"fcs_link{len(self.views)}"
        defaults = {k: v for k, v in dataclasses.asdict(prefill).items() if v}
        self.add(session_id, defaults=defaults)
        return session_id


def plain_view(session_id: str) -> CheckoutView:
    lines = (
        ViewLine("Digital thermometer", 1, 2999, 2999, eligible=True, needs_letter=False),
        ViewLine("First-aid kit", 2, 1500, 3000, eligible=True, needs_letter=False),
    )
    return CheckoutView(
        session_id=session_id,
        status="open",
        mode="payment",
        merchant_name="Flex Demo Store",
        lines=lines,
        card_amounts=(5999,),
        amount_subtotal=5999,
        amount_total=5999,
        success_url="http://merchant.test/checkout/success?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="http://merchant.test/cart",
    )
