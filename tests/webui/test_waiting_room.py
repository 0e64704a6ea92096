"""The waiting room in a real browser (issue 14): two buyers in the pre-queue, the sale
opens, one is admitted and books, the other sees a place in line and then "Sold out" with
the waiting list to join — all pushed on their streams, no reload, each state passing an
accessibility scan; the pre-queue's countdown to the sale, said politely at coarse steps;
and the organizer watching the room's line and admissions live. The server's actors run on
the session's fake clock."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from playwright.async_api import Page, Route, expect

from engine.types import Role
from tests.clock import FakeClock
from tests.factories import PASSWORD, Account, create_accounts
from tests.helpers import Api
from tests.webui.test_accessibility import _violations
from tests.webui.test_browser import _book, _gateway, _log_in


async def _one_seat_room(make_api: Any, db_pool: asyncpg.Pool, clock: FakeClock,
                         buyers: int, **room: Any
                         ) -> tuple[Api, str, Account, list[Account], dict[str, Any]]:
    """A gateway serving the UI, a vendor, buyers, and the vendor's one-seat event whose
    sale opens in a minute behind a waiting room."""
    api, url = await _gateway(make_api)
    vendor, = await create_accounts(db_pool, api.issuer, 1, Role.VENDOR)
    accounts = await create_accounts(db_pool, api.issuer, buyers)
    event = await api.event(vendor, name="Queue Night", totalTickets=1,
                            saleStartsAt=(clock.now() + timedelta(seconds=60)).isoformat(),
                            waitingRoom={"enabled": True, **room})
    return api, url, vendor, accounts, event


async def test_two_in_the_prequeue_one_admitted_books_the_other_hears_sold_out(
        make_api: Any, new_page: Any, db_pool: asyncpg.Pool, clock: FakeClock) -> None:
    # One seat, one admission a minute: the opening admits one buyer, the other waits.
    api, url, _, buyers, event = await _one_seat_room(make_api, db_pool, clock, 2,
                                                      admitPerMinute=1)
    pages: dict[int, Page] = {}
    for n, buyer in enumerate(buyers, start=1):
        page = await new_page()
        await page.goto(f"{url}events/{event['id']}")
        await _log_in(page, buyer.email, PASSWORD)
        await page.get_by_role("button", name="Join the waiting room").click()
        people = "person" if n == 1 else "people"
        await expect(page.get_by_test_id("queue-headline")).to_have_text(
            f"You are in the pre-queue with {n} {people}")
        pages[buyer.id] = page
    assert await _violations(page, "waiting-room-prequeue") == []

    clock.advance(61)  # the sale opens on the server: the shuffled pre-queue takes its places
    await api.drain()
    admitted = await db_pool.fetchval(
        "SELECT user_id FROM queue_entries WHERE event_id = $1 AND status = 'admitted'",
        event["id"])
    lucky = pages[admitted]
    other = next(p for user, p in pages.items() if user != admitted)
    # The window is the server's (its clock runs ahead of the browser's here): a m:ss count.
    await expect(lucky.get_by_test_id("queue-turn")).to_have_text(
        re.compile(r"It's your turn — book within \d{1,2}:\d\d$"))
    await expect(other.get_by_test_id("queue-headline")).to_have_text("Your place in line: 1")
    assert await _violations(lucky, "waiting-room-turn") == []
    assert await _violations(other, "waiting-room-line") == []

    await _book(lucky, event["id"], 1)
    await expect(lucky.get_by_text("Booked!")).to_be_visible()
    await expect(other.get_by_role("alert").filter(has_text="Sold out")).to_be_visible()
    assert await _violations(other, "waiting-room-sold-out") == []
    # The room closed on the sell-out: the one left in line is offered the waiting list.
    await other.get_by_role("button", name="Join the waiting list").click()
    await expect(other.get_by_test_id("waitlist-place")).to_have_text(
        "You are first in line for 1 seat.")
    assert await db_pool.fetchval(
        "SELECT array_agg(status ORDER BY status) FROM queue_entries WHERE event_id = $1",
        event["id"]) == ["closed", "used"]


async def test_a_cancelled_events_page_offers_no_waiting_room(
        make_api: Any, new_page: Any, db_pool: asyncpg.Pool, clock: FakeClock) -> None:
    api, url = await _gateway(make_api)
    vendor, = await create_accounts(db_pool, api.issuer, 1, Role.VENDOR)
    buyer, = await create_accounts(db_pool, api.issuer, 1)
    event = await api.event(vendor, name="Called Off", totalTickets=2,
                            saleStartsAt=clock.now().isoformat(),
                            waitingRoom={"enabled": True})
    page = await new_page()
    await page.goto(f"{url}events/{event['id']}")
    await _log_in(page, buyer.email, PASSWORD)
    await page.get_by_role("button", name="Join the waiting room").click()
    await expect(page.get_by_test_id("queue-turn")).to_be_visible()  # admitted at once

    assert (await api.call("POST", f"/api/events/{event['id']}/cancel", vendor)).status == 200
    await page.reload()
    # The page says cancelled and offers neither the room (its admission is void) nor a
    # booking it would only refuse.
    await expect(page.get_by_test_id(f"event-{event['id']}").get_by_text(
        "Cancelled", exact=True)).to_be_visible()
    await expect(page.get_by_test_id("queue")).to_have_count(0)
    await expect(page.get_by_role("button", name="Book")).to_be_disabled()
    assert await db_pool.fetchval(
        "SELECT status FROM queue_entries WHERE event_id = $1", event["id"]) == "expired"


async def test_the_organizer_watches_the_room_live(
        make_api: Any, new_page: Any, db_pool: asyncpg.Pool, clock: FakeClock) -> None:
    api, url, vendor, buyers, event = await _one_seat_room(make_api, db_pool, clock, 3)
    page = await new_page()
    await page.goto(f"{url}organize/events/{event['id']}")
    await _log_in(page, vendor.email, PASSWORD)
    room = page.get_by_test_id("room-watch")
    await expect(room.get_by_test_id("room-prequeued")).to_have_text("0")
    for buyer in buyers:  # they join while the organizer watches: no reload
        joined = await api.call("POST", f"/api/events/{event['id']}/queue", buyer)
        assert joined.status == 201, joined.body
    await expect(room.get_by_test_id("room-prequeued")).to_have_text("3")
    assert await _violations(page, "waiting-room-organizer") == []

    clock.advance(61)  # the sale opens: 1 seat x 2 admitted, one in line
    await api.drain()
    await expect(room.get_by_text("Admitting")).to_be_visible()
    for test_id, value in (("room-prequeued", "0"), ("room-waiting", "1"),
                           ("room-unused", "2"), ("room-rate", "2"), ("room-seats-left", "1")):
        await expect(room.get_by_test_id(test_id)).to_have_text(value)


async def test_the_prequeue_counts_down_to_the_sale_and_says_so_politely(
        make_api: Any, new_page: Any, db_pool: asyncpg.Pool, clock: FakeClock) -> None:
    # Issue 14: the sale's countdown inside the waiting-room panel, heard by screen readers
    # at coarse steps (never each second), gone once the sale opens.
    api, url = await _gateway(make_api)
    vendor, = await create_accounts(db_pool, api.issuer, 1, Role.VENDOR)
    buyer, = await create_accounts(db_pool, api.issuer, 1)
    opens_in = timedelta(minutes=25)  # inside the session's hour, whose timer logs out
    event = await api.event(vendor, name="Countdown Night", totalTickets=3,
                            saleStartsAt=(clock.now() + opens_in).isoformat(),
                            waitingRoom={"enabled": True})
    page = await new_page()
    await page.clock.install()  # the page's timers on a clock this test moves
    await page.goto(f"{url}events/{event['id']}")
    await _log_in(page, buyer.email, PASSWORD)
    panel = page.get_by_test_id("queue")
    await panel.get_by_role("button", name="Join the waiting room").click()
    await expect(panel.get_by_test_id("queue-headline")).to_have_text(
        "You are in the pre-queue with 1 person")

    # One countdown on the page, the panel's: a timer for the eye, silent each second.
    await expect(page.get_by_test_id("countdown")).to_have_count(1)
    timer = panel.get_by_role("timer")
    await expect(timer).to_have_text(re.compile(r"^Sales open in 2[45]:\d\d \("))
    await expect(timer).to_have_attribute("aria-live", "off")
    said = panel.get_by_test_id("countdown-announcement")
    await expect(said).to_have_attribute("aria-live", "polite")
    await expect(said).to_have_text("The sale opens in about 30 minutes.")
    assert await _violations(page, "waiting-room-countdown") == []

    # The server's clock is real time here (not moved yet), as the page's starts.
    opening = datetime.fromisoformat(event["saleStartsAt"]).timestamp() * 1000

    async def at(left: timedelta) -> None:
        """The page's clock moved on to `left` before the opening."""
        now = await page.evaluate("Date.now()")
        await page.clock.fast_forward(max(0, int(opening - left.total_seconds() * 1000 - now)))

    await at(timedelta(minutes=20, seconds=30))
    await expect(timer).to_have_text(re.compile(r"^Sales open in 20:[23]\d"))
    await expect(said).to_have_text("The sale opens in about 30 minutes.")  # no new word yet
    await at(timedelta(minutes=19, seconds=59))
    await expect(said).to_have_text("The sale opens in about 20 minutes.")
    await at(timedelta(minutes=4, seconds=1))
    await expect(said).to_have_text("The sale opens in 5 minutes.")
    await at(timedelta(seconds=25))
    await expect(said).to_have_text("The sale opens in 30 seconds.")

    # The sale opens on the server: the place is drawn, and the countdown has gone.
    clock.advance(opens_in.total_seconds() + 1)
    await api.drain()
    await at(timedelta(seconds=-1))
    await expect(panel.get_by_test_id("queue-turn")).to_be_visible()  # alone: admitted
    await expect(page.get_by_test_id("countdown")).to_have_count(0)
    await expect(said).to_have_count(0)


