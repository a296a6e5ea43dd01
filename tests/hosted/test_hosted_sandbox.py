"""The hosted page on the real sandbox over loopback HTTP: what it stores and what it refuses."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from flexfulfill.sandbox.runner import RunningSandbox, run_sandbox

CONTACT = {
    "email": "jane@example.com",
    "first_name": "Jane",
    "last_name": "Doe",
    "phone": "5550104242",
}
INTAKE = {"condition": "Back pain", "diagnosed": "yes", "duration": "2 years", "attest": "yes"}


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with run_sandbox(time_scale=0.001) as running:
        yield running


async def lmn_session(sandbox: RunningSandbox) -> dict[str, Any]:
    body = {
        "product": {"name": "Massage chair", "hsa_fsa_eligibility": "letter_of_medical_necessity"}
    }
    product = (await sandbox.request("POST", "/v1/products", body))["product"]["product_id"]
    price_body = {"price": {"product": product, "unit_amount": 9900}}
    price = (await sandbox.request("POST", "/v1/prices", price_body))["price"]["price_id"]
    session = {
        "line_items": [{"price": price}],
        "success_url": "http://shop.test/ok?s={CHECKOUT_SESSION_ID}",
    }
    return dict(
        (await sandbox.request("POST", "/v1/checkout/sessions", {"checkout_session": session}))[
            "checkout_session"
        ]
    )


def token(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match
    return match.group(1)


async def submit(
    browser: httpx.AsyncClient, url: str, step: str, data: dict[str, str]
) -> httpx.Response:
    page = await browser.get(url)
    return await browser.post(
        f"{url}/{step}", data={**data, "csrf_token": token(page.text, "csrf_token")}
    )


async def test_intake_answers_stay_private_on_the_session(sandbox: RunningSandbox) -> None:
    """The answers are stored with the session but never shown by the merchant's API."""
    session = await lmn_session(sandbox)
    async with httpx.AsyncClient() as browser:
        await submit(browser, session["redirect_url"], "contact", CONTACT)
        reply = await submit(browser, session["redirect_url"], "intake", INTAKE)
    assert reply.status_code == 303
    async with sandbox.state.read() as tx:
        stored = await tx.require("checkout_session", session["checkout_session_id"])
    assert stored["_intake_answers"]["answers"]["condition"] == "Back pain"
    shown = await sandbox.request("GET", f"/v1/checkout/sessions/{session['checkout_session_id']}")
    assert "Back pain" not in str(shown)


async def test_a_session_past_its_expiry_shows_the_expired_page_and_cannot_be_paid(
    sandbox: RunningSandbox,
) -> None:
    """Once expires_at has passed the page says the checkout expired, even before a sweep runs."""
    session = await lmn_session(sandbox)
    async with sandbox.state.transaction() as tx:
        stored = await tx.require("checkout_session", session["checkout_session_id"])
        stored["expires_at"] = int(tx.now) - 1
        await tx.save("checkout_session", stored)
    async with httpx.AsyncClient() as browser:
        page = await browser.get(session["redirect_url"])
    assert page.status_code == 200
    assert 'data-state="expired"' in page.text


async def test_a_real_card_number_is_refused_with_a_message_not_an_error(
    sandbox: RunningSandbox,
) -> None:
    """A valid number that is not a sandbox test card is explained; nothing is charged."""
    session = await lmn_session(sandbox)
    url = session["redirect_url"]
    card = {
        "card_number": "4111 1111 1111 1111",
        "expiry": "12/34",
        "cvc": "123",
        "postal_code": "90210",
    }
    async with httpx.AsyncClient() as browser:
        await submit(browser, url, "contact", CONTACT)
        await submit(browser, url, "intake", INTAKE)
        page = (await browser.get(url)).text
        form = {
            **card,
            "csrf_token": token(page, "csrf_token"),
            "submission_token": token(page, "submission_token"),
        }
        reply = await browser.post(f"{url}/pay", data=form)
        assert reply.status_code == 303
        page = (await browser.get(url)).text
    assert "Not a test card" in page
    shown = await sandbox.request("GET", f"/v1/checkout/sessions/{session['checkout_session_id']}")
    assert shown["checkout_session"]["status"] == "open"
