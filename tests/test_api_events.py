"""`/api/events`: who may create and edit, what bad input gets, and edits the engine obeys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.types import Role
from tests.helpers import Api

FIELDS = {"id", "name", "venue", "startsAt", "totalTickets", "availableTickets",
          "perUserLimit", "saleStartsAt", "status"}


async def test_list_and_detail(api: Api) -> None:
    event = await api.event(totalTickets=7, venue="Arena", perUserLimit=2,
                            startsAt="2030-05-01T20:00:00Z")
    assert FIELDS <= set(event)
    assert (event["availableTickets"], event["status"]) == (7, "on_sale")
    listed = await api.call("GET", "/api/events?limit=1000")
    assert any(e["id"] == event["id"] for e in listed.body)
    detail = await api.call("GET", f"/api/events/{event['id']}")
    assert detail.body == event
    for path in ("/api/events/99999999", "/api/events/abc", "/api/events/-1"):
        reply = await api.call("GET", path)
        assert (reply.status, reply.body["error"]) == (404, "not_found"), path
    bad_page = await api.call("GET", "/api/events?limit=0")
    assert bad_page.status == 422


async def test_one_event_names_its_organizer_the_list_does_not(api: Api) -> None:
    # The event page shows who organizes it: their display name, never their email.
    vendor = await api.account(Role.VENDOR)
    await api.pool.execute("UPDATE users SET name = 'Hall Keepers' WHERE id = $1", vendor.id)
    event = await api.event(vendor)
    detail = await api.call("GET", f"/api/events/{event['id']}")
    assert detail.body == {**event, "organizer": "Hall Keepers"}
    listed = await api.call("GET", "/api/events?limit=1000")
    assert all("organizer" not in e for e in listed.body)
    unnamed = await api.event()
    assert "organizer" not in (await api.call("GET", f"/api/events/{unnamed['id']}")).body


async def test_description_round_trip_and_bounds(api: Api) -> None:
    # Plain text in lines: kept as sent (CRLF stored as LF, NFC), read back by the event and
    # its edits, left out of the list; too long, a wrong type or a control character is a
    # 422 naming the field, never a 500.
    vendor = await api.account(Role.VENDOR)
    plain = await api.event(vendor)
    assert plain["description"] == ""
    text = "Doors at 19:00.\r\n\tNo re-entry.\n<b>Cafe\u0301</b>"
    event = await api.event(vendor, description=text)
    stored = "Doors at 19:00.\n\tNo re-entry.\n<b>Caf\u00e9</b>"
    assert event["description"] == stored
    path = f"/api/events/{event['id']}"
    assert (await api.call("GET", path)).body["description"] == stored
    edited = await api.call("PATCH", path, vendor, json={"description": "x" * 5000})
    assert (edited.status, edited.body["description"]) == (200, "x" * 5000)
    listed = await api.call("GET", "/api/events?limit=1000")
    assert all("description" not in e for e in listed.body)
    for bad in ("x" * 5001, 5, None, ["a"], "bell\u0007", "nul\u0000"):
        for method, where in (("POST", "/api/events"), ("PATCH", path)):
            body = {"description": bad} | ({"name": "x", "totalTickets": 1}
                                           if method == "POST" else {})
            reply = await api.call(method, where, vendor, json=body)
            assert (reply.status, reply.body["error"], reply.body.get("field")) \
                == (422, "invalid_input", "description"), (method, bad)
    assert (await api.call("GET", path)).body["description"] == "x" * 5000


async def test_only_vendors_and_admins_create(api: Api) -> None:
    user, admin = await api.account(Role.USER), await api.account(Role.ADMIN)
    body = {"name": "Gig", "totalTickets": 10}
    assert (await api.call("POST", "/api/events", json=body)).status == 401
    refused = await api.call("POST", "/api/events", user, json=body)
    assert (refused.status, refused.body["error"]) == (403, "forbidden")
    made = await api.call("POST", "/api/events", admin, json=body)
    assert made.status == 201 and made.headers["Location"] == f"/api/events/{made.body['id']}"


async def test_create_validation(api: Api) -> None:
    vendor = await api.account(Role.VENDOR)
    for body in ({"totalTickets": 10}, {"name": "x"}, {"name": "", "totalTickets": 1},
                 {"name": "x", "totalTickets": -1}, {"name": "x", "totalTickets": "10"},
                 {"name": "x", "totalTickets": 1, "sold": 0},
                 {"name": "x", "totalTickets": 1, "startsAt": "2030-01-01T10:00:00"},
                 {"name": "x", "totalTickets": 1, "startsAt": "tomorrow"},
                 {"name": "x", "totalTickets": 1, "perUserLimit": 0}):
        reply = await api.call("POST", "/api/events", vendor, json=body)
        assert (reply.status, reply.body["error"]) == (422, "invalid_input"), body


async def test_edits_by_whom(api: Api) -> None:
    owner, other = await api.account(Role.VENDOR), await api.account(Role.VENDOR)
    admin = await api.account(Role.ADMIN)
    event = await api.event(owner, totalTickets=10)
    path = f"/api/events/{event['id']}"
    refused = await api.call("PATCH", path, other, json={"name": "Mine now"})
    assert (refused.status, refused.body["error"]) == (403, "forbidden")
    assert (await api.call("PATCH", path, owner, json={"name": "Renamed"})).body["name"] \
        == "Renamed"
    assert (await api.call("PATCH", path, admin, json={"venue": "Hall B"})).body["venue"] \
        == "Hall B"
    missing = await api.call("PATCH", "/api/events/99999999", owner, json={"name": "x"})
    assert missing.status == 404


@pytest.mark.both_transports
async def test_capacity_never_below_sold(api: Api) -> None:
    vendor = await api.account(Role.VENDOR)
    event = await api.event(vendor, totalTickets=10)
    buyer = await api.account()
    assert (await api.book(buyer, event["id"], 4)).status == 201
    path = f"/api/events/{event['id']}"
    below = await api.call("PATCH", path, vendor, json={"totalTickets": 3})
    assert (below.status, below.body["error"]) == (409, "capacity_below_sold")
    exact = await api.call("PATCH", path, vendor, json={"totalTickets": 4})
    assert (exact.status, exact.body["availableTickets"], exact.body["status"]) == (
        200, 0, "sold_out")
    late = await api.book(await api.account(), event["id"], 1)
    assert (late.status, late.body["error"]) == (409, "sold_out")


@pytest.mark.both_transports
async def test_edits_reach_the_deciding_actor(api: Api) -> None:
    vendor = await api.account(Role.VENDOR)
    event = await api.event(vendor, totalTickets=10, perUserLimit=3)
    buyer = await api.account()
    assert (await api.book(buyer, event["id"], 1)).status == 201  # the actor holds it now
    await api.call("PATCH", f"/api/events/{event['id']}", vendor, json={"perUserLimit": 1})
    over = await api.book(buyer, event["id"], 1)
    assert (over.status, over.body["error"]) == (422, "limit_exceeded")
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    moved = await api.call("PATCH", f"/api/events/{event['id']}", vendor,
                           json={"saleStartsAt": later})
    assert moved.body["status"] == "scheduled"
    early = await api.book(await api.account(), event["id"], 1)
    assert (early.status, early.body["error"]) == (409, "not_on_sale")
