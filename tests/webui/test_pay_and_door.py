"""Paying for a hold and checking tickets in, in a real browser against a real gateway: a
buyer's held seats count down and are paid with the fake provider's test cards (declined,
then approved); a hold left unpaid ends in the expiry message when the engine's clock moves
past it; at the door, a vendor and the door staff they added admit a ticket once, and are
told plainly of a second use and of a code that is no ticket."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
import pytest
from playwright.async_api import Locator, Page, expect

from engine.payments.fake import FakeProvider, action_url
from engine.settings import Secret
from engine.types import Role
from gateway.keys import payments_key
from tests.clock import FakeClock
from tests.factories import PASSWORD, Account, create_accounts
from tests.helpers import Api
from tests.test_webhooks import SECRET, post_webhook, webhook_event
from tests.webui.test_accessibility import _violations
from tests.webui.test_browser import _gateway, _log_in, _signed_in_buyer
from tests.webui.test_pages import _at


async def _status(db_pool: asyncpg.Pool, buyer_id: int) -> str:
    return str(await db_pool.fetchval("SELECT status FROM bookings WHERE user_id = $1", buyer_id))


async def test_a_buyer_pays_a_hold_with_the_test_cards_declined_then_approved(
        make_api: Any, new_page: Any, db_pool: asyncpg.Pool) -> None:
    api, url, buyer, page = await _signed_in_buyer(make_api, new_page, db_pool)
    event = await api.event(name="Paid Gala", totalTickets=4, priceCents=1250, currency="EUR",
                            holdSeconds=300)
    await page.goto(_at(url, f"/events/{event['id']}"))
    await page.get_by_role("textbox", name="Seats").fill("2")
    await page.get_by_role("button", name="Book").click()

    hold = page.get_by_test_id("hold")
    await expect(hold).to_contain_text("2 seats held for you")
    await expect(page.get_by_test_id("hold-amount")).to_have_text(re.compile(r"25[.,]00"))
    await expect(page.get_by_test_id("hold-countdown")).to_have_text(
        re.compile(r"Time left to pay: 0[45]:\d\d"))
    # The countdown is for the eye; screen readers hear the minutes, politely.
    await expect(page.get_by_test_id("hold-countdown")).to_have_attribute("aria-live", "off")
    await expect(hold.locator("[aria-live=polite]")).to_have_text("5 minutes left to pay.")
    await expect(hold.get_by_text("Test card — no money moves")).to_be_visible()
    assert await _status(db_pool, buyer.id) == "held"

    await hold.get_by_label("Declined card (tok_declined)").check()
    await hold.get_by_role("button", name=re.compile(r"^Pay .*25[.,]00")).click()
    await expect(page.get_by_test_id("payment-declined")).to_contain_text(
        "Your card was declined")
    await expect(page.get_by_test_id("payment-declined")).to_contain_text("stay held")
    await expect(page.get_by_test_id("hold-countdown")).to_be_visible()
    assert await _status(db_pool, buyer.id) == "held"  # the hold stays

    await hold.get_by_label("Approved card (tok_ok)").check()
    await hold.get_by_role("button", name=re.compile(r"^Pay")).click()
    await expect(page.get_by_test_id("paid")).to_contain_text("Paid — you are in!")
    codes = sorted(await page.get_by_test_id("paid-code").all_inner_texts())
    stored = sorted(r["code"] for r in await db_pool.fetch(
        "SELECT t.code FROM tickets t JOIN bookings b ON b.id = t.booking_id"
        " WHERE b.user_id = $1", buyer.id))
    assert codes == stored and len(codes) == 2
    assert await _status(db_pool, buyer.id) == "confirmed"


async def _payments(db_pool: asyncpg.Pool, buyer_id: int) -> list[str]:
    return [r["status"] for r in await db_pool.fetch(
        "SELECT status FROM payments WHERE user_id = $1 ORDER BY created_at", buyer_id)]


async def _holding(make_api: Any, new_page: Any, db_pool: asyncpg.Pool,
                   name: str) -> tuple[Api, Account, Page, Locator]:
    """A signed-in buyer's page holding a seat of a new paid event (300 s), and its hold."""
    api, url, buyer, page = await _signed_in_buyer(make_api, new_page, db_pool)
    event = await api.event(name=name, totalTickets=3, priceCents=4000, currency="EUR",
                            holdSeconds=300)
    await page.goto(_at(url, f"/events/{event['id']}"))
    await page.get_by_role("button", name="Book").click()
    return api, buyer, page, page.get_by_test_id("hold")


