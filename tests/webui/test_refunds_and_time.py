"""Refunds and adjustable time in a real browser against a real gateway: a hold's countdown
offers "Need more time?" in its last minute (the last half of a shorter one) and extends
it once; an organizer cancels an
event through its confirm dialog, and the buyer's ticket page shows the refund."""

from __future__ import annotations

import re
import uuid
from typing import Any

import asyncpg
from playwright.async_api import Page, expect

from engine.checkout import Checkout
from engine.types import Role
from gateway.keys import checkout_key
from tests.factories import PASSWORD, create_accounts
from tests.webui.test_browser import _log_in, _signed_in_buyer
from tests.webui.test_pages import _at


async def _hold_page(make_api: Any, new_page: Any, db_pool: asyncpg.Pool, hold_seconds: int,
                     countdown: str) -> tuple[Page, dict[str, Any]]:
    """A buyer's page (on a clock the test moves) on their fresh hold of a paid event: its
    countdown matches `countdown`, and it is not warned yet."""
    api, url, buyer, page = await _signed_in_buyer(make_api, new_page, db_pool, clock=True)
    event = await api.event(name="Payer", totalTickets=2, priceCents=900,
                            holdSeconds=hold_seconds)
    held = (await api.book(buyer, event["id"], 1)).body
    await page.goto(_at(url, f"/tickets/{held['id']}"))
    await expect(page.get_by_test_id("hold-countdown")).to_have_text(
        re.compile(f"Time left to pay: {countdown}"))
    await expect(page.get_by_test_id("hold-warning")).to_have_count(0)  # not yet
    return page, held


async def test_a_hold_in_its_last_minute_offers_more_time_once(
        make_api: Any, new_page: Any, db_pool: asyncpg.Pool) -> None:
    page, held = await _hold_page(make_api, new_page, db_pool, 300, r"0[45]:\d\d")
    await page.clock.fast_forward(250 * 1000)  # the page's clock: under a minute left
    warning = page.get_by_test_id("hold-warning")
    await expect(warning).to_contain_text("Less than a minute left.")
    await warning.get_by_role("button", name="Need more time?").click()
    await expect(page.get_by_test_id("hold-extended")).to_be_visible()
    await expect(page.get_by_test_id("hold-warning")).to_have_count(0)
    await expect(page.get_by_test_id("hold-countdown")).to_have_text(
        re.compile(r"Time left to pay: 0[56]:\d\d"))  # 300 s more
    assert await db_pool.fetchval("SELECT extended_at IS NOT NULL FROM bookings WHERE id = $1",
                                  uuid.UUID(held["id"]))


async def test_a_short_hold_offers_more_time_when_the_engine_warns(
        make_api: Any, new_page: Any, db_pool: asyncpg.Pool) -> None:
    # A 30 s hold is warned 15 s ahead (half of it), by the engine and on the page alike:
    # not from the moment it is taken.
    page, _ = await _hold_page(make_api, new_page, db_pool, 30, r"00:(2\d|30)")
    await page.clock.fast_forward(16 * 1000)  # the page's clock: under 15 s left
    await expect(page.get_by_test_id("hold-warning")).to_contain_text(
        "Less than 15 seconds left.")


async def test_an_organizer_cancels_the_event_and_the_buyer_sees_the_refund(
        make_api: Any, new_page: Any, db_pool: asyncpg.Pool) -> None:
    api, url, buyer, page = await _signed_in_buyer(make_api, new_page, db_pool)
    [vendor] = await create_accounts(db_pool, api.issuer, 1, Role.VENDOR)
    event = await api.event(vendor, name="Called Off", totalTickets=3, priceCents=2500)
    held = (await api.book(buyer, event["id"], 1)).body
    paid = await api.call("POST", f"/api/bookings/{held['id']}/pay", buyer,
                          json={"paymentToken": "tok_ok"})
    assert paid.body["status"] == "confirmed", paid.body

    door: Page = await new_page()
    await door.goto(_at(url, f"/organize/events/{event['id']}"))
    await _log_in(door, vendor.email, PASSWORD)
    await door.get_by_role("button", name="Cancel event").click()
    dialog = door.get_by_role("dialog", name="Cancel Called Off?")
    await expect(dialog).to_contain_text("cannot be undone")
    await dialog.get_by_role("button", name="Keep the event").click()  # changed their mind
    await expect(dialog).to_have_count(0)
    assert await db_pool.fetchval("SELECT cancelled_at FROM events WHERE id = $1",
                                  event["id"]) is None
    await door.get_by_role("button", name="Cancel event").click()
    await door.get_by_role("dialog").get_by_role("button", name="Yes, cancel it").click()
    await expect(door.get_by_test_id("event-cancelled")).to_contain_text(
        "buyers who paid are refunded")
    checkout: Checkout = api.app[checkout_key]
    await checkout.settled()

    await page.goto(_at(url, f"/tickets/{held['id']}"))
    await expect(page.get_by_text("This booking was cancelled")).to_be_visible()
    refund = page.get_by_test_id("refund")
    await expect(refund).to_contain_text(re.compile(r"Refunded .*25[.,]00"))
    await expect(refund).to_contain_text("the organizer cancelled the event")
