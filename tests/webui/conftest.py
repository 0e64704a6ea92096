"""A real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright, and a gateway
serving the built web UI on a real port."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from playwright.async_api import Browser, Page, async_playwright

ROOT = Path(__file__).resolve().parents[2]
WEBUI_DIST = ROOT / "webui" / "dist"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium, and a built UI for it to load; either missing fails the run."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make services` (it installs Debian's "
                    "chromium package)", pytrace=False)
    if not (WEBUI_DIST / "index.html").exists():
        pytest.fail("the web UI is not built: run `make webui` (make test does)", pytrace=False)
    return CHROMIUM


@pytest.fixture(scope="session", autouse=True)
async def empty_catalogue(db_pool: asyncpg.Pool) -> None:
    """The browser tests read the public event list as a buyer does (200 events at most,
    undated ones last): they start from an empty catalogue, not from the hundreds of events
    the rest of the suite left in the shared test database, under which their own would
    not be on the page. (They run after the other tests, before the fault tests, which
    make their own events.)"""
    await db_pool.execute("TRUNCATE events, idempotency_keys CASCADE")


@pytest.fixture(scope="session")
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    """One headless Chromium for the session."""
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=chromium_path, headless=True,
                                            args=["--no-sandbox"])
        yield chromium
        await chromium.close()


@pytest.fixture
async def new_page(browser: Browser) -> AsyncIterator[Callable[[], Any]]:
    """Pages in fresh browser contexts (one per simulated person); closed after the test.
    Any uncaught error in the page's JavaScript, or anything the Content-Security-Policy
    blocked, fails the test."""
    contexts = []
    errors: list[str] = []

    async def make() -> Page:
        context = await browser.new_context()
        contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        # Chromium reports what the CSP refused on the console, not as a page error.
        page.on("console", lambda msg: errors.append(msg.text)
                if "Content Security Policy" in msg.text else None)
        page.set_default_timeout(15_000)
        return page

    yield make
    for context in contexts:
        await context.close()
    assert not errors, f"JavaScript errors or CSP violations in the page: {errors}"