async def test_a_card_that_asks_for_a_bank_step_is_refused_then_confirmed_at_the_test_bank(
        make_api: Any, new_page: Any, db_pool: asyncpg.Pool) -> None:
    # No webhook is configured: the page learns how the step ended by asking again.
    api, buyer, page, hold = await _holding(make_api, new_page, db_pool, "Secure Gala")
    bank = page.get_by_role("group", name="Test bank")

    async def pay_with_the_bank_step() -> None:
        await hold.get_by_label("Card that asks for a bank step (tok_action)").check()
        await hold.get_by_role("button", name=re.compile(r"^Pay")).click()
        await expect(page.get_by_test_id("bank-step")).to_contain_text(
            "Your bank asks you to confirm this payment")
        await expect(bank).to_contain_text("Test bank — no money moves")
        # While the bank asks, there is no second way to pay: the attempt is open.
        await expect(hold.get_by_role("button", name=re.compile(r"^Pay"))).to_have_count(0)
        await expect(page.get_by_test_id("hold-countdown")).to_be_visible()
        assert await _status(db_pool, buyer.id) == "held"

    await pay_with_the_bank_step()
    assert await _payments(db_pool, buyer.id) == ["requires_action"]
    assert await _violations(page, "bank-step") == []
    await bank.get_by_role("button", name="Refuse it").click()
    await expect(page.get_by_test_id("payment-declined")).to_contain_text(
        "Your card was declined")
    await expect(page.get_by_test_id("bank-step")).to_have_count(0)
    assert await _status(db_pool, buyer.id) == "held"  # the hold stays for another try
    assert await _payments(db_pool, buyer.id) == ["declined"]

    await pay_with_the_bank_step()
    await bank.get_by_role("button", name="Confirm the payment").click()
    await expect(page.get_by_test_id("paid")).to_contain_text("Paid — you are in!")
    [code] = await page.get_by_test_id("paid-code").all_inner_texts()
    assert code == await db_pool.fetchval(
        "SELECT t.code FROM tickets t JOIN bookings b ON b.id = t.booking_id"
        " WHERE b.user_id = $1", buyer.id)
    assert await _status(db_pool, buyer.id) == "confirmed"
    assert await _payments(db_pool, buyer.id) == ["declined", "captured"]


async def test_a_buyer_at_the_bank_step_uses_another_card_and_the_step_is_cancelled(
        make_api: Any, new_page: Any, db_pool: asyncpg.Pool) -> None:
    api, buyer, page, hold = await _holding(make_api, new_page, db_pool, "Other Card Gala")
    step_card = hold.get_by_label("Card that asks for a bank step (tok_action)")
    await step_card.check()
    await hold.get_by_role("button", name=re.compile(r"^Pay")).click()
    await expect(page.get_by_role("group", name="Test bank")).to_be_visible()
    [step] = await db_pool.fetch("SELECT id FROM payments WHERE user_id = $1", buyer.id)

    # Back to the card form, the focus on the card picked before; the step still waits.
    await page.get_by_test_id("bank-step").get_by_role("button",
                                                       name="Use another card").click()
    await expect(page.get_by_test_id("bank-step")).to_have_count(0)
    await expect(step_card).to_be_focused()
    assert await _payments(db_pool, buyer.id) == ["requires_action"]
    await hold.get_by_label("Approved card (tok_ok)").check()
    await hold.get_by_role("button", name=re.compile(r"^Pay")).click()
    await expect(page.get_by_test_id("paid")).to_contain_text("Paid — you are in!")
    assert await _status(db_pool, buyer.id) == "confirmed"
    # The new card paid, once; the bank step was cancelled at the provider first, so
    # finishing it now takes no money.
    assert await _payments(db_pool, buyer.id) == ["declined", "captured"]
    late = await api.call("POST", action_url(str(step["id"])), json={"outcome": "succeeded"})
    assert (late.status, late.body["error"]) == (409, "action_not_pending")
    provider = api.app[payments_key]
    assert isinstance(provider, FakeProvider)
    assert len(provider.successful()) == 1 and provider.refunds == {}


