"""The web UI in a real browser against a real gateway, database and (per transport) broker:
an organizer creates an event, buyers register, book with live feedback, watch the seats
count down over the event stream, read and cancel their tickets."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from playwright.async_api import Page, expect

from engine.types import Role
from tests.factories import PASSWORD, Account, create_accounts
from tests.helpers import Api, assert_eventually
from tests.webui.conftest import ROOT, WEBUI_DIST


async def _gateway(make_api: Any, **overrides: Any) -> tuple[Api, str]:
    api: Api = await make_api(webui_dir=WEBUI_DIST, **overrides)
    return api, str(api.client.make_url("/"))


async def _log_in(page: Page, email: str, password: str) -> None:
    await page.get_by_role("banner").get_by_role("button", name="Log in").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_label("Email").fill(email)
    await dialog.get_by_label("Password").fill(password)
    await dialog.get_by_role("button", name="Log in").click()
    await expect(page.get_by_test_id("signed-in-as")).to_have_text(email)


async def _register(page: Page, email: str, password: str) -> None:
    await page.get_by_role("banner").get_by_role("button", name="Log in").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_text("Register", exact=True).click()
    await dialog.get_by_label("Email").fill(email)
    await dialog.get_by_label("Password").fill(password)
    await dialog.get_by_role("button", name="Create account").click()
    await expect(page.get_by_test_id("signed-in-as")).to_have_text(email)


async def _book(page: Page, event_id: int, seats: int) -> None:
    card = page.get_by_test_id(f"event-{event_id}")
    await card.get_by_role("textbox", name="Seats").fill(str(seats))
    await card.get_by_role("button", name="Book").click()


@pytest.mark.both_transports
async def test_organizer_sells_and_buyers_book_live(make_api: Any, new_page: Any,
                                                    db_pool: asyncpg.Pool) -> None:
    api, url = await _gateway(make_api)
    [vendor] = await create_accounts(db_pool, api.issuer, 1, Role.VENDOR)
    name = f"Browser Gala {vendor.id}"

    organizer: Page = await new_page()
    await organizer.goto(url)
    await _log_in(organizer, vendor.email, PASSWORD)
    await organizer.get_by_role("tab", name="Organize").click()
    await organizer.get_by_role("button", name="New event").click()
    form = organizer.get_by_role("dialog")
    await form.get_by_label("Name").fill(name)
    await form.get_by_label("Venue").fill("Hall B")
    await form.get_by_label("Seats").fill("3")
    await form.get_by_label("Limit per buyer").fill("2")
    await form.get_by_role("button", name="Create event").click()
    await expect(organizer.get_by_text(f"Created: {name}")).to_be_visible()
    event_id = await db_pool.fetchval("SELECT id FROM events WHERE name = $1", name)
    assert await db_pool.fetchval(
        "SELECT (capacity, per_user_limit, vendor_id) = (3, 2, $2) FROM events WHERE id = $1",
        event_id, vendor.id)

    alice: Page = await new_page()
    await alice.goto(url)
    alice_card = alice.get_by_test_id(f"event-{event_id}")
    await expect(alice.get_by_test_id("live")).to_have_text("Live")
    await expect(alice_card.get_by_test_id("seats-left")).to_contain_text("3 of 3 seats left")
    await _register(alice, f"alice-{vendor.id}@test.example", "correct horse battery")
    await _book(alice, event_id, 2)
    await expect(alice_card.get_by_text("Booked!")).to_be_visible()
    codes = set(await db_pool.fetchval(
        "SELECT array_agg(t.code) FROM tickets t JOIN users u ON u.id = t.user_id"
        " WHERE t.event_id = $1 AND u.email = $2", event_id, f"alice-{vendor.id}@test.example"))
    assert len(codes) == 2
    await expect(alice_card).to_contain_text(next(iter(codes)))

    # At her limit of 2: said before any click, and there is nothing to click.
    await expect(alice_card.get_by_test_id("allowance")).to_have_text(
        "You hold 2 seats, the most one buyer may have.")
    await expect(alice_card.get_by_role("button", name="Book")).to_be_disabled()

    bob: Page = await new_page()
    await bob.goto(url)
    await _register(bob, f"bob-{vendor.id}@test.example", "correct horse battery")
    bob_card = bob.get_by_test_id(f"event-{event_id}")
    await _book(bob, event_id, 1)
    await expect(bob_card.get_by_text("Booked!")).to_be_visible()
    # Alice's page learns of the sell-out over the event stream, without reloading.
    await expect(alice_card.get_by_test_id("seats-left")).to_contain_text("0 of 3 seats left")
    await expect(alice_card.get_by_text("Sold out", exact=True)).to_be_visible()
    await expect(alice_card.get_by_role("button", name="Book")).to_be_disabled()

    # My Tickets shows Alice's two codes; cancelling puts the seats back on sale for Bob.
    await alice.get_by_role("tab", name="My Tickets").click()
    # all_inner_texts() does not wait: the tab loads its tickets after the click.
    await expect(alice.get_by_test_id("ticket-code")).to_have_count(len(codes))
    shown = await alice.get_by_test_id("ticket-code").all_inner_texts()
    assert set(shown) == codes
    await alice.get_by_role("button", name="Cancel booking").click()
    await alice.get_by_role("button", name="Yes, cancel").click()
    # Kept in her history, marked cancelled, its tickets void.
    await expect(alice.get_by_test_id("booking")).to_contain_text("Cancelled")
    await expect(alice.get_by_test_id("ticket-code")).to_have_count(0)
    await expect(alice.get_by_test_id("void-ticket-code")).to_have_count(len(codes))
    await expect(bob_card.get_by_test_id("seats-left")).to_contain_text("2 of 3 seats left")
    assert await db_pool.fetchval("SELECT sold FROM events WHERE id = $1", event_id) == 1

    # The organizer sees the sales, and cannot shrink the event below what is sold — even
    # when a seat sells while the edit form is open.
    await organizer.reload()
    row = organizer.get_by_test_id(f"own-event-{event_id}")
    await expect(row).to_contain_text("1 / 3")
    await row.get_by_role("button", name="Edit").click()
    await _book(bob, event_id, 1)
    await expect(bob_card.get_by_test_id("seats-left")).to_contain_text("1 of 3 seats left")
    await organizer.get_by_role("dialog").get_by_label("Seats").fill("1")
    await organizer.get_by_role("dialog").get_by_label("Limit per buyer").fill("1")
    await organizer.get_by_role("dialog").get_by_role("button", name="Save").click()
    # Said inside the form, under the field.
    await expect(organizer.get_by_role("dialog").get_by_label("Seats")) \
        .to_have_accessible_description(re.compile("Seats cannot go below what is already sold"))
    assert await db_pool.fetchval("SELECT (capacity, sold) = (3, 2) FROM events WHERE id = $1",
                                  event_id)


@pytest.mark.both_transports
async def test_a_queued_booking_shows_its_place_then_its_outcome(
        make_api: Any, new_page: Any, db_pool: asyncpg.Pool) -> None:
    # The gateway answers 202 at once; the event's row is held locked so the shard actor
    # cannot decide until the test lets go — the queue state is on screen for certain.
    api, url = await _gateway(make_api, booking_wait_seconds=0.0)
    [buyer] = await create_accounts(db_pool, api.issuer, 1)
    vendor = (await create_accounts(db_pool, api.issuer, 1, Role.VENDOR))[0]
    event_id = await db_pool.fetchval(
        "INSERT INTO events (vendor_id, name, capacity, per_user_limit)"
        " VALUES ($1, 'Queue Night', 10, 4) RETURNING id", vendor.id)

    page: Page = await new_page()
    await page.goto(url)
    await _log_in(page, buyer.email, PASSWORD)
    card = page.get_by_test_id(f"event-{event_id}")
    async with db_pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            await conn.execute("SELECT 1 FROM events WHERE id = $1 FOR UPDATE", event_id)
            await _book(page, event_id, 1)
            await expect(card.get_by_text("You are in the queue")).to_be_visible()
            await expect(card.get_by_role("button", name=re.compile("In the queue"))) \
                .to_be_disabled()
        finally:
            await tx.rollback()
    await expect(card.get_by_text("Booked!")).to_be_visible()
    # Decided in the queue: the alert shows the ticket's code, read once the outcome came.
    code = await db_pool.fetchval("SELECT code FROM tickets WHERE event_id = $1", event_id)
    await expect(card.get_by_test_id("booked-code")).to_have_text(code)
    assert await db_pool.fetchval(
        "SELECT count(*) FROM bookings WHERE event_id = $1 AND user_id = $2"
        " AND status = 'confirmed'", event_id, buyer.id) == 1


async def test_the_gateway_explains_when_the_ui_is_not_built(make_api: Any,
                                                             tmp_path: Any) -> None:
    api = await make_api(webui_dir=tmp_path / "missing")
    reply = await api.call("GET", "/")
    assert reply.status == 200
    assert "make webui" in str(reply.body)
    assert (await api.call("GET", "/assets/..%2Fsecret")).status == 404


async def test_the_gateway_serves_the_app_at_its_page_addresses_only(make_api: Any) -> None:
    # A shared link or a reload of any page of the app gets the app; the API and the
    # metrics are never the app, and an address of neither keeps the JSON 404.
    api, _ = await _gateway(make_api)
    index = (WEBUI_DIST / "index.html").read_text()
    booking = "0b6e0c4e-3a41-4a7a-9d7e-1f2d3c4b5a69"
    for path in ("/", "/events/12", "/tickets", f"/tickets/{booking}", "/organize",
                 "/organize/events/12", "/organize/events/12/checkin"):
        reply = await api.client.get(path)
        assert (reply.status, await reply.text()) == (200, index), path
        assert reply.headers["Cache-Control"] == "no-cache", path
    for path in ("/api/events/abc", "/api/nothing", "/events/abc", "/tickets/not-one",
                 "/organize/nothing", "/eventsx/1"):
        reply = await api.call("GET", path)
        assert (reply.status, reply.body["error"]) == (404, "not_found"), path
    metrics = await api.client.get("/metrics")
    assert "text/html" not in metrics.headers.get("Content-Type", ""), metrics.headers


async def test_the_book_button_comes_alive_when_the_sale_opens(
        make_api: Any, new_page: Any, db_pool: asyncpg.Pool) -> None:
    api, url = await _gateway(make_api)
    [buyer] = await create_accounts(db_pool, api.issuer, 1)
    vendor = (await create_accounts(db_pool, api.issuer, 1, Role.VENDOR))[0]
    opens_in = timedelta(minutes=10)  # well inside the session's hour, whose timer logs out
    event = await api.event(vendor, name="Flash Sale", totalTickets=5, perUserLimit=1,
                            saleStartsAt=(datetime.now(UTC) + opens_in).isoformat())

    page: Page = await new_page()
    # The page's timers run on a clock this test moves, so the opening comes when it says.
    await page.clock.install()
    await page.goto(url)
    await _log_in(page, buyer.email, PASSWORD)
    card = page.get_by_test_id(f"event-{event['id']}")
    await expect(card.get_by_text("Coming soon")).to_be_visible()
    await expect(card.get_by_role("button", name="Book")).to_be_disabled()

    # The server's clock cannot be moved: the vendor opens the sale now instead. The page's
    # own timer, planned for the old opening, re-reads the list when the page's clock passes
    # it (the edit's stock broadcast may have made it re-read sooner: either way, no reload).
    opened = await api.call("PATCH", f"/api/events/{event['id']}", vendor,
                            json={"saleStartsAt": datetime.now(UTC).isoformat()})
    assert opened.body["status"] == "on_sale", opened.body
    await page.clock.fast_forward(int(opens_in.total_seconds() + 1) * 1000)
    # No reload: the re-read list brings the Book button alive.
    await expect(card.get_by_text("On sale")).to_be_visible()
    await _book(page, event["id"], 1)
    await expect(card.get_by_text("Booked!")).to_be_visible()


async def _signed_in_buyer(make_api: Any, new_page: Any, db_pool: asyncpg.Pool, *,
                           clock: bool = False, **settings: Any
                           ) -> tuple[Api, str, Account, Page]:
    """A gateway (with these setting overrides), a fresh buyer, and a page of the web UI
    signed in as them (its timers on a clock the test moves, if asked)."""
    api, url = await _gateway(make_api, **settings)
    [buyer] = await create_accounts(db_pool, api.issuer, 1)
    page: Page = await new_page()
    if clock:
        await page.clock.install()
    await page.goto(url)
    await _log_in(page, buyer.email, PASSWORD)
    return api, url, buyer, page


async def _stored_token(page: Page) -> str:
    """The token the web UI keeps in the browser's localStorage."""
    return str(await page.evaluate(
        "JSON.parse(localStorage.getItem('ticketwar.session')).token"))


