"""Every dashboard page renders the seeded rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator

import asyncpg
import httpx
import pytest
from dashboard_seed import PI_CARD, SESSION, SUBSCRIPTION, seed
from sqlalchemy.ext.asyncio import AsyncEngine

from flexfulfill.store.db import make_engine

pytestmark = pytest.mark.usefixtures("seeded")
PG_ADMIN = os.environ.get("FLEXFULFILL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One seeded database per engine for this whole module: these tests only read."""
    if request.param == "sqlite":
        target = tmp_path_factory.mktemp("pages") / "flexfulfill.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        url = f"sqlite+aiosqlite:///{target}"
        asyncio.run(_seed(url))
        yield url
        return
    name = f"ff_pages_{uuid.uuid4().hex[:12]}"
    asyncio.run(
        _admin(f'CREATE DATABASE "{name}" TEMPLATE "{request.getfixturevalue("pg_template")}"')
    )
    url = (
        PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1) + "/" + name
    )
    asyncio.run(_seed(url))
    yield url
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def seeded(engine: AsyncEngine) -> AsyncEngine:
    """Already seeded, once per module (see ``database_url`` above)."""
    return engine


async def _seed(url: str) -> None:
    engine = make_engine(url)
    try:
        await seed(engine)
    finally:
        await engine.dispose()


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def test_orders_list_shows_orders_and_their_totals(operator: httpx.AsyncClient) -> None:
    """The orders list shows both orders, their count and the sums paid and refunded."""
    page = await operator.get("/dashboard/orders")
    assert page.status_code == 200
    assert SESSION in page.text
    assert "fcs_01OTHER" in page.text
    assert "<strong>2</strong> orders" in page.text
    assert "$69.98" in page.text
    assert "$10.00" in page.text


@pytest.mark.parametrize("query", ["ana@EXAMPLE.com", "01SEEDSESSION", "cart-77"])
async def test_orders_search_finds_by_email_session_or_reference(
    operator: httpx.AsyncClient, query: str
) -> None:
    """Searching by email, session id or client reference finds order 1 and only it."""
    page = await operator.get("/dashboard/orders", params={"q": query})
    assert SESSION in page.text
    assert "fcs_01OTHER" not in page.text


async def test_orders_filter_by_status(operator: httpx.AsyncClient) -> None:
    """The status filter keeps only refunded orders."""
    page = await operator.get("/dashboard/orders", params={"status": "refunded"})
    assert "fcs_01OTHER" in page.text
    assert SESSION not in page.text


async def test_order_page_shows_lines_cards_movements_receipt_and_timeline(
    operator: httpx.AsyncClient,
) -> None:
    """The order page shows each line, both cards, stock movements, the mail and its webhooks."""
    page = (await operator.get("/dashboard/orders/1")).text
    assert "Compression socks" in page
    assert "backorder" in page
    assert "····4242" in page
    assert "····1881" in page
    assert PI_CARD in page
    assert "-2" in page
    assert "-1" in page
    assert "As received: Your order #1 from Flex Demo Store" in page
    assert "&lt;b&gt;Compression socks&lt;/b&gt;" in page  # HTML body, escaped into srcdoc
    timeline = page.split('id="timeline"')[1]
    for event_type in ("payment_intent.succeeded", "checkout.session.completed"):
        assert event_type in timeline
    assert "customer.subscription.updated" in timeline
    assert "503 from the Flex API" in timeline
    assert "customer.created" not in timeline


async def test_unknown_order_is_a_404_that_says_what_to_do(operator: httpx.AsyncClient) -> None:
    """An order id that does not exist answers 404."""
    response = await operator.get("/dashboard/orders/999")
    assert response.status_code == 404
    assert "search the orders list" in response.text


async def test_customers_show_order_count_and_spend(operator: httpx.AsyncClient) -> None:
    """The customers page shows Ana with one order worth $59.98."""
    page = (await operator.get("/dashboard/customers")).text
    assert "fcus_01ANA" in page
    assert "$59.98" in page