async def test_a_slow_payment_the_provider_declines_later_says_so_and_keeps_the_hold(
        make_api: Any, new_page: Any, db_pool: asyncpg.Pool) -> None:
    api, url, buyer, page = await _signed_in_buyer(
        make_api, new_page, db_pool, payment_webhook_secret=Secret(SECRET))
    event = await api.event(name="Paid Slowly", totalTickets=2, priceCents=900,
                            currency="EUR", holdSeconds=300)
    await page.goto(_at(url, f"/events/{event['id']}"))
    await page.get_by_role("button", name="Book").click()
    hold = page.get_by_test_id("hold")
    await hold.get_by_label("Card whose answer is slow (tok_timeout)").check()
    await hold.get_by_role("button", name=re.compile(r"^Pay")).click()
    await expect(page.get_by_test_id("payment-processing")).to_be_visible()

    # The provider's word comes later, by its signed webhook: declined.
    row = await db_pool.fetchrow("SELECT id, amount_cents, currency FROM payments"
                                 " WHERE user_id = $1", buyer.id)
    reply = await post_webhook(api, webhook_event(dict(row), "charge.failed", None))
    assert (reply.status, reply.body["payment"]) == (200, "declined")
    await expect(page.get_by_test_id("payment-declined")).to_contain_text(
        "Your card was declined")
    await expect(page.get_by_test_id("payment-processing")).to_have_count(0)
    assert await _status(db_pool, buyer.id) == "held"  # the hold stays: another card

    await hold.get_by_label("Approved card (tok_ok)").check()
    await hold.get_by_role("button", name=re.compile(r"^Pay")).click()
    await expect(page.get_by_test_id("paid")).to_contain_text("Paid — you are in!")


@pytest.mark.both_transports
async def test_an_unpaid_hold_ends_in_the_expiry_message_without_a_reload(
        make_api: Any, new_page: Any, db_pool: asyncpg.Pool, clock: FakeClock) -> None:
    api, url, buyer, page = await _signed_in_buyer(make_api, new_page, db_pool)
    event = await api.event(name="Paid Late", totalTickets=2, priceCents=700, currency="JPY",
                            holdSeconds=120)
    held = await api.book(buyer, event["id"], 1)
    assert held.body["status"] == "held", held.body

    # In My Tickets: the list's entry reads its deadline and price, and counts down.
    await page.get_by_role("tab", name="My Tickets").click()
    card = page.get_by_test_id("booking")
    await expect(card.get_by_test_id("hold-countdown")).to_have_text(
        re.compile(r"Time left to pay: 0[12]:\d\d"))
    await expect(card.get_by_test_id("hold-amount")).to_have_text(re.compile(r"700"))
    await expect(card.get_by_text("Test card — no money moves")).to_be_visible()

    clock.advance(121)  # the engine's clock, not the page's: the actor expires the hold
    await api.drain()
    await expect(card.get_by_test_id("hold-expired")).to_contain_text(
        "the seats went back on sale")
    await expect(card.get_by_test_id("hold-countdown")).to_have_count(0)
    await expect(card).to_have_attribute("data-status", "expired")
    assert await _status(db_pool, buyer.id) == "expired"

    # Its own page, opened afterwards, says the same.
    await page.goto(_at(url, f"/tickets/{held.body['id']}"))
    await expect(page.get_by_test_id("hold-expired")).to_be_visible()


