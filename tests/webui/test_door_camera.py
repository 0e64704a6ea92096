"""The door page's camera scanner in a real Chromium whose camera is Chromium's fake device,
playing a video of real tickets' QR codes as their ticket page draws them: each ticket held
up is checked in once, the next one without a click, one shown again later is refused with
the time of its first use, and Stop releases the camera. Without a camera, or with access
refused, the page says so and typing the code still works."""

from __future__ import annotations

import io
import re
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import asyncpg
from PIL import Image
from playwright.async_api import Page, expect

from engine.types import Role
from tests.factories import PASSWORD, Account, create_accounts
from tests.helpers import Api, assert_eventually
from tests.webui.fake_camera import write_video
from tests.webui.test_accessibility import _violations
from tests.webui.test_browser import _gateway, _log_in
from tests.webui.test_pages import _at


async def _booked(make_api: Any, db_pool: asyncpg.Pool, seats: int
                  ) -> tuple[Api, str, Account, Account, int, dict[str, Any]]:
    """A gateway, a vendor's event and a buyer's confirmed booking of `seats` tickets."""
    api, url = await _gateway(make_api)
    [vendor] = await create_accounts(db_pool, api.issuer, 1, Role.VENDOR)
    [buyer] = await create_accounts(db_pool, api.issuer, 1)
    event = await api.event(vendor, name="Camera Night", totalTickets=5)
    booked = await api.book(buyer, event["id"], seats)
    assert booked.status == 201, booked.body
    return api, url, vendor, buyer, event["id"], booked.body


async def _ticket_pictures(new_page: Any, url: str, buyer: Account, booking_id: str
                           ) -> dict[str, Image.Image]:
    """Each ticket's QR code as the buyer's ticket page shows it (a screenshot of the image
    the web UI drew), by the code it stands for."""
    page: Page = await new_page()
    await page.goto(url)
    await _log_in(page, buyer.email, PASSWORD)
    await page.goto(_at(url, f"/tickets/{booking_id}"))
    qr = page.get_by_test_id("ticket-qr")
    await expect(qr.first).to_be_visible()
    pictures = {}
    for i in range(await qr.count()):
        code = await qr.nth(i).get_attribute("data-code")
        assert code
        pictures[code] = Image.open(io.BytesIO(await qr.nth(i).screenshot()))
    return pictures


async def _door(page: Page, url: str, event_id: int, staff: Account) -> None:
    await page.goto(_at(url, f"/organize/events/{event_id}/checkin"))
    await _log_in(page, staff.email, PASSWORD)
    await expect(page).to_have_title("Door · Camera Night · Ticket War")


async def _checked_in_by(db_pool: asyncpg.Pool, code: str) -> int | None:
    return await db_pool.fetchval("SELECT checked_in_by FROM tickets WHERE code = $1", code)


