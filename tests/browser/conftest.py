"""Fixtures for the browser suite: Chromium, the running system, screenshots.

Debian's Chromium (/usr/bin/chromium) is driven by Playwright; no browser is ever downloaded.
Chromium starts once per test module, the sandbox and the merchant app once per module (see
``stack.py``). Each test opens a fresh browser context (its own cookies) in the window size it
acts in, and saves a screenshot of each step at phone (390x844) and desktop (1280x800) size
under artifacts/screenshots/ (not committed).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from stack import LoopThread, Stack, start_stack
from viewports import DESKTOP, PHONE

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


# Module scope, not session: Playwright's sync API keeps an event loop marked running in this
# thread while it is started, which would break every async test collected after this folder.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing: install Debian's chromium (make browser)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """One headless Chromium per test module."""
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


# Module scope too: the stack's worker polls in a background thread of this process, and a
# stack left running would spend CPU under every later test (and skew the idle-CPU checks).
@pytest.fixture(scope="module")
def stack(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The sandbox and the merchant app (worker included), running for one test module."""
    loop = LoopThread()
    running = loop.call(start_stack(loop, sqlite_template, tmp_path_factory.mktemp("merchant")))
    yield running
    loop.call(running._exit.aclose())
    loop.close()


@pytest.fixture(scope="module")
def catalog(stack: Stack) -> dict[str, str]:
    """Price ids by name: eligible, not eligible, LMN one-time, LMN monthly."""
    items = {
        "thermometer": ("Digital thermometer", "auto_substantiation", 2999, None),
        "gift_wrap": ("Gift wrap", "not_eligible", 500, None),
        "massage_chair": ("Massage chair", "letter_of_medical_necessity", 9900, None),
        "sleep_program": ("Sleep coaching", "letter_of_medical_necessity", 4900, "monthly"),
    }
    prices = {}
    for key, (name, eligibility, amount, interval) in items.items():
        body = {"product": {"name": name, "hsa_fsa_eligibility": eligibility}}
        product = stack.api("POST", "/v1/products", body)["product"]["product_id"]
        price: dict[str, Any] = {"product": product, "unit_amount": amount, "description": name}
        if interval:
            price["recurring"] = {"interval": interval, "interval_count": 1}
        prices[key] = stack.api("POST", "/v1/prices", {"price": price})["price"]["price_id"]
    return prices


class Shots:
    """Numbered screenshots of one test's steps, each at phone and desktop size."""

    def __init__(self, page: Page, directory: Path) -> None:
        self.page = page
        self.directory = directory
        self.count = 0

    def take(self, step: str) -> None:
        self.count += 1
        acting = self.page.viewport_size
        for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
            self.page.set_viewport_size(size)
            path = self.directory / f"{self.count:02d}-{step}-{label}.png"
            self.page.screenshot(path=path, full_page=True)
        if acting:
            self.page.set_viewport_size(acting)


@pytest.fixture
def make_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Any]:
    """``make_page(viewport, javascript=True)`` → (page, shots) in a fresh browser context."""
    contexts = []
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    directory = SCREENSHOTS / name
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)

    def make(viewport: dict[str, int], javascript: bool = True) -> tuple[Page, Shots]:
        context = browser.new_context(viewport=viewport, java_script_enabled=javascript)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        return page, Shots(page, directory)

    yield make
    for context in contexts:
        context.close()