async def _check_in(page: Page, code: str) -> None:
    field = page.get_by_label("Ticket code")
    await expect(field).to_be_focused()  # ready for the next guest without a click
    await field.fill(code)
    await field.press("Enter")


@pytest.mark.both_transports
async def test_the_door_admits_a_ticket_once_and_says_why_not_otherwise(
        make_api: Any, new_page: Any, db_pool: asyncpg.Pool) -> None:
    api, url = await _gateway(make_api)
    [vendor] = await create_accounts(db_pool, api.issuer, 1, Role.VENDOR)
    [buyer, staff, stranger] = await create_accounts(db_pool, api.issuer, 3)
    event = await api.event(vendor, name="Door Night", totalTickets=5)
    booked = await api.book(buyer, event["id"], 3)
    first, second, third = (t["code"] for t in booked.body["tickets"])

    door: Page = await new_page()
    await door.goto(_at(url, f"/organize/events/{event['id']}"))
    await _log_in(door, vendor.email, PASSWORD)
    await door.get_by_role("link", name="Door: check tickets in").click()
    await expect(door).to_have_url(_at(url, f"/organize/events/{event['id']}/checkin"))
    await expect(door).to_have_title("Door · Door Night · Ticket War")
    result = door.get_by_test_id("door-result")

    await _check_in(door, first)
    await expect(result).to_contain_text(re.compile(r"✓ Admitted at \d\d:\d\d"))
    await expect(door.get_by_label("Ticket code")).to_have_value("")
    await _check_in(door, first)
    admitted = await db_pool.fetchval("SELECT checked_in_at FROM tickets WHERE code = $1", first)
    admitted_at = await door.evaluate(  # HH:MM in the page's own time zone
        "(iso) => new Date(iso).toLocaleTimeString(undefined,"
        " {hour: '2-digit', minute: '2-digit', hourCycle: 'h23'})", admitted.isoformat())
    assert re.fullmatch(r"\d\d:\d\d", admitted_at), admitted_at
    await expect(result).to_contain_text(f"✗ Already checked in at {admitted_at}")
    await _check_in(door, "TW-NOT-A-TICKET")
    await expect(result).to_contain_text("✗ Unknown ticket")
    await expect(door.get_by_test_id("door-count")).to_have_text("Admitted here: 1 of 3 checked")
    await expect(door.get_by_label("Ticket code")).to_be_focused()

    # The vendor adds a buyer account as door staff; that account opens the door page.
    await door.goto(_at(url, f"/organize/events/{event['id']}"))
    section = door.get_by_test_id("staff")
    await section.get_by_label("Staff email").fill(staff.email)
    await section.get_by_role("button", name="Add").click()
    await expect(section.get_by_test_id("staff-member")).to_have_text(re.compile(staff.email))

    at_door: Page = await new_page()
    await at_door.goto(_at(url, f"/organize/events/{event['id']}/checkin"))
    await _log_in(at_door, staff.email, PASSWORD)
    await _check_in(at_door, second)
    await expect(at_door.get_by_test_id("door-result")).to_contain_text("✓ Admitted at")
    assert await db_pool.fetchval(
        "SELECT checked_in_by FROM tickets WHERE code = $1", second) == staff.id

    # Anyone else is told by the API's refusal, plainly; and so is staff once removed.
    other: Page = await new_page()
    await other.goto(_at(url, f"/organize/events/{event['id']}/checkin"))
    await _log_in(other, stranger.email, PASSWORD)
    await _check_in(other, third)
    await expect(other.get_by_test_id("door-result")).to_contain_text(
        "✗ Not allowed at this door")
    await section.get_by_role("button", name=f"Remove {staff.email}").click()
    await expect(section.get_by_test_id("staff-member")).to_have_count(0)
    await _check_in(at_door, third)
    await expect(at_door.get_by_test_id("door-result")).to_contain_text(
        "✗ Not allowed at this door")
    assert await db_pool.fetchval(
        "SELECT checked_in_at FROM tickets WHERE code = $1", third) is None
