"""The hosted page over HTTP against a fake port: steps, CSRF, double submission, closed pages."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from hosted_fakes import FakeBackend

from flexfulfill.clock import ManualClock
from flexfulfill.sandbox.hosted.port import ViewLine
from flexfulfill.sandbox.hosted.routes import HostedCheckout, build_router

CONTACT = {
    "email": "jane@example.com",
    "first_name": "Jane",
    "last_name": "Doe",
    "phone": "5550104242",
}
CARD = {
    "card_number": "4242 4242 4242 4242",
    "expiry": "12/30",
    "cvc": "123",
    "postal_code": "90210",
}
SUCCESS = "http://merchant.test/checkout/success?session_id=fcs_1"


@pytest.fixture
def backend() -> FakeBackend:
    fake = FakeBackend()
    fake.add("fcs_1")
    return fake


@pytest.fixture
async def client(backend: FakeBackend) -> AsyncIterator[httpx.AsyncClient]:
    hosted = HostedCheckout(
        backend, merchant_name="Flex Demo Store", secret=b"k" * 32, clock=ManualClock().as_clock()
    )
    app = FastAPI()
    app.include_router(build_router(hosted))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.test") as http:
        yield http


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no {name} in the page"
    return match.group(1)


async def post_step(
    client: httpx.AsyncClient, step: str, data: dict[str, str], session: str = "fcs_1"
) -> httpx.Response:
    page = await client.get(f"/pay/c/{session}")
    return await client.post(
        f"/pay/c/{session}/{step}", data={**data, "csrf_token": hidden(page.text, "csrf_token")}
    )


async def reach_payment(client: httpx.AsyncClient) -> str:
    assert (await post_step(client, "contact", CONTACT)).status_code == 303
    return (await client.get("/pay/c/fcs_1")).text


async def test_the_page_shows_the_merchant_lines_and_total(client: httpx.AsyncClient) -> None:
    """A GET renders the merchant, every line item and the total, and sets the CSRF cookie."""
    page = await client.get("/pay/c/fcs_1")
    assert page.status_code == 200
    assert "Flex Demo Store" in page.text
    assert "Digital thermometer" in page.text
    assert "$59.99" in page.text
    assert "ff_checkout_browser" in page.headers["set-cookie"]


async def test_a_form_without_the_csrf_token_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, backend: FakeBackend
) -> None:
    """A forged contact POST gets 403 and the page still asks for contact details."""
    await client.get("/pay/c/fcs_1")
    forged = await client.post("/pay/c/fcs_1/contact", data=CONTACT)
    assert forged.status_code == 403
    assert 'data-testid="contact-form"' in (await client.get("/pay/c/fcs_1")).text


async def test_a_csrf_token_from_one_session_is_refused_on_another(
    client: httpx.AsyncClient, backend: FakeBackend
) -> None:
    """Tokens are bound to the checkout session they were issued for."""
    backend.add("fcs_2")
    token = hidden((await client.get("/pay/c/fcs_1")).text, "csrf_token")
    reply = await client.post("/pay/c/fcs_2/contact", data={**CONTACT, "csrf_token": token})
    assert reply.status_code == 403


async def test_invalid_contact_details_come_back_with_messages(client: httpx.AsyncClient) -> None:
    """A bad email is answered 422 with the message next to the field and the values kept."""
    reply = await post_step(client, "contact", {**CONTACT, "email": "jane"})
    assert reply.status_code == 422
    assert 'data-testid="error-email"' in reply.text
    assert 'value="Jane"' in reply.text


async def test_a_double_submitted_pay_charges_once_and_both_land_on_success(
    client: httpx.AsyncClient, backend: FakeBackend
) -> None:
    """Two concurrent POSTs with one submission token run the flow once; both go to success."""
    page = await reach_payment(client)
    form = {
        **CARD,
        "csrf_token": hidden(page, "csrf_token"),
        "submission_token": hidden(page, "submission_token"),
    }
    backend.pay_delay = 0.05
    first, second = await asyncio.gather(
        *(client.post("/pay/c/fcs_1/pay", data=form) for _ in range(2))
    )
    assert len(backend.payments) == 1
    assert first.headers["location"] == second.headers["location"] == SUCCESS


async def test_a_declined_card_shows_the_message_and_another_card_can_pay(
    client: httpx.AsyncClient, backend: FakeBackend
) -> None:
    """After a decline the page explains it, issues a fresh token, and a good card completes."""
    page = await reach_payment(client)
    form = {**CARD, "card_number": "4000000000009995", "csrf_token": hidden(page, "csrf_token")}
    declined = await client.post(
        "/pay/c/fcs_1/pay", data={**form, "submission_token": hidden(page, "submission_token")}
    )
    assert declined.status_code == 303
    page = (await client.get("/pay/c/fcs_1")).text
    assert "declined" in page
    assert "4000000000009995" not in page
    paid = await client.post(
        "/pay/c/fcs_1/pay",
        data={**form, **CARD, "submission_token": hidden(page, "submission_token")},
    )
    assert paid.headers["location"] == SUCCESS
    assert [p.card.last4 for p in backend.payments] == ["9995", "4242"]


async def test_bad_card_fields_are_answered_with_messages_and_no_charge(
    client: httpx.AsyncClient, backend: FakeBackend
) -> None:
    """A card failing the Luhn check is refused before the flow runs and is not echoed."""
    page = await reach_payment(client)
    form = {
        **CARD,
        "card_number": "4242 4242 4242 4241",
        "csrf_token": hidden(page, "csrf_token"),
        "submission_token": hidden(page, "submission_token"),
    }
    reply = await client.post("/pay/c/fcs_1/pay", data=form)
    assert reply.status_code == 422
    assert 'data-testid="error-card_number"' in reply.text
    assert "4241" not in reply.text
    assert backend.payments == []


async def test_a_split_cart_needs_a_second_card(
    client: httpx.AsyncClient, backend: FakeBackend
) -> None:
    """With a non-eligible line the banner shows both amounts and Pay requires the second card."""
    lines = (
        ViewLine("Monitor", 1, 4999, 4999, True, False),
        ViewLine("Gift wrap", 1, 500, 500, False, False),
    )
    backend.add(
        "fcs_1", lines=lines, card_amounts=(4999, 500), amount_subtotal=5499, amount_total=5499
    )
    page = await reach_payment(client)
    assert 'data-testid="split-banner"' in page
    assert "$49.99" in page
    assert "$5.00" in page
    form = {
        **CARD,
        "csrf_token": hidden(page, "csrf_token"),
        "submission_token": hidden(page, "submission_token"),
    }
    reply = await client.post("/pay/c/fcs_1/pay", data=form)
    assert reply.status_code == 422
    assert "error-second_card_number" in reply.text


async def test_a_letter_of_medical_necessity_item_asks_the_intake_questions_first(
    client: httpx.AsyncClient, backend: FakeBackend
) -> None:
    """The intake step comes before payment and its answers are kept on the session."""
    backend.add("fcs_1", lines=(ViewLine("Massage chair", 1, 9900, 9900, True, True, "month"),))
    page = await reach_payment(client)
    assert 'data-testid="intake-form"' in page
    assert 'data-testid="pay-form"' not in page
    answers = {"condition": "Back pain", "diagnosed": "yes", "duration": "2 years", "attest": "yes"}
    assert (await post_step(client, "intake", answers)).status_code == 303
    assert backend.intakes["fcs_1"]["condition"] == "Back pain"
    assert 'data-testid="pay-form"' in (await client.get("/pay/c/fcs_1")).text


@pytest.mark.parametrize("status", ["complete", "expired", "canceled"])
async def test_a_closed_session_shows_a_clear_page(
    client: httpx.AsyncClient, backend: FakeBackend, status: str
) -> None:
    """Completed, expired and canceled sessions get a page saying so, not an error."""
    backend.add("fcs_1", status=status)
    page = await client.get("/pay/c/fcs_1")
    assert page.status_code == 200
    assert f'data-state="{status}"' in page.text
    assert 'data-testid="pay-form"' not in page.text


async def test_an_unknown_session_is_a_clear_not_found_page(client: httpx.AsyncClient) -> None:
    """An id that does not exist gets a 404 page that says what to do."""
    page = await client.get("/pay/c/fcs_nope")
    assert page.status_code == 404
    assert "start again" in page.text


async def test_a_payment_link_visit_opens_a_new_prefilled_session(
    client: httpx.AsyncClient,
) -> None:
    """Each visit creates a session from the link, prefilled from Flex's query parameters."""
    first = await client.get("/pay/l/fplink_ok?email=jo%40example.com&first_name=Jo")
    second = await client.get("/pay/l/fplink_ok")
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] != second.headers["location"]
    page = await client.get(first.headers["location"])
    assert 'value="jo@example.com"' in page.text
    assert 'value="Jo"' in page.text


async def test_an_unknown_payment_link_says_it_is_not_available(client: httpx.AsyncClient) -> None:
    """A link that does not exist gets a clear 404 page."""
    page = await client.get("/pay/l/fplink_nope")
    assert page.status_code == 404
    assert "not available" in page.text
