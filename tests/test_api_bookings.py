"""Booking routes: input handling, ownership, cancellation, and My Tickets."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import orjson
import pytest

from engine.messages import (
    BookCommand,
    CancelCommand,
    Command,
    decode_commands,
    encode_commands,
)
from engine.storage.invariants import check_invariants
from engine.types import Strategy
from gateway.keys import transport_key
from tests.helpers import Api


async def test_book_defaults_to_one_seat(api: Api) -> None:
    event = await api.event(totalTickets=3)
    buyer = await api.account()
    reply = await api.book(buyer, event["id"], None)
    assert (reply.status, reply.body["quantity"], len(reply.body["tickets"])) == (201, 1, 1)


async def test_bad_booking_input(api: Api) -> None:
    event = await api.event(totalTickets=3)
    buyer = await api.account()
    path = f"/api/events/{event['id']}/book"
    for quantity in (0, -1, 11, 1.5, "2", True, None, 10**20):
        reply = await api.call("POST", path, buyer, json={"quantity": quantity})
        assert (reply.status, reply.body["error"]) == (422, "invalid_quantity"), quantity
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"data": b"{not json", "headers": {"Content-Type": "application/json"}}, 400,
         "malformed_json"),
        ({"data": b"quantity=1", "headers": {"Content-Type": "text/plain"}}, 415,
         "unsupported_media_type"),
        ({"json": [1]}, 422, "invalid_input"),
        ({"json": {"quantity": 1, "price": 0}}, 422, "invalid_input"),
        ({"json": {"quantity": 1, "pad": "x" * 20_000}}, 413, "body_too_large"),
        ({"json": {}, "headers": {"Idempotency-Key": "k" * 201}}, 422, "invalid_input"),
    ]
    for kwargs, status, code in cases:
        reply = await api.call("POST", path, buyer, **kwargs)
        assert (reply.status, reply.body["error"]) == (status, code), kwargs
    assert (await api.call("POST", path, json={"quantity": 1})).status == 401
    unknown = await api.book(buyer, 99999999)
    assert (unknown.status, unknown.body["error"]) == (404, "not_found")
    assert await api.pool.fetchval("SELECT sold FROM events WHERE id = $1", event["id"]) == 0


@pytest.mark.both_transports
@pytest.mark.parametrize("strategy", [Strategy.QUEUED, Strategy.LOCKED, Strategy.NAIVE])
async def test_owner_reads_and_cancels(make_api: Any, strategy: Strategy) -> None:
    api: Api = await make_api(booking_strategy=strategy, allow_naive=True)
    event = await api.event(totalTickets=5)
    buyer, stranger = await api.accounts(2)
    booked = await api.book(buyer, event["id"], 2)
    assert booked.status == 201
    path = f"/api/bookings/{booked.body['id']}"
    mine = await api.call("GET", path, buyer)
    assert (mine.status, mine.body) == (200, booked.body)
    for who, url in ((stranger, path), (stranger, path + "/cancel"),
                     (buyer, "/api/bookings/not-a-uuid"),
                     (buyer, "/api/bookings/00000000-0000-0000-0000-000000000000")):
        method = "POST" if url.endswith("/cancel") else "GET"
        reply = await api.call(method, url, who)
        assert (reply.status, reply.body["error"]) == (404, "not_found"), url

    cancelled = await api.call("POST", path + "/cancel", buyer)
    assert (cancelled.status, cancelled.body["status"]) == (200, "cancelled")
    assert (await api.call("GET", "/api/me/tickets", buyer)).body == []
    await api.drain()
    detail = await api.call("GET", f"/api/events/{event['id']}")
    assert detail.body["availableTickets"] == 5
    again = await api.call("POST", path + "/cancel", buyer)
    assert (again.status, again.body["error"]) == (409, "not_cancellable")
    # The freed seats sell again.
    assert (await api.book(stranger, event["id"], 5)).status == 201


@pytest.mark.both_transports
async def test_a_decided_rejection_is_readable(api: Api) -> None:
    event = await api.event(totalTickets=1)
    buyer = await api.account()
    rejected = await api.book(buyer, event["id"], 2)
    assert (rejected.status, rejected.body["error"]) == (409, "sold_out")
    booking = rejected.body["booking"]
    reread = await api.call("GET", f"/api/bookings/{booking['id']}", buyer)
    assert (reread.body["status"], reread.body["reason"]) == ("rejected", "sold_out")
    assert (await api.book(buyer, event["id"], 1)).status == 201
    await api.drain()  # now this gateway knows: answered here, no trip to the actor
    local = await api.book(buyer, event["id"], 1)
    assert (local.status, local.body["error"]) == (409, "sold_out")
    # One shape for both refusals; nothing was recorded for the one refused here.
    assert set(local.body) == set(rejected.body) == {"error", "message", "booking"}
    assert local.body["booking"] is None


async def test_my_tickets_lists_every_seat(api: Api) -> None:
    first, second = await api.event(totalTickets=5), await api.event(totalTickets=5)
    buyer = await api.account()
    await api.book(buyer, first["id"], 2)
    await api.book(buyer, second["id"], 1)
    tickets = (await api.call("GET", "/api/me/tickets", buyer)).body
    assert len(tickets) == 3
    assert set(tickets[0]) == {"id", "code", "eventId", "eventName", "bookingId", "createdAt"}
    assert {t["eventId"] for t in tickets} == {first["id"], second["id"]}
    assert len({t["code"] for t in tickets}) == 3


async def test_my_bookings_keep_cancelled_ones_with_void_tickets(api: Api) -> None:
    # The ticket history of the web UI: every booking but the refused ones, newest first,
    # with its event's name, venue and date, a cancelled one kept with its tickets void.
    first = await api.event(name="Kept", venue="Hall K", totalTickets=5,
                            startsAt="2099-06-01T19:30:00Z")
    second = await api.event(name="Dropped", totalTickets=1)
    buyer, other = await api.account(), await api.account()
    kept = await api.book(buyer, first["id"], 2)
    dropped = await api.book(buyer, second["id"], 1)
    refused = await api.book(buyer, second["id"], 1)
    assert (kept.status, dropped.status, refused.status) == (201, 201, 409)
    assert (await api.call("POST", f"/api/bookings/{dropped.body['id']}/cancel",
                           buyer)).status == 200
    await api.book(other, first["id"], 1)
    mine = (await api.call("GET", "/api/me/bookings", buyer)).body
    assert [b["id"] for b in mine] == [dropped.body["id"], kept.body["id"]]
    assert set(mine[1]) == {"id", "eventId", "eventName", "venue", "startsAt", "quantity",
                            "status", "createdAt", "tickets"}
    assert (mine[1]["eventName"], mine[1]["venue"], mine[1]["startsAt"],
            mine[1]["status"], mine[1]["quantity"]) == (
        "Kept", "Hall K", "2099-06-01T19:30:00Z", "confirmed", 2)
    assert sorted((t["code"], t["void"]) for t in mine[1]["tickets"]) == sorted(
        (t["code"], False) for t in kept.body["tickets"])
    assert (mine[0]["status"], mine[0]["venue"], mine[0]["startsAt"]) == (
        "cancelled", None, None)
    assert [(t["code"], t["void"]) for t in mine[0]["tickets"]] == [
        (dropped.body["tickets"][0]["code"], True)]
    assert (await api.call("GET", "/api/me/bookings")).status == 401
    await api.drain()


async def test_health_and_unknown_routes(api: Api) -> None:
    health = await api.call("GET", "/api/health")
    assert health.status == 200 and health.body["checks"]["database"] == "ok"
    missing = await api.call("GET", "/api/nothing-here")
    assert (missing.status, missing.body["error"]) == (404, "not_found")
    wrong = await api.call("DELETE", "/api/events")
    assert (wrong.status, wrong.body["error"]) == (405, "method_not_allowed")


@pytest.mark.both_transports
@pytest.mark.parametrize("strategy", [Strategy.QUEUED, Strategy.LOCKED])
async def test_a_cancelled_booking_keeps_its_tickets_void(make_api: Any,
                                                         strategy: Strategy) -> None:
    api: Api = await make_api(booking_strategy=strategy)
    event = await api.event(totalTickets=5)
    buyer = await api.account()
    booked = await api.book(buyer, event["id"], 2)
    assert [t["void"] for t in booked.body["tickets"]] == [False, False]
    path = f"/api/bookings/{booked.body['id']}"
    cancelled = await api.call("POST", path + "/cancel", buyer)
    assert cancelled.status == 200
    codes = [t["code"] for t in booked.body["tickets"]]
    assert [(t["code"], t["void"]) for t in cancelled.body["tickets"]] == [
        (c, True) for c in codes]
    reread = await api.call("GET", path, buyer)
    assert reread.body["status"] == "cancelled"
    assert [(t["code"], t["void"]) for t in reread.body["tickets"]] == [
        (c, True) for c in codes]
    # Kept in the database, counted nowhere: My Tickets and the invariants see valid ones.
    assert await api.pool.fetchval("SELECT count(*) FROM tickets WHERE booking_id = $1",
                                   uuid.UUID(booked.body["id"])) == 2
    assert (await api.call("GET", "/api/me/tickets", buyer)).body == []
    await api.drain()
    assert (await check_invariants(api.pool, [event["id"]])).ok


@pytest.mark.both_transports
async def test_a_late_answer_for_the_booking_is_not_taken_for_its_cancellation(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """A booking's command re-sent (its first delivery was uncertain) is answered once more,
    "confirmed", after it was decided. A cancellation waiting then must wait for its own
    answer: it took the late one and said 409 for a cancellation that went through."""
    event = await api.event(totalTickets=5)
    buyer = await api.account()
    booked = await api.book(buyer, event["id"], 2)
    assert booked.status == 201, booked.body
    transport = api.app[transport_key]
    send = transport.send

    async def behind_a_late_copy(commands: Sequence[Command]) -> None:
        copies = [BookCommand(c.booking_id, c.event_id, c.user_id, 2, transport.reply_to,
                              check_existing=True)
                  for c in commands if isinstance(c, CancelCommand)]
        await send([*copies, *commands])  # the same mailbox, in this order

    monkeypatch.setattr(transport, "send", behind_a_late_copy)
    cancelled = await api.call("POST", f"/api/bookings/{booked.body['id']}/cancel", buyer)
    assert (cancelled.status, cancelled.body.get("status")) == (200, "cancelled"), cancelled.body
    await api.drain()
    mine = await api.call("GET", f"/api/bookings/{booked.body['id']}", buyer)
    assert mine.body["status"] == "cancelled"


def test_a_cancellation_crosses_the_wire_with_its_id() -> None:
    named = CancelCommand(uuid.uuid4(), 7, 3, "gw-1", uuid.uuid4())
    assert decode_commands(encode_commands([named])) == [named]
    # From a sender that names none (a gateway of the previous release): any answer.
    old = orjson.loads(encode_commands([replace(named, cancel_id=None)]))
    for command in old["items"]:
        command.pop("cancelId")
    assert decode_commands(orjson.dumps(old)) == [replace(named, cancel_id=None)]
