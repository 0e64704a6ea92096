"""A real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright, and a gateway
serving the built web UI on a real port."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from playwright.async_api import Browser, BrowserContext, Page, Playwright, async_playwright

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
async def playwright_driver() -> AsyncIterator[Playwright]:
    """Playwright's driver for the session, which launches the Chromiums below."""
    async with async_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
async def browser(playwright_driver: Playwright, chromium_path: str) -> AsyncIterator[Browser]:
    """One headless Chromium for the session. It has no camera: getUserMedia finds none."""
    chromium = await playwright_driver.chromium.launch(
        executable_path=chromium_path, headless=True, args=["--no-sandbox"])
    yield chromium
    await chromium.close()


class _PageWatch:
    """Pages opened for a test, each in a fresh browser context (one per simulated person),
    closed after it; any uncaught error in a page's JavaScript, or anything the
    Content-Security-Policy blocked, fails the test."""

    def __init__(self) -> None:
        self.contexts: list[BrowserContext] = []
        self.errors: list[str] = []

    async def open(self, browser: Browser, **context_options: Any) -> Page:
        """A page in a new context of `browser` (options as `Browser.new_context` takes)."""
        context = await browser.new_context(**context_options)
        self.contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        # Chromium reports what the CSP refused on the console, not as a page error.
        page.on("console", lambda msg: self.errors.append(msg.text)
                if "Content Security Policy" in msg.text else None)
        page.set_default_timeout(15_000)
        return page

    async def close(self) -> None:
        """Close every context, then fail on what the pages reported."""
        for context in self.contexts:
            # A test's route handler still running as its page goes away must not raise
            # into whichever test runs next.
            for page in context.pages:
                await page.unroute_all(behavior="ignoreErrors")
            await context.close()
        assert not self.errors, f"JavaScript errors or CSP violations in the page: {self.errors}"


@pytest.fixture
async def new_page(browser: Browser) -> AsyncIterator[Callable[[], Any]]:
    """Pages in fresh browser contexts of the session's Chromium (see `_PageWatch`)."""
    watch = _PageWatch()
    yield lambda: watch.open(browser)
    await watch.close()


@pytest.fixture
async def camera_page(playwright_driver: Playwright, chromium_path: str
                      ) -> AsyncIterator[Callable[..., Any]]:
    """`make(video=None, allowed=True)`: a page in a Chromium of its own whose camera is
    Chromium's fake device — playing `video` (a Y4M file, see `fake_camera`), else its own
    test pattern — with camera access granted to the page, or refused as a person who says
    no. One browser per call: the video is fixed when the browser starts."""
    watch = _PageWatch()
    browsers: list[Browser] = []

    async def make(video: Path | None = None, *, allowed: bool = True) -> Page:
        args = ["--no-sandbox", "--use-fake-device-for-media-stream"]
        if video is not None:
            args.append(f"--use-file-for-fake-video-capture={video}")
        browser = await playwright_driver.chromium.launch(
            executable_path=chromium_path, headless=True, args=args)
        browsers.append(browser)
        # Without the grant Chromium answers getUserMedia NotAllowedError, as after a "Block".
        return await watch.open(browser, permissions=["camera"] if allowed else [])

    yield make
    try:
        await watch.close()
    finally:
        for browser in browsers:
            await browser.close()