async def test_a_pending_join_joins_again_and_shows_the_place_it_made(
        make_api: Any, new_page: Any, db_pool: asyncpg.Pool, clock: FakeClock) -> None:
    # A join the actor answers late is 202 `pending`, its queueId naming nothing that can be
    # read yet (or ever, when it was the account's second join): the panel asked that id,
    # heard 404 and stayed on "Joining…". It now joins again, as the 202 says.
    _, url, _, (buyer,), event = await _one_seat_room(make_api, db_pool, clock, 1)
    page = await new_page()
    await page.goto(f"{url}events/{event['id']}")
    await _log_in(page, buyer.email, PASSWORD)
    late: list[str] = []

    async def first_answer_late(route: Route) -> None:
        if route.request.method != "POST" or late:
            await route.continue_()
            return
        decided = await route.fetch()  # the join is made; its answer is held back
        late.append((await decided.json())["queueId"])
        await route.fulfill(status=202, json={
            "queueId": str(uuid.uuid4()), "eventId": event["id"], "status": "pending",
            "position": None, "estimatedWaitSeconds": None, "refreshAfterSeconds": 1})

    await page.route(f"**/api/events/{event['id']}/queue", first_answer_late)
    await page.get_by_role("button", name="Join the waiting room").click()
    await expect(page.get_by_test_id("queue-headline")).to_have_text(
        "You are in the pre-queue with 1 person")
    await page.reload()  # the place kept for a reload is the entry, not the pending id
    await expect(page.get_by_test_id("queue-headline")).to_have_text(
        "You are in the pre-queue with 1 person")
    assert await db_pool.fetchval("SELECT array_agg(id::text) FROM queue_entries "
                                  "WHERE user_id = $1", buyer.id) == late