async def test_the_door_scans_each_ticket_once_moves_on_and_refuses_one_shown_again(
        make_api: Any, new_page: Any, camera_page: Any, db_pool: asyncpg.Pool,
        tmp_path: Path) -> None:
    _api, url, vendor, buyer, event_id, booking = await _booked(make_api, db_pool, 3)
    first, second, typed = (t["code"] for t in booking["tickets"])
    pictures = await _ticket_pictures(new_page, url, buyer, booking["id"])
    # What the door's camera sees, looped: a ticket held up for two seconds, then an empty
    # view for three, then the next ticket. A code stays in view for several scans; each one
    # is out of view for eight seconds before it comes round again.
    video = write_video(tmp_path / "door.y4m", [
        (pictures[first], 2), (None, 3), (pictures[second], 2), (None, 3)])
    # Long enough for every code to come round twice: a loaded machine's decoder may miss
    # a code's first time in view (a CI run's read only the first ticket within 5 s).
    loops = 2 * 10_000

    door: Page = await camera_page(video)
    await _door(door, url, event_id, vendor)
    result = door.get_by_test_id("door-result")
    count = door.get_by_test_id("door-count")
    camera = door.get_by_label("Camera view")
    await expect(camera).to_be_hidden()  # the camera is asked for only on the click
    await door.get_by_role("button", name="Scan with camera").click()
    await expect(camera).to_be_visible()
    await expect(door.get_by_text("Hold the ticket's QR code up to the camera")).to_be_visible()
    assert await _violations(door, "door-camera") == []

    # Both tickets admitted, each once although each was read several times while in view;
    # the second without anyone touching the page.
    await expect(result).to_contain_text(re.compile(r"✓ Admitted at \d\d:\d\d"), timeout=loops)
    await expect(count).to_have_text("Admitted here: 2 of 2 checked", timeout=loops)
    for code in (first, second):
        assert await _checked_in_by(db_pool, code) == vendor.id
    # Shown again when it comes round: refused, with the time it was let in.
    await expect(result).to_contain_text(re.compile(r"✗ Already checked in at \d\d:\d\d"),
                                         timeout=loops)
    await expect(count).to_have_text(re.compile(r"Admitted here: 2 of [3-9] checked"))

    # Stop ends the scanning and releases the camera; the typed code still goes in.
    await _releases_the_camera(door, door.get_by_role("button", name="Stop scanning").click())
    await expect(camera).to_be_hidden()
    await expect(door.get_by_role("button", name="Scan with camera")).to_be_visible()
    field = door.get_by_label("Ticket code")
    await field.fill(typed)
    await field.press("Enter")
    await expect(result).to_contain_text(typed)
    await expect(result).to_contain_text("✓ Admitted at")
    await assert_eventually(lambda: _is_checked_in(db_pool, typed))

    # Leaving the page while it scans releases the camera too.
    await door.get_by_role("button", name="Scan with camera").click()
    await expect(door.get_by_text("Scanning: hold the ticket's QR code")).to_be_visible()
    await _releases_the_camera(door, door.get_by_role("link", name="The event's sales").click())
    await expect(door).to_have_url(_at(url, f"/organize/events/{event_id}"))


async def _releases_the_camera(page: Page, action: Awaitable[None]) -> None:
    """Run `action` (a click) and wait, bounded, until the camera stream the page was
    showing has every track ended: the camera is off, not merely out of sight."""
    await page.evaluate("() => { window.doorStream = document.querySelector('video').srcObject }")
    assert await page.evaluate("() => window.doorStream.getTracks()[0].readyState") == "live"
    await action
    await page.wait_for_function(
        "() => window.doorStream.getTracks().every((t) => t.readyState === 'ended')")


async def _is_checked_in(db_pool: asyncpg.Pool, code: str) -> bool:
    return await _checked_in_by(db_pool, code) is not None


async def test_the_door_says_plainly_when_there_is_no_camera_or_it_is_refused(
        make_api: Any, new_page: Any, camera_page: Any, db_pool: asyncpg.Pool) -> None:
    _api, url, vendor, _buyer, event_id, booking = await _booked(make_api, db_pool, 2)
    codes = [t["code"] for t in booking["tickets"]]
    # The session's Chromium has no camera at all; the other one has one, but the person at
    # the door said no to the browser's question.
    no_camera: Page = await new_page()
    refused: Page = await camera_page(allowed=False)
    for door, code, says in (
            (no_camera, codes[0], "No camera was found on this device."),
            (refused, codes[1], "Camera access was refused.")):
        await _door(door, url, event_id, vendor)
        await door.get_by_role("button", name="Scan with camera").click()
        problem = door.get_by_test_id("camera-problem")
        await expect(problem).to_have_attribute("role", "alert")  # read out at once
        await expect(problem).to_contain_text(says)
        await expect(problem).to_contain_text("Type the code instead.")
        await expect(door.get_by_label("Camera view")).to_be_hidden()
        await expect(door.get_by_role("button", name="Scan with camera")).to_be_enabled()
        field = door.get_by_label("Ticket code")
        await field.fill(code)
        await field.press("Enter")
        await expect(door.get_by_test_id("door-result")).to_contain_text("✓ Admitted at")
        assert await _checked_in_by(db_pool, code) == vendor.id