async def test_subscriptions_show_status_and_period(operator: httpx.AsyncClient) -> None:
    """The subscriptions page lists the active subscription and its customer's email."""
    page = (await operator.get("/dashboard/subscriptions")).text
    assert SUBSCRIPTION in page
    assert "ana@example.com" in page
    assert "s-active" in page


async def test_stock_marks_low_and_backordered_products(operator: httpx.AsyncClient) -> None:
    """Socks (3 left) are low, candy (−1, a backordered line) is backordered, gauze neither."""
    rows = (await operator.get("/dashboard/stock")).text.split("<tr")
    socks = next(r for r in rows if "fprod_SOCKS" in r)
    candy = next(r for r in rows if "fprod_CANDY" in r)
    gauze = next(r for r in rows if "fprod_GAUZE" in r)
    assert 'class="low"' in socks
    assert 'class="backorder"' in candy
    assert "1 lines" in candy
    assert "badge" not in gauze


async def test_inbox_filters_by_status_and_type(operator: httpx.AsyncClient) -> None:
    """Filtering the inbox on dead shows the dead event and its error, with a replay button."""
    page = (await operator.get("/dashboard/inbox", params={"status": "dead"})).text
    assert "msg_3" in page
    assert "msg_1" not in page
    assert "503 from the Flex API" in page
    assert "/dashboard/inbox/3/replay" in page
    by_type = (await operator.get("/dashboard/inbox", params={"type": "customer.created"})).text
    assert "msg_4" in by_type
    assert "msg_3" not in by_type


async def test_event_page_shows_body_headers_and_history(operator: httpx.AsyncClient) -> None:
    """An event page shows its raw body, its signature headers and its processing attempts."""
    page = (await operator.get("/dashboard/inbox/3")).text
    assert "customer.subscription.updated" in page
    assert SUBSCRIPTION in page
    assert "svix-id" in page
    assert "attempt" in page.lower()
    assert 'id="replay"' in page


async def test_outbox_and_reconciliation_pages_show_their_rows(
    operator: httpx.AsyncClient,
) -> None:
    """The outbox shows the sent receipt; the reconciliation page its run and cursor."""
    outbox = (await operator.get("/dashboard/outbox")).text
    assert "ana@example.com" in outbox
    assert "s-sent" in outbox
    runs = (await operator.get("/dashboard/reconcile")).text
    assert "checkout_sessions" in runs
    assert "reconciler" in runs


async def test_a_live_refresh_gets_the_list_alone(operator: httpx.AsyncClient) -> None:
    """With X-Fragment: 1 a list page answers its table without the page around it."""
    response = await operator.get("/dashboard/inbox", headers={"X-Fragment": "1"})
    assert response.status_code == 200
    assert 'id="inbox"' in response.text
    assert "<html" not in response.text


async def test_navigation_flags_dead_events(operator: httpx.AsyncClient) -> None:
    """The navigation shows the count of dead events."""
    page = (await operator.get("/dashboard/orders")).text
    assert 'title="dead events">1<' in page


async def test_public_routes_stay_public(client: httpx.AsyncClient, seeded: AsyncEngine) -> None:
    """Health answers without a login, and /webhook refuses an unsigned post with 4xx, not 303."""
    assert (await client.get("/healthz")).status_code == 200
    webhook = await client.post("/webhook", content=b"{}")
    assert 400 <= webhook.status_code < 500


async def test_an_unchanged_list_keeps_its_version(operator: httpx.AsyncClient) -> None:
    """The page and its fragment carry the same version until the data changes."""
    full = await operator.get("/dashboard/inbox")
    fragment = await operator.get("/dashboard/inbox", headers={"X-Fragment": "1"})
    version = fragment.headers["x-fragment-version"]
    assert f'data-version="{version}"' in full.text