async def _token_refused(api: Api, token: str) -> bool:
    reply = await api.call("GET", "/api/me/tickets",
                           headers={"Authorization": f"Bearer {token}"})
    return reply.status == 401


async def test_signing_out_in_one_tab_signs_out_every_tab_and_the_server(
        make_api: Any, new_page: Any, db_pool: asyncpg.Pool) -> None:
    api, url, buyer, first = await _signed_in_buyer(make_api, new_page, db_pool)
    # A second tab of the same browser shares the session (localStorage).
    second = await first.context.new_page()
    await second.goto(url)
    await expect(second.get_by_test_id("signed-in-as")).to_have_text(buyer.email)
    token = await _stored_token(second)

    await first.get_by_role("banner").get_by_role("button", name="Log out").click()

    # The other tab signs out without a reload, and the server refuses the token.
    for page in (first, second):
        await expect(page.get_by_role("banner").get_by_role("button", name="Log in")) \
            .to_be_visible()
        # Nothing of the session is left to use, and nobody is told it "ended": they left.
        await expect(page.get_by_role("tab", name="My Tickets")).to_have_count(0)
        await expect(page.get_by_role("dialog")).to_have_count(0)
    await assert_eventually(lambda: _token_refused(api, token), timeout=5,
                            message="the server kept the session")


