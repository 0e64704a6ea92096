"""The organizer's live view of a waiting room (issue 14: "the organizer sees queue length,
admission rate and seats left live"): `GET /api/events/{id}/queue` for the event's vendor
and admins, answered from the gateway's copy of the room. The fake clock moves; the actors'
drain is the barrier."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from engine.types import Role
from tests.clock import FakeClock
from tests.helpers import Api


async def _view(api: Api, event_id: int, account: Any) -> dict[str, Any]:
    reply = await api.call("GET", f"/api/events/{event_id}/queue", account)
    assert reply.status == 200, reply.body
    return dict(reply.body)


@pytest.mark.both_transports
async def test_the_organizer_sees_the_line_the_admissions_and_the_seats(
        make_api: Any, clock: FakeClock) -> None:
    api: Api = await make_api()
    vendor = await api.account(Role.VENDOR)
    event = await api.event(vendor, totalTickets=2,
                            saleStartsAt=(clock.now() + timedelta(seconds=30)).isoformat(),
                            waitingRoom={"enabled": True, "admissionSeconds": 30})
    path = f"/api/events/{event['id']}/queue"
    buyers = await api.accounts(5)
    for buyer in buyers:
        assert (await api.call("POST", path, buyer)).status == 201
    await api.drain()
    assert await _view(api, event["id"], vendor) == {
        "eventId": event["id"], "opened": False, "closed": False, "prequeued": 5,
        "waiting": 0, "admittedUnused": 0, "admittedLastMinute": 0, "seatsLeft": 2}

    clock.advance(31)  # the sale opens: 2 seats x 2 admitted, one left in line
    await api.drain()
    view = await _view(api, event["id"], vendor)
    assert (view["opened"], view["prequeued"], view["waiting"], view["admittedUnused"],
            view["admittedLastMinute"], view["seatsLeft"]) == (True, 0, 1, 4, 4, 2)
    admitted = await api.pool.fetchval(
        "SELECT user_id FROM queue_entries WHERE event_id = $1 AND status = 'admitted'"
        " ORDER BY admit_no LIMIT 1", event["id"])
    buyer = next(b for b in buyers if b.id == admitted)
    assert (await api.book(buyer, event["id"])).status == 201
    await api.drain()
    view = await _view(api, event["id"], vendor)
    assert (view["waiting"], view["admittedUnused"], view["seatsLeft"]) == (1, 3, 1)

    clock.advance(31)  # the three unused expire; the last in line is admitted (1 seat x 2)
    await api.drain()
    view = await _view(api, event["id"], vendor)
    assert (view["waiting"], view["admittedUnused"], view["admittedLastMinute"]) == (0, 1, 5)
    # A gateway that reads the room whole answers the same counts (its minute starts at
    # its read: it heard no admission yet).
    later: Api = await make_api()
    assert {**await _view(later, event["id"], vendor), "admittedLastMinute": 5} == view
    clock.advance(61)  # a minute without admissions (the last one expired meanwhile)
    await api.drain()
    view = await _view(api, event["id"], vendor)
    assert (view["admittedUnused"], view["admittedLastMinute"]) == (0, 0)
    admin = await api.account(Role.ADMIN)
    assert await _view(api, event["id"], admin) == view


async def test_only_its_organizer_sees_a_room_and_only_where_there_is_one(
        api: Api, clock: FakeClock) -> None:
    vendor, stranger = await api.accounts(2, Role.VENDOR)
    room = await api.event(vendor, totalTickets=2, waitingRoom={"enabled": True})
    plain = await api.event(vendor, totalTickets=2)
    buyer = await api.account()
    path = f"/api/events/{room['id']}/queue"
    for account, status in ((None, 401), (buyer, 403), (stranger, 403)):
        reply = await api.call("GET", path, account)
        assert reply.status == status, reply.body
    nobody = await _view(api, room["id"], vendor)  # nobody joined yet: an empty room
    assert (nobody["waiting"], nobody["prequeued"], nobody["seatsLeft"]) == (0, 0, 2)
    none = await api.call("GET", f"/api/events/{plain['id']}/queue", vendor)
    assert (none.status, none.body["error"]) == (409, "no_waiting_room")
    missing = await api.call("GET", "/api/events/999999/queue", vendor)
    assert missing.status == 404
