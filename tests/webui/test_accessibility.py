"""Every page of the web UI is usable with a screen reader and readable: an axe-core scan
(the npm package, run in the page) finds no serious or critical violation, at desktop and phone
size; each page has one `<h1>` and its own title; live seat counts are announced. Each page
scanned is also saved as a screenshot under `.artifacts/screenshots/` (not tracked), for a
person to look at."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
import pytest
from playwright.async_api import Page, expect

from engine.types import Role
from tests.factories import PASSWORD, create_accounts
from tests.webui.conftest import ROOT
from tests.webui.test_browser import _gateway, _log_in

AXE = ROOT / "webui" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / ".artifacts" / "screenshots"

_SCAN = """() => axe.run(document, {resultTypes: ["violations"]}).then((r) => r.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`))"""


async def _violations(page: Page, name: str) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now (saved as
    `name`.png too). Evaluated through the debugging protocol: the page's CSP (rightly)
    refuses an injected script tag."""
    await page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)
    if not AXE.exists():
        pytest.fail(f"no axe-core at {AXE}: run `make webui` (npm ci installs it)",
                    pytrace=False)
    if not await page.evaluate("typeof axe !== 'undefined'"):
        await page.evaluate(AXE.read_text())
    return list(await page.evaluate(_SCAN))


async def test_every_page_passes_an_accessibility_scan_with_its_own_title(
        make_api: Any, new_page: Any, db_pool: asyncpg.Pool) -> None:
    api, url = await _gateway(make_api)
    [vendor] = await create_accounts(db_pool, api.issuer, 1, Role.VENDOR)
    on_sale = await api.event(vendor, name="Axe Gala", venue="Hall A", totalTickets=3,
                              perUserLimit=2, startsAt="2099-05-01T20:00:00Z")
    await api.event(vendor, name="Axe Later", totalTickets=1, saleStartsAt="2099-01-01T00:00:00Z")
    sold_out = await api.event(vendor, name="Axe Full", totalTickets=1)
    assert (await api.book(vendor, sold_out["id"], 1)).status == 201
    assert (await api.book(vendor, on_sale["id"], 1)).status == 201

    page: Page = await new_page()
    # No transitions (the UI honours reduced motion): a dialog is scanned as it ends up, not
    # half faded in.
    await page.emulate_media(reduced_motion="reduce")
    found: dict[str, list[str]] = {}
    for width, height in ((1280, 800), (390, 844)):
        await page.set_viewport_size({"width": width, "height": height})
        await page.goto(url)
        await expect(page.get_by_test_id(f"event-{on_sale['id']}")).to_be_visible()
        await expect(page).to_have_title("Events · Ticket War")
        await expect(page.locator("h1")).to_have_count(1)
        found[f"events {width}"] = await _violations(page, f"events-{width}")
        if width == 1280:
            await _log_in(page, vendor.email, PASSWORD)
        for tab, title in (("My Tickets", "My Tickets · Ticket War"),
                           ("Organize", "Organize · Ticket War")):
            await page.get_by_role("tab", name=tab).click()
            await expect(page).to_have_title(title)
            await expect(page.locator("h1")).to_have_count(1)
            await expect(page.get_by_text("Loading")).to_have_count(0)
            found[f"{tab} {width}"] = await _violations(page, f"{tab}-{width}")
        await page.get_by_role("button", name="New event").click()
        await expect(page.get_by_role("dialog")).to_be_visible()
        found[f"new event form {width}"] = await _violations(page, f"new-event-{width}")
        await page.get_by_role("dialog").get_by_role("button", name="Close").click()
    bad = [f"{where}: {v}" for where, vs in found.items() for v in vs]
    assert not bad, "\n".join(bad)


async def test_live_seat_counts_are_announced_and_the_log_in_box_is_scanned(
        make_api: Any, new_page: Any, db_pool: asyncpg.Pool) -> None:
    api, url = await _gateway(make_api)
    event = await api.event(name="Aria Night", totalTickets=3)
    page: Page = await new_page()
    await page.emulate_media(reduced_motion="reduce")
    await page.goto(url)
    seats_left = page.get_by_test_id(f"event-{event['id']}").get_by_test_id("seats-left")
    await expect(seats_left).to_have_attribute("aria-live", "polite")
    await page.get_by_role("banner").get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("dialog")).to_be_visible()
    bad = await _violations(page, "log-in-1280")
    assert not bad, "\n".join(bad)


async def test_the_pages_at_their_own_addresses_pass_the_scan_with_their_own_titles(
        make_api: Any, new_page: Any, db_pool: asyncpg.Pool) -> None:
    # The event page (with its countdown, and on sale), a ticket page with its QR codes, a
    # cancelled booking's page, the history holding it, the organizer's surge view (with its
    # door staff), a held booking's pay form, and the door page with an answer on it.
    api, url = await _gateway(make_api)
    [vendor] = await create_accounts(db_pool, api.issuer, 1, Role.VENDOR)
    await db_pool.execute("UPDATE users SET name = 'Axe Hall' WHERE id = $1", vendor.id)
    later = await api.event(vendor, name="Axe Soon", venue="Hall L", totalTickets=5,
                            startsAt="2099-06-01T20:00:00Z", saleStartsAt="2099-01-01T00:00:00Z")
    gala = await api.event(vendor, name="Axe Tickets", venue="Hall T", totalTickets=9,
                           perUserLimit=4, startsAt="2099-05-01T20:00:00Z")
    kept = await api.book(vendor, gala["id"], 2)
    dropped = await api.book(vendor, gala["id"], 1)
    assert (kept.status, dropped.status) == (201, 201)
    assert (await api.call("POST", f"/api/bookings/{dropped.body['id']}/cancel",
                           vendor)).status == 200
    paid = await api.event(vendor, name="Axe Paid", totalTickets=3, priceCents=1250,
                           holdSeconds=3600)
    held = await api.book(vendor, paid["id"], 1)
    assert held.body["status"] == "held", held.body
    base = url.rstrip("/")
    pages = (
        (f"/events/{later['id']}", "Axe Soon · Ticket War", "event-countdown"),
        (f"/events/{gala['id']}", "Axe Tickets · Ticket War", "event-on-sale"),
        (f"/tickets/{kept.body['id']}", "Tickets · Axe Tickets · Ticket War", "ticket"),
        (f"/tickets/{dropped.body['id']}", "Tickets · Axe Tickets · Ticket War",
         "ticket-cancelled"),
        ("/tickets", "My Tickets · Ticket War", "tickets-history"),
        (f"/organize/events/{gala['id']}", "Axe Tickets · Organize · Ticket War",
         "organizer-event"),
        (f"/tickets/{held.body['id']}", "Tickets · Axe Paid · Ticket War", "pay-form"),
        (f"/organize/events/{gala['id']}/checkin", "Door · Axe Tickets · Ticket War", "door"),
    )

    page: Page = await new_page()
    await page.emulate_media(reduced_motion="reduce")
    await page.goto(url)
    await _log_in(page, vendor.email, PASSWORD)
    found: dict[str, list[str]] = {}
    for width, height in ((1280, 800), (390, 844)):
        await page.set_viewport_size({"width": width, "height": height})
        for path, title, name in pages:
            await page.goto(base + path)
            await expect(page).to_have_title(title)
            await expect(page.locator("h1")).to_have_count(1)
            await expect(page.get_by_text("Loading")).to_have_count(0)
            if name == "ticket":
                await expect(page.get_by_test_id("ticket-qr")).to_have_count(2)
            if name == "organizer-event":
                await expect(page.locator(".recharts-surface")).to_have_count(2)
                await expect(page.get_by_text("No door staff yet.")).to_be_visible()
            if name == "pay-form":
                await expect(page.get_by_text("Test card — no money moves")).to_be_visible()
            if name == "door":
                await page.get_by_label("Ticket code").fill(kept.body["tickets"][0]["code"])
                await page.get_by_label("Ticket code").press("Enter")
                # Admitted at the first width, already checked in at the second.
                await expect(page.get_by_test_id("door-result")).to_contain_text(
                    re.compile("✓ Admitted|✗ Already checked in"))
            found[f"{name} {width}"] = await _violations(page, f"{name}-{width}")
    bad = [f"{where}: {v}" for where, vs in found.items() for v in vs]
    assert not bad, "\n".join(bad)
