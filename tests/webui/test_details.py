"""Details of the trusted ticket site, in a real browser against a real gateway: an event's
description (written in the organizer's form, shown on its page as text with its line
breaks), the organizer's chart of bookings per second, and held bookings shown in My
Tickets from the list alone."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
from playwright.async_api import Page, expect

from engine.types import Role
from tests.factories import PASSWORD, create_accounts
from tests.webui.test_browser import _gateway, _log_in, _signed_in_buyer
from tests.webui.test_pages import _at


async def test_an_organizer_writes_a_description_and_the_event_page_shows_it_as_text(
        make_api: Any, new_page: Any, db_pool: asyncpg.Pool) -> None:
    api, url = await _gateway(make_api)
    [vendor] = await create_accounts(db_pool, api.issuer, 1, Role.VENDOR)
    page: Page = await new_page()
    await page.goto(_at(url, "/organize"))
    await _log_in(page, vendor.email, PASSWORD)
    await page.get_by_role("button", name="New event").click()
    form = page.get_by_role("dialog")
    await form.get_by_label("Name").fill("Told Night")
    description = form.get_by_label("Description", exact=True)
    # Too long: said next to the field in plain words, kept as typed, nothing sent.
    await description.fill("x" * 5001)
    await form.get_by_role("button", name="Create event").click()
    await expect(description).to_have_accessible_description(
        re.compile("at most 5,000 characters; this one has 5,001"))
    await expect(description).to_have_value("x" * 5001)
    assert await db_pool.fetchval("SELECT count(*) FROM events WHERE vendor_id = $1",
                                  vendor.id) == 0
    text = "Doors open at 19:00.\nNo re-entry.\n\n<b>bold?</b> <img src=x onerror=alert(1)>"
    await description.fill(text)
    await form.get_by_role("button", name="Create event").click()
    await expect(page.get_by_text("Created: Told Night")).to_be_visible()
    event_id = await db_pool.fetchval("SELECT id FROM events WHERE vendor_id = $1", vendor.id)
    assert await db_pool.fetchval("SELECT description FROM events WHERE id = $1",
                                  event_id) == text

    # The event page, as a shared link opens it: the text as written, line breaks kept, the
    # markup shown as characters and never run.
    buyer: Page = await new_page()
    await buyer.goto(_at(url, f"/events/{event_id}"))
    shown = buyer.get_by_test_id("event-description")
    await expect(shown).to_have_text(text)
    assert await shown.inner_text() == text  # rendered in lines, as in the form
    assert await shown.locator("b, img").count() == 0

    # Editing shows the stored text (the list does not carry it) and saves the change.
    await page.get_by_test_id(f"own-event-{event_id}").get_by_role("button", name="Edit") \
        .click()
    edit = page.get_by_role("dialog")
    await expect(edit.get_by_label("Description", exact=True)).to_have_value(text)
    await edit.get_by_label("Description", exact=True).fill("Sold in lines.\nSecond line.")
    await edit.get_by_role("button", name="Save").click()
    await expect(page.get_by_text("Saved: Told Night")).to_be_visible()
    await buyer.reload()
    assert await shown.inner_text() == "Sold in lines.\nSecond line."
    # An edit of another field leaves the description as it is.
    await page.get_by_test_id(f"own-event-{event_id}").get_by_role("button", name="Edit") \
        .click()
    await edit.get_by_label("Venue").fill("Hall D")
    await edit.get_by_role("button", name="Save").click()
    await expect(page.get_by_text("Saved: Told Night")).to_be_visible()
    assert await db_pool.fetchval("SELECT description FROM events WHERE id = $1",
                                  event_id) == "Sold in lines.\nSecond line."


async def test_the_organizer_chart_counts_bookings_per_second_not_seats(
        make_api: Any, new_page: Any, db_pool: asyncpg.Pool) -> None:
    api, url = await _gateway(make_api)
    [vendor] = await create_accounts(db_pool, api.issuer, 1, Role.VENDOR)
    event = await api.event(vendor, name="Count Night", totalTickets=50)
    buyers = await create_accounts(db_pool, api.issuer, 6)
    page: Page = await new_page()
    await page.goto(url)
    await _log_in(page, vendor.email, PASSWORD)
    await page.get_by_role("tab", name="Organize").click()
    # The page starts counting from the event's read: booking before it answers would race.
    read = f"/api/events/{event['id']}"
    async with page.expect_response(lambda r: r.url.endswith(read)):
        await page.get_by_role("link", name="Count Night").click()
    rate = page.get_by_test_id("chart-rate")
    await expect(rate.locator("figcaption")).to_have_text(re.compile("^Bookings per second"))
    await expect(page.get_by_test_id("total-bookings-minute")).to_have_text("0")
    await expect(page.get_by_test_id("live")).to_have_text("Live")

    # Six bookings, eleven seats: the chart counts the bookings, the totals both.
    for i, buyer in enumerate(buyers):
        assert (await api.book(buyer, event["id"], 1 if i == 0 else 2)).status == 201
    await expect(page.get_by_test_id("total-left")).to_have_text("39")
    await expect(page.get_by_test_id("total-bookings-minute")).to_have_text("6")
    await expect(page.get_by_test_id("total-minute")).to_have_text("11")
    await expect(rate.locator(".recharts-bar-rectangle").first).to_be_visible()

    # A page opened now starts from the count so far: the next booking is one, not seven.
    async with page.expect_response(lambda r: r.url.endswith(read)):
        await page.reload()
    await expect(page.get_by_test_id("total-sold")).to_have_text("11 / 50")
    await expect(page.get_by_test_id("live")).to_have_text("Live")
    [late] = await create_accounts(db_pool, api.issuer, 1)
    assert (await api.book(late, event["id"], 3)).status == 201
    await expect(page.get_by_test_id("total-left")).to_have_text("36")
    await expect(page.get_by_test_id("total-bookings-minute")).to_have_text("1")
    await expect(page.get_by_test_id("total-minute")).to_have_text("3")


async def test_my_tickets_shows_each_hold_from_the_list_alone(
        make_api: Any, new_page: Any, db_pool: asyncpg.Pool) -> None:
    api, _, buyer, page = await _signed_in_buyer(make_api, new_page, db_pool)
    first = await api.event(name="Held One", totalTickets=4, priceCents=1250, currency="EUR",
                            holdSeconds=300)
    second = await api.event(name="Held Two", totalTickets=4, priceCents=700, currency="JPY",
                             holdSeconds=300)
    for event in (first, second):
        assert (await api.book(buyer, event["id"], 1)).body["status"] == "held"
    reads: list[str] = []
    page.on("request", lambda r: reads.append(r.url) if "/api/bookings/" in r.url else None)
    await page.get_by_role("tab", name="My Tickets").click()
    cards = page.get_by_test_id("booking")
    await expect(cards).to_have_count(2)
    await expect(page.get_by_test_id("hold-amount")).to_have_text(
        [re.compile("700"), re.compile(r"12[.,]50")])
    await expect(page.get_by_test_id("hold-countdown")).to_have_text(
        [re.compile(r"Time left to pay: 0[45]:\d\d")] * 2)
    assert reads == []  # the list carried each deadline and price


async def test_the_organizer_sees_revenue_kept_and_tickets_checked_in(
        make_api: Any, new_page: Any, db_pool: asyncpg.Pool) -> None:
    api, url = await _gateway(make_api)
    [vendor] = await create_accounts(db_pool, api.issuer, 1, Role.VENDOR)
    event = await api.event(vendor, name="Till Night", totalTickets=10, priceCents=1250,
                            currency="EUR")
    buyer, walker = await create_accounts(db_pool, api.issuer, 2)
    held = await api.book(buyer, event["id"], 2)
    paid = await api.call("POST", f"/api/bookings/{held.body['id']}/pay", buyer,
                          json={"paymentToken": "tok_ok"})
    assert paid.status == 200, paid.body
    assert (await api.book(walker, event["id"], 1)).body["status"] == "held"  # not paid
    door = await api.call("POST", f"/api/events/{event['id']}/checkin", vendor,
                          json={"code": paid.body["tickets"][0]["code"]})
    assert door.status == 200, door.body
    page: Page = await new_page()
    await page.goto(_at(url, f"/organize/events/{event['id']}"))
    await _log_in(page, vendor.email, PASSWORD)
    await expect(page.get_by_test_id("total-revenue")).to_have_text("€25.00")
    await expect(page.get_by_test_id("total-checked-in")).to_have_text("1 / 3")
