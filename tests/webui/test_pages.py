"""The web UI's own addresses: a shareable event page, a ticket page per booking (QR codes,
calendar file, print), the history with cancelled bookings, the quantity bounded before the
click, and the organizer's live view of a surge. Each page opened straight from its address,
as a shared link or a reload does. Screenshots under `.artifacts/screenshots/` (not tracked)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import zxingcpp
from PIL import Image
from playwright.async_api import Page, expect

from engine.types import Role
from tests.factories import PASSWORD, create_accounts
from tests.webui.conftest import ROOT
from tests.webui.test_browser import _gateway, _log_in, _signed_in_buyer

SCREENSHOTS = ROOT / ".artifacts" / "screenshots"


def _at(url: str, path: str) -> str:
    return url.rstrip("/") + path


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def test_an_event_page_is_shareable_counts_down_to_the_sale_and_stays_live(
        make_api: Any, new_page: Any, db_pool: asyncpg.Pool) -> None:
    api, url = await _gateway(make_api)
    [vendor] = await create_accounts(db_pool, api.issuer, 1, Role.VENDOR)
    await db_pool.execute("UPDATE users SET name = 'Hall Keepers' WHERE id = $1", vendor.id)
    opens = datetime.now(UTC) + timedelta(seconds=6)
    event = await api.event(vendor, name="Shared Gala", venue="Hall S", totalTickets=8,
                            perUserLimit=3, startsAt="2099-05-01T12:00:00Z",
                            saleStartsAt=_iso(opens))
    [buyer, other] = await create_accounts(db_pool, api.issuer, 2)

    page: Page = await new_page()
    await page.goto(_at(url, f"/events/{event['id']}"))  # a shared link, opened cold
    await expect(page).to_have_title("Shared Gala · Ticket War")
    await expect(page.locator("h1")).to_have_count(1)
    await expect(page.get_by_role("heading", level=2, name="Shared Gala")).to_be_visible()
    # 12:00 UTC is Friday, 1 May 2099 in every time zone from UTC-11 to UTC+11.
    await expect(page.get_by_test_id("event-date")).to_contain_text("Friday")
    await expect(page.get_by_test_id("event-date")).to_contain_text("2099")
    await expect(page.get_by_text("Hall S")).to_be_visible()
    await expect(page.get_by_test_id("organizer")).to_have_text("Hall Keepers")
    await expect(page.get_by_test_id("countdown")).to_contain_text("Sales open in")
    await expect(page.get_by_role("button", name="Book")).to_be_disabled()
    await page.screenshot(path=SCREENSHOTS / "event-page-countdown.png", full_page=True)

    # The sale opens while the buyer waits on the page: no reload, the button comes alive.
    await _log_in(page, buyer.email, PASSWORD)
    await expect(page.get_by_role("button", name="Book")).to_be_enabled(timeout=20_000)
    await expect(page.get_by_test_id("countdown")).to_have_count(0)
    # Seats sold elsewhere show here as they sell.
    assert (await api.book(other, event["id"], 3)).status == 201
    await expect(page.get_by_test_id("seats-left")).to_contain_text("5 of 8 seats left")
    await page.get_by_role("textbox", name="Seats").fill("2")
    await page.get_by_role("button", name="Book").click()
    await expect(page.get_by_text("Booked!")).to_be_visible()
    await expect(page.get_by_test_id("seats-left")).to_contain_text("3 of 8 seats left")
    await page.screenshot(path=SCREENSHOTS / "event-page-booked.png", full_page=True)

    # From the booking to its ticket page, and back through the history.
    await page.get_by_role("link", name="Show the tickets").click()
    await expect(page).to_have_url(
        _at(url, "/tickets/") + str(await db_pool.fetchval(
            "SELECT id FROM bookings WHERE user_id = $1", buyer.id)))
    await page.go_back()
    await expect(page).to_have_url(_at(url, f"/events/{event['id']}"))

    # The list links to the page; the old hash links land on their path.
    await page.goto(url)
    await page.get_by_role("link", name="Shared Gala").click()
    await expect(page).to_have_url(_at(url, f"/events/{event['id']}"))
    await expect(page).to_have_title("Shared Gala · Ticket War")
    await page.goto(url + "#/tickets")
    await expect(page).to_have_url(_at(url, "/tickets"))
    await expect(page).to_have_title("My Tickets · Ticket War")
    await page.goto(_at(url, "/events/99999999"))
    await expect(page.get_by_text("No such event")).to_be_visible()
    await page.goto(_at(url, "/tickets/0b6e0c4e-3a41-4a7a-9d7e-1f2d3c4b5a69"))
    await expect(page.get_by_text("No such booking")).to_be_visible()


def _decode(png: bytes) -> list[str]:
    """The texts of the QR codes in a screenshot."""
    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


async def test_a_ticket_page_has_scannable_qr_codes_a_calendar_file_and_prints(
        make_api: Any, new_page: Any, db_pool: asyncpg.Pool, tmp_path: Path) -> None:
    api, url, buyer, page = await _signed_in_buyer(make_api, new_page, db_pool)
    event = await api.event(name="Gala, Night; Live", venue="Hall Q", totalTickets=5,
                            startsAt="2099-05-01T20:00:00Z")
    booked = await api.book(buyer, event["id"], 2)
    assert booked.status == 201
    booking_id = booked.body["id"]
    codes = sorted(t["code"] for t in booked.body["tickets"])

    await page.goto(_at(url, f"/tickets/{booking_id}"))
    await expect(page).to_have_title("Tickets · Gala, Night; Live · Ticket War")
    await expect(page.get_by_test_id("ticket-event")).to_contain_text("Hall Q")
    await expect(page.get_by_test_id("ticket-event")).to_contain_text("2099")
    qr = page.get_by_test_id("ticket-qr")
    await expect(qr).to_have_count(2)
    # Each image is a QR code a scanner reads as its ticket's code.
    read = sorted([text for i in range(2) for text in _decode(await qr.nth(i).screenshot())])
    assert read == codes

    async with page.expect_download() as download:
        await page.get_by_role("link", name="Add to calendar").click()
    path = tmp_path / "ticket.ics"
    await (await download.value).save_as(path)
    ics = path.read_bytes().decode()
    assert ics.endswith("\r\n") and "\n" not in ics.replace("\r\n", "")
    lines = ics.split("\r\n")
    assert lines[0] == "BEGIN:VCALENDAR" and "END:VCALENDAR" in lines
    assert f"UID:booking-{booking_id}@ticketwar" in lines
    assert any(line.startswith("DTSTAMP:") and line.endswith("Z") for line in lines)
    assert "DTSTART:20990501T200000Z" in lines
    assert "SUMMARY:Gala\\, Night\\; Live" in lines
    assert "LOCATION:Hall Q" in lines
    assert all(len(line.encode()) <= 75 for line in lines)

    await page.screenshot(path=SCREENSHOTS / "ticket-page.png", full_page=True)
    # On paper: the tickets and their codes, no header, tabs or buttons.
    await page.emulate_media(media="print")
    await expect(page.get_by_role("banner")).to_be_hidden()
    await expect(page.get_by_role("tablist")).to_be_hidden()
    await expect(page.get_by_role("button", name="Print")).to_be_hidden()
    await expect(qr).to_have_count(2)
    await expect(qr.first).to_be_visible()
    await page.screenshot(path=SCREENSHOTS / "ticket-page-print.png", full_page=True)
    await page.pdf(path=ROOT / ".artifacts" / "ticket-page.pdf")
    await page.emulate_media(media="screen")

    # Cancelled: kept in the history, marked, its tickets void and no longer scannable.
    assert (await api.call("POST", f"/api/bookings/{booking_id}/cancel", buyer)).status == 200
    await page.reload()
    await expect(page.get_by_text("Cancelled", exact=True)).to_be_visible()
    await expect(page.get_by_text("VOID", exact=True)).to_have_count(2)
    await expect(qr).to_have_count(0)
    await expect(page.get_by_role("link", name="Add to calendar")).to_have_count(0)
    await page.get_by_role("link", name="My Tickets").click()
    await expect(page).to_have_url(_at(url, "/tickets"))
    history = page.get_by_test_id("booking")
    await expect(history).to_have_count(1)
    await expect(history).to_contain_text("Cancelled")
    await expect(history.get_by_test_id("void-ticket-code")).to_have_count(2)
    await expect(history.get_by_role("button", name="Cancel booking")).to_have_count(0)
    await page.screenshot(path=SCREENSHOTS / "tickets-history.png", full_page=True)


async def test_the_quantity_is_bounded_by_what_is_left_and_the_buyers_allowance(
        make_api: Any, new_page: Any, db_pool: asyncpg.Pool) -> None:
    api, _, buyer, page = await _signed_in_buyer(make_api, new_page, db_pool)
    event = await api.event(name="Bounded", totalTickets=6, perUserLimit=4)
    [other] = await create_accounts(db_pool, api.issuer, 1)
    assert (await api.book(other, event["id"], 4)).status == 201
    await page.reload()
    card = page.get_by_test_id(f"event-{event['id']}")
    seats = card.get_by_role("textbox", name="Seats")
    await expect(card.get_by_test_id("seats-left")).to_contain_text("2 of 6 seats left")

    # The arrows stop at what is left (2), under the limit of 4.
    await seats.click()
    for _ in range(4):
        await seats.press("ArrowUp")
    await expect(seats).to_have_value("2")
    # Each arrow leaves react-number-format a 0 ms timer that puts the caret back at the end
    # of the value; fill's select-all, when that timer fires after it, became "21" in CI.
    # Leaving the box first clears the timer (as a person's click on it would have).
    await seats.blur()
    await seats.fill("1")
    await card.get_by_role("button", name="Book").click()
    await expect(card.get_by_text("Booked!")).to_be_visible()
    # What is left of the allowance is said before the next click; asking past what is left
    # offers what is left, and nothing is sent.
    await expect(card.get_by_test_id("allowance")).to_have_text("You hold 1; you can book 1 more.")
    await seats.fill("3")
    await card.get_by_role("button", name="Book").click()
    await expect(card.get_by_role("alert")).to_contain_text("Only 1 left — book 1?")
    assert await db_pool.fetchval("SELECT count(*) FROM bookings WHERE event_id = $1"
                                  " AND user_id = $2", event["id"], buyer.id) == 1
    await card.get_by_role("alert").get_by_role("button", name="Book 1").click()
    await expect(card.get_by_test_id("allowance")).to_have_count(0)  # sold out: nothing to say
    await expect(card.get_by_text("Sold out", exact=True)).to_be_visible()

    # At the limit: said, and the control is off while seats are still on sale.
    limited = await api.event(name="Limited", totalTickets=10, perUserLimit=2)
    assert (await api.book(buyer, limited["id"], 2)).status == 201
    await page.reload()
    card = page.get_by_test_id(f"event-{limited['id']}")
    await expect(card.get_by_test_id("allowance")).to_have_text(
        "You hold 2 seats, the most one buyer may have.")
    await expect(card.get_by_role("textbox", name="Seats")).to_be_disabled()
    await expect(card.get_by_role("button", name="Book")).to_be_disabled()
    await page.screenshot(path=SCREENSHOTS / "limit-states.png", full_page=True)


async def test_the_organizer_watches_a_surge_live_and_others_are_kept_out(
        make_api: Any, new_page: Any, db_pool: asyncpg.Pool) -> None:
    api, url = await _gateway(make_api)
    [vendor, rival] = await create_accounts(db_pool, api.issuer, 2, Role.VENDOR)
    event = await api.event(vendor, name="Surge Night", totalTickets=50)
    buyers = await create_accounts(db_pool, api.issuer, 6)

    page: Page = await new_page()
    await page.goto(url)
    await _log_in(page, vendor.email, PASSWORD)
    await page.get_by_role("tab", name="Organize").click()
    await page.get_by_role("link", name="Surge Night").click()
    await expect(page).to_have_url(_at(url, f"/organize/events/{event['id']}"))
    await expect(page).to_have_title("Surge Night · Organize · Ticket War")
    await expect(page.get_by_test_id("total-sold")).to_have_text("0 / 50")
    await expect(page.locator(".recharts-surface")).to_have_count(2)

    for buyer in buyers:  # a small surge: 12 seats in a burst
        assert (await api.book(buyer, event["id"], 2)).status == 201
    await expect(page.get_by_test_id("total-sold")).to_have_text("12 / 50")
    await expect(page.get_by_test_id("total-left")).to_have_text("38")
    await expect(page.get_by_test_id("total-minute")).to_have_text("12")
    peak = page.get_by_test_id("total-peak")
    await expect(peak).not_to_have_text("0")
    # The bars of the seconds that sold are drawn.
    await expect(page.get_by_test_id("chart-rate").locator(".recharts-bar-rectangle")
                 .first).to_be_visible()
    await page.screenshot(path=SCREENSHOTS / "organizer-surge.png", full_page=True)
    # A reload lands on the same page.
    await page.reload()
    await expect(page.get_by_test_id("total-sold")).to_have_text("12 / 50")

    # Another organizer, and a buyer, are told this page is not theirs.
    other: Page = await new_page()
    await other.goto(url)
    await _log_in(other, rival.email, PASSWORD)
    await other.goto(_at(url, f"/organize/events/{event['id']}"))
    await expect(other.get_by_text("Not one of your events")).to_be_visible()
    await expect(other.get_by_test_id("total-sold")).to_have_count(0)
    buyer_page: Page = await new_page()
    await buyer_page.goto(url)
    await _log_in(buyer_page, buyers[0].email, PASSWORD)
    await buyer_page.goto(_at(url, f"/organize/events/{event['id']}"))
    await expect(buyer_page.get_by_text("Organizer accounts only")).to_be_visible()
    await expect(buyer_page).to_have_title("Organize · Ticket War")
