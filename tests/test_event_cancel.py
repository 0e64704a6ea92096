"""Cancelling a whole event (issue 13) under every strategy: the `queued` actor decides it in
order with the event's bookings; `locked` and `naive` decide it in one transaction under the
event's row lock. Either way the event is cancelled, its bookings with it (tickets void),
the refunds it owes are in the outbox, later bookings are refused `event_cancelled`, and its
seats (none) go out on the stream."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from engine.storage.invariants import check_invariants
from engine.types import Role, Strategy
from tests.factories import Account
from tests.helpers import Api
from tests.test_payments import _checkout
from tests.test_refunds import _cancel_event, _paid, _payments
from tests.test_stream import _next_events


async def _stock_reaches(stream: Any, event_id: int, available: int) -> None:
    """Read the stream until it says `event_id` has `available` seats (bounded)."""
    async with asyncio.timeout(5):
        while True:
            [(kind, data)] = await _next_events(stream, 1)
            if (kind, data.get("eventId"), data.get("availableTickets")) == (
                    "stock", event_id, available):
                return


async def _status(api: Api, who: Account, booking: dict[str, Any]) -> tuple[str, bool]:
    """A booking's status as its owner reads it, and whether every ticket of it is void."""
    body = (await api.call("GET", f"/api/bookings/{booking['id']}", who)).body
    return body["status"], all(t["void"] for t in body["tickets"])


@pytest.mark.both_transports  # the stock of 0 goes out through the transport
@pytest.mark.parametrize("strategy", [Strategy.QUEUED, Strategy.LOCKED, Strategy.NAIVE])
async def test_cancelling_an_event_under_every_strategy(make_api: Any,
                                                        strategy: Strategy) -> None:
    # Paid bookings and holds need an actor: they are made under `queued`, as on a database
    # whose strategy was switched since; the free event is booked under the strategy itself.
    queued: Api = await make_api()
    api: Api = (queued if strategy is Strategy.QUEUED
                else await make_api(booking_strategy=strategy, allow_naive=True))
    vendor = await queued.account(Role.VENDOR)
    paid_event, payer, paid = await _paid(queued, vendor, quantity=2, holdSeconds=60)
    holder = await queued.account()
    held = (await queued.book(holder, paid_event["id"], 1)).body
    assert held["status"] == "held"
    free_event = await api.event(vendor, totalTickets=4)
    buyer = await api.account()
    booked = (await api.book(buyer, free_event["id"], 2)).body
    assert booked["status"] == "confirmed", booked
    # A second gateway of the same strategy, which read the free event before the cancel.
    other: Api = (queued if strategy is Strategy.QUEUED
                  else await make_api(booking_strategy=strategy, allow_naive=True))
    assert (await other.book(await other.account(), free_event["id"], 1)).status == 201

    async with api.client.get("/api/stream") as stream:
        assert (await stream.content.readline()).startswith(b"retry:")
        for event in (free_event, paid_event):
            refused = await _cancel_event(api, await api.account(Role.VENDOR), event)
            assert (refused.status, refused.body["error"]) == (403, "forbidden")
            cancelled = await _cancel_event(api, vendor, event)
            assert cancelled.status == 200, cancelled.body
            assert (cancelled.body["status"], cancelled.body["availableTickets"]) == (
                "cancelled", 0)
            assert cancelled.body["cancelledAt"] is not None and not cancelled.body["waitlist"]
            await _stock_reaches(stream, event["id"], 0)
    await _checkout(api).settled()

    assert await _status(api, buyer, booked) == ("cancelled", True)
    assert await _status(api, payer, paid) == ("cancelled", True)
    assert (await _status(api, holder, held))[0] == "cancelled"
    refund = (await api.call("GET", f"/api/bookings/{paid['id']}", payer)).body["refund"]
    assert (refund["status"], refund["amountCents"], refund["reason"]) == (
        "refunded", 2500, "event_cancelled")
    assert await _payments(api, paid_event) == [("refunded", "event_cancelled")]

    for gateway in (api, other):  # the second from its cached copy, or from the database
        late = await gateway.book(await gateway.account(), free_event["id"])
        assert (late.status, late.body["error"]) == (409, "event_cancelled"), late.body
    again = await _cancel_event(api, vendor, free_event)
    assert (again.status, again.body["status"]) == (200, "cancelled")
    assert await api.pool.fetchval("SELECT sold + held FROM events WHERE id = $1",
                                   paid_event["id"]) == 0
    await queued.drain()
    assert (await check_invariants(api.pool, [free_event["id"], paid_event["id"]])).ok


@pytest.mark.parametrize("strategy", [Strategy.LOCKED, Strategy.NAIVE])
async def test_an_event_under_way_is_not_cancelled_by_any_strategy(
        make_api: Any, strategy: Strategy) -> None:
    queued: Api = await make_api()  # check-in needs an actor
    vendor = await queued.account(Role.VENDOR)
    event = await queued.event(vendor, totalTickets=2)
    booked = (await queued.book(await queued.account(), event["id"])).body
    assert (await queued.call("POST", f"/api/events/{event['id']}/checkin", vendor,
                              json={"code": booked["tickets"][0]["code"]})).status == 200
    api: Api = await make_api(booking_strategy=strategy, allow_naive=True)
    refused = await _cancel_event(api, vendor, event)
    assert (refused.status, refused.body["error"]) == (409, "checked_in")
    assert (await api.call("GET", f"/api/events/{event['id']}")).body["status"] != "cancelled"
    missing = await _cancel_event(api, vendor, {"id": 999999999})
    assert (missing.status, missing.body["error"]) == (404, "not_found")
