"""Headless Chromium (Debian's, driven by Playwright) against a live server, with screenshots.

Browser tests skip with a reason when Chromium or Playwright is missing, except under
RECS_REQUIRE_SERVICES=1 (CI), where that fails the run: .ci/run installs both.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("RECS_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def unavailable(reason: str) -> None:
    if os.environ.get("RECS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"browser tests are required here (RECS_REQUIRE_SERVICES=1) but {reason}")
    pytest.skip(f"browser tests need {reason}")


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package (pip install -r requirements.txt)")
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    # Playwright's sync API keeps an event loop on this thread; the test's own ORM calls are still sync.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def open_page(browser, live_server):
    """open_page(viewport) -> a new page on the live server; its context closes after the test."""
    contexts = []

    def open_(viewport: dict = LAPTOP):
        context = browser.new_context(viewport=viewport, base_url=live_server.url)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    yield open_
    for context in contexts:
        context.close()


def login(page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/t/[^/]+/$"))


def shot(page, name: str) -> Path:
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path



@pytest.fixture
def ui_events(alice, catalogue) -> None:
    """The view tests' small history (sku-2 most popular, then sku-1)."""
    from tests.ui.helpers import load_events

    load_events(alice.tenant)