async def test_a_refused_session_signs_out_every_tab_opens_the_login_box_and_says_why(
        make_api: Any, new_page: Any, db_pool: asyncpg.Pool) -> None:
    api, url, buyer, page = await _signed_in_buyer(make_api, new_page, db_pool)
    other = await page.context.new_page()
    await other.goto(url)
    await expect(other.get_by_test_id("signed-in-as")).to_have_text(buyer.email)
    token = await _stored_token(page)
    # Signed out everywhere from another device; the gateway hears of it within seconds.
    await db_pool.execute(
        "UPDATE users SET token_version = token_version + 1 WHERE id = $1", buyer.id)
    await assert_eventually(lambda: _token_refused(api, token), timeout=5,
                            message="the gateway never heard")

    # This page is not told until its next call is refused (401). That call may be its own
    # (the event stream reconnecting) before ours: going to My Tickets through the address bar
    # works either way, where a click could find the tab already gone. Then both tabs forget
    # the session, the login box opens and says why, the page stays where the address says.
    await page.evaluate("location.hash = '#/tickets'")
    for tab in (page, other):
        await expect(tab.get_by_role("banner").get_by_role("button", name="Log in")) \
            .to_be_visible()
        await expect(tab.get_by_role("dialog")).to_contain_text("Your session has ended")
    await expect(page.get_by_text("Log in to see your tickets")).to_be_visible()
    assert await page.evaluate("location.pathname + location.hash") == "/tickets"
    assert await page.evaluate("localStorage.getItem('ticketwar.session')") is None
    # Live counts go on, signed out.
    await expect(page.get_by_test_id("live")).to_have_text("Live")

    # Logging in again right there brings the tickets back, and the notice goes.
    dialog = page.get_by_role("dialog")
    await dialog.get_by_label("Email").fill(buyer.email)
    await dialog.get_by_label("Password").fill(PASSWORD)
    await dialog.get_by_role("button", name="Log in").click()
    await expect(page.get_by_text("You have no tickets yet.")).to_be_visible()
    await expect(other.get_by_test_id("signed-in-as")).to_have_text(buyer.email)
    await expect(other.get_by_role("dialog")).to_have_count(0)  # signed in: nothing to ask


async def test_swagger_ui_renders_the_openapi_31_document_and_tries_it_out(
        make_api: Any, new_page: Any) -> None:
    # The strict CSP forbids inline script: Swagger UI must start from its own file. A
    # blocked script or style would leave the page blank and fail `new_page`'s check.
    _, url = await _gateway(make_api)
    page: Page = await new_page()
    await page.goto(url + "api/docs")
    # Readable on a phone: the page says how wide it is.
    assert await page.locator('meta[name="viewport"]').get_attribute("content") \
        == "width=device-width, initial-scale=1.0"
    # The OpenAPI 3.1 document renders: its title and its operations, no error box.
    await expect(page.get_by_role("heading", name=re.compile("Ticket War Engine"))) \
        .to_be_visible()
    operation = page.locator("#operations-default-get_api_events")
    await expect(operation).to_be_visible()
    await expect(page.get_by_text("Unable to render this definition")).to_have_count(0)
    # "Try it out" calls the running gateway and shows its answer.
    await operation.locator(".opblock-summary-control").click()
    await operation.get_by_role("button", name="Try it out").click()
    await operation.get_by_role("button", name="Execute").click()
    await expect(operation.locator(".live-responses-table tbody .response-col_status").first) \
        .to_have_text(re.compile(r"^\s*200"))
    # On a phone, nothing is wider than the screen.
    await page.set_viewport_size({"width": 390, "height": 844})
    await expect(operation).to_be_visible()
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await page.screenshot(path=ROOT / ".artifacts" / "screenshots" / "api-docs-390.png")
