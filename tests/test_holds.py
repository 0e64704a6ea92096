"""Seat holds on paid events (issue 13): held at booking, out of sale until paid or expired,
expired by the owning actor's timers on its clock, reloaded by a new owner."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest

from engine.messages import (
    BookCommand,
    Outcome,
    PayCommand,
    StockUpdate,
    WakeCommand,
    decode_commands,
    decode_outcomes,
    encode_commands,
    encode_outcomes,
)
from engine.notifications import Notifications
from engine.runtime import ShardActor, ShardRuntime
from engine.storage.invariants import check_invariants
from engine.storage.shard_store import PgShardStore
from engine.transport.base import Envelope
from engine.transport.inproc import InprocTransport
from engine.types import BookingStatus, Role, Strategy
from gateway.keys import notifications_key
from tests.clock import FakeClock
from tests.factories import create_accounts
from tests.helpers import Api, assert_eventually
from tests.test_actor import FailsAfterCommit, RecordingOutlet


def _outcomes(api: Api) -> list[Outcome]:
    seen: list[Outcome] = []
    api.app[notifications_key].on_outcome(seen.append)
    return seen


async def _available(api: Api, event_id: int) -> int:
    await api.drain()
    return int((await api.call("GET", f"/api/events/{event_id}")).body["availableTickets"])


@pytest.mark.both_transports
async def test_a_paid_booking_is_held_and_its_seats_are_out_of_sale(api: Api) -> None:
    event = await api.event(totalTickets=5, priceCents=1250, currency="EUR", holdSeconds=60,
                            perUserLimit=3)
    buyer, other = await api.accounts(2)
    before = datetime.now().astimezone()
    held = await api.book(buyer, event["id"], 2)
    assert held.status == 201, held.body
    assert (held.body["status"], held.body["amountCents"], held.body["currency"],
            held.body["tickets"]) == ("held", 2500, "EUR", [])
    expires = datetime.fromisoformat(held.body["expiresAt"])
    assert before + timedelta(seconds=59) < expires < before + timedelta(seconds=62)
    assert await _available(api, event["id"]) == 3
    # The per-user limit counts held seats.
    over = await api.book(buyer, event["id"], 2)
    assert (over.status, over.body["error"]) == (422, "limit_exceeded"), over.body
    # Held seats are taken: 3 left, 4 asked.
    refused = await api.book(other, event["id"], 4)
    assert (refused.status, refused.body["error"]) == (409, "sold_out")
    reread = await api.call("GET", f"/api/bookings/{held.body['id']}", buyer)
    assert reread.body == held.body
    assert (await api.call("GET", "/api/me/tickets", buyer)).body == []
    assert (await check_invariants(api.pool, [event["id"]])).ok


async def test_my_bookings_carry_a_holds_deadline_and_price(api: Api) -> None:
    # The web UI's list shows a hold's countdown and amount from this one read, with no read
    # per held booking: the list says what `GET /api/bookings/{id}` says.
    paid = await api.event(totalTickets=5, priceCents=1250, currency="JPY", holdSeconds=60)
    free = await api.event(totalTickets=5)
    buyer = await api.account()
    held = await api.book(buyer, paid["id"], 2)
    dropped = await api.book(buyer, paid["id"], 1)
    confirmed = await api.book(buyer, free["id"], 1)
    assert (held.status, dropped.status, confirmed.status) == (201, 201, 201)
    assert (await api.call("POST", f"/api/bookings/{dropped.body['id']}/cancel",
                           buyer)).status == 200
    mine = {b["id"]: b for b in (await api.call("GET", "/api/me/bookings", buyer)).body}
    listed = mine[held.body["id"]]
    assert (listed["status"], listed["amountCents"], listed["currency"]) == ("held", 2500,
                                                                             "JPY")
    assert datetime.fromisoformat(listed["expiresAt"]) \
        == datetime.fromisoformat(held.body["expiresAt"])
    # A hold that ended keeps its price, not a deadline that no longer means anything; a
    # free booking has neither.
    ended = mine[dropped.body["id"]]
    assert (ended["status"], ended["amountCents"], "expiresAt" in ended) == ("cancelled",
                                                                            1250, False)
    assert {"expiresAt", "amountCents", "currency"}.isdisjoint(mine[confirmed.body["id"]])


async def test_sold_plus_held_never_exceeds_capacity_in_the_database(api: Api) -> None:
    event = await api.event(totalTickets=3, priceCents=100)
    buyer = await api.account()
    assert (await api.book(buyer, event["id"], 2)).status == 201
    with pytest.raises(asyncpg.CheckViolationError):
        await api.pool.execute("UPDATE events SET sold = 2 WHERE id = $1", event["id"])
    assert await api.pool.fetchval("SELECT held FROM events WHERE id = $1", event["id"]) == 2


async def test_free_events_are_confirmed_as_before(api: Api) -> None:
    event = await api.event(totalTickets=2)
    booked = await api.book(await api.account(), event["id"], 1)
    assert (booked.status, booked.body["status"], len(booked.body["tickets"])) == (
        201, "confirmed", 1)
    assert "expiresAt" not in booked.body


@pytest.mark.both_transports
async def test_an_unpaid_hold_expires_on_the_actors_clock(api: Api, clock: FakeClock) -> None:
    event = await api.event(totalTickets=2, priceCents=500, holdSeconds=30)
    buyer = await api.account()
    seen = _outcomes(api)
    held = await api.book(buyer, event["id"], 2)
    assert held.body["status"] == "held"
    clock.advance(29)
    assert await _available(api, event["id"]) == 0  # not yet
    clock.advance(2)
    assert await _available(api, event["id"]) == 2  # back on sale, broadcast
    reread = await api.call("GET", f"/api/bookings/{held.body['id']}", buyer)
    assert reread.body["status"] == "expired"
    booking_id = uuid.UUID(held.body["id"])

    async def pushed() -> bool:
        return any(o.booking_id == booking_id and o.status is BookingStatus.EXPIRED
                   for o in seen)
    await assert_eventually(pushed, message="the expiry never reached the owner's gateway")
    assert (await api.book(buyer, event["id"], 2)).body["status"] == "held"
    assert (await check_invariants(api.pool, [event["id"]])).ok


@pytest.mark.both_transports
async def test_cancelling_a_hold_releases_it_at_once(api: Api) -> None:
    event = await api.event(totalTickets=2, priceCents=500)
    buyer = await api.account()
    held = await api.book(buyer, event["id"], 2)
    cancelled = await api.call("POST", f"/api/bookings/{held.body['id']}/cancel", buyer)
    assert (cancelled.status, cancelled.body["status"]) == (200, "cancelled")
    assert await _available(api, event["id"]) == 2
    again = await api.call("POST", f"/api/bookings/{held.body['id']}/cancel", buyer)
    assert (again.status, again.body["error"]) == (409, "not_cancellable")
    assert (await check_invariants(api.pool, [event["id"]])).ok


@pytest.mark.parametrize("strategy", [Strategy.LOCKED, Strategy.NAIVE])
async def test_paid_events_are_refused_by_the_per_request_strategies(
        make_api: Any, strategy: Strategy) -> None:
    api: Api = await make_api(booking_strategy=strategy, allow_naive=True)
    event = await api.event(totalTickets=2, priceCents=500)
    refused = await api.book(await api.account(), event["id"], 1)
    assert (refused.status, refused.body["error"]) == (409, "paid_needs_queued")
    free = await api.event(totalTickets=2)
    assert (await api.book(await api.account(), free["id"], 1)).status == 201


# -- the actor alone: timers, restarts ---------------------------------------------------

def _book(event_id: int, user_id: int, quantity: int = 1) -> Envelope:
    return Envelope([BookCommand(uuid.uuid4(), event_id, user_id, quantity, "test")])


def _statuses(outcomes: Sequence[Outcome]) -> list[BookingStatus]:
    return [o.status for o in outcomes]


async def _paid_event(api: Api, seats: int, hold_seconds: int,
                      buyers: int) -> tuple[int, list[int]]:
    event = await api.event(totalTickets=seats, priceCents=100, holdSeconds=hold_seconds)
    return event["id"], [a.id for a in await create_accounts(api.pool, api.issuer, buyers,
                                                             Role.USER)]


def _actor(api: Api, clock: FakeClock, outlet: RecordingOutlet, shard: int = 0) -> ShardActor:
    return ShardActor(shard, PgShardStore(api.pool), outlet, clock=clock.now,
                      sleeper=clock.sleep)


async def test_a_successor_actor_expires_open_holds_on_time(api: Api,
                                                            clock: FakeClock) -> None:
    event_id, users = await _paid_event(api, 4, 60, 2)
    first = RecordingOutlet()
    async with _actor(api, clock, first) as actor:
        actor.submit(_book(event_id, users[0], 2))
        await actor.drain()
        clock.advance(30)
        actor.submit(_book(event_id, users[1], 2))  # expires 30 s after the first
        await actor.drain()
    # The first hold's warning (halfway through its minute) came after the second booking,
    # in its batch (warnings last).
    assert [(o.status, o.warning) for o in first.outcomes] == [
        (BookingStatus.HELD, False), (BookingStatus.HELD, False), (BookingStatus.HELD, True)]
    # The owner is gone with two holds open. A new runtime (a restarted worker) wakes the
    # events with open holds at start, through its outlet: their owner claims them and arms
    # their deadlines.
    notifications = Notifications()
    seen: list[Outcome] = []
    stock: list[StockUpdate] = []
    notifications.on_outcome(lambda o: seen.append(o) if o.event_id == event_id else None)
    notifications.on_stock(stock.extend)
    runtime = ShardRuntime(PgShardStore(api.pool), shards=2, clock=clock.now,
                           sleeper=clock.sleep)
    transport = InprocTransport(runtime, notifications)
    await transport.start()
    try:
        await transport.drain()
        assert seen == []  # nothing due yet
        clock.advance(31)
        await transport.drain()
        assert [(o.booking_id, o.status, o.warning) for o in seen] == [
            (first.outcomes[0].booking_id, BookingStatus.EXPIRED, False),
            (first.outcomes[1].booking_id, BookingStatus.HELD, True)]  # the second's warning
        seen.clear()
        assert [u.available for u in stock if u.event_id == event_id][-1] == 2
        clock.advance(30)
        await transport.drain()
        assert [(o.booking_id, o.status) for o in seen] == [
            (first.outcomes[1].booking_id, BookingStatus.EXPIRED)]
        assert [u.available for u in stock if u.event_id == event_id][-1] == 4
    finally:
        await transport.stop()
    assert await api.pool.fetchval("SELECT held FROM events WHERE id = $1", event_id) == 0
    assert (await check_invariants(api.pool, [event_id])).ok


async def test_a_claim_expires_overdue_holds_at_once(api: Api, clock: FakeClock) -> None:
    event_id, users = await _paid_event(api, 2, 10, 2)
    first = RecordingOutlet()
    async with _actor(api, clock, first) as actor:
        actor.submit(_book(event_id, users[0], 2))
        await actor.drain()
    clock.advance(3600)  # the owner was down for an hour
    second = RecordingOutlet()
    async with _actor(api, clock, second, shard=1) as successor:
        successor.submit(_book(event_id, users[1], 2))  # its claim expires the old hold
        await successor.drain()
    assert _statuses(second.outcomes) == [BookingStatus.EXPIRED, BookingStatus.HELD]
    assert (await check_invariants(api.pool, [event_id])).ok


async def test_an_actor_restarted_in_process_keeps_the_deadlines_it_held(
        api: Api, clock: FakeClock) -> None:
    event_id, users = await _paid_event(api, 2, 20, 2)
    free = (await api.event(totalTickets=5))["id"]
    outlet = FailsAfterCommit()
    runtime = ShardRuntime(PgShardStore(api.pool), shards=1, clock=clock.now,
                           sleeper=clock.sleep)
    await runtime.start(outlet)
    try:
        runtime.submit(0, _book(event_id, users[0], 2))
        await runtime.drain()
        dead = runtime.actors[0]
        outlet.fail = True
        runtime.submit(0, _book(free, users[1]))  # the actor dies answering this one

        async def restarted() -> bool:
            return runtime.actors[0] is not dead

        await assert_eventually(restarted, message="the dead actor was not started again")
        clock.advance(21)
        await runtime.drain()
    finally:
        await runtime.stop()
    expired = [o for o in outlet.outcomes if o.event_id == event_id]
    assert _statuses(expired) == [BookingStatus.HELD, BookingStatus.EXPIRED]
    assert (await check_invariants(api.pool, [event_id, free])).ok


async def test_a_fenced_out_owner_leaves_the_deadlines_to_the_new_one(
        api: Api, clock: FakeClock) -> None:
    event_id, users = await _paid_event(api, 4, 60, 2)
    old_outlet, new_outlet = RecordingOutlet(), RecordingOutlet()
    async with _actor(api, clock, old_outlet) as old, \
            _actor(api, clock, new_outlet, shard=1) as new:
        old.submit(_book(event_id, users[0], 2))
        await old.drain()
        new.submit(Envelope([WakeCommand(event_id)]))  # the event moved: the new owner claims
        await new.drain()
        old.submit(_book(event_id, users[1]))  # the old one learns it at its next write
        await old.drain()
        assert old.fenced == 1
        clock.advance(61)
        await old.drain()
        await new.drain()
        # The old owner does not claim the event back for a deadline it no longer owns.
        assert not old.owns(event_id) and new.owns(event_id)
    assert _statuses(new_outlet.outcomes) == [BookingStatus.EXPIRED]
    assert (await check_invariants(api.pool, [event_id])).ok


async def test_capacity_never_drops_below_sold_and_held_seats(api: Api) -> None:
    vendor = await api.account(Role.VENDOR)
    event = await api.event(vendor, totalTickets=3, priceCents=100)
    assert (await api.book(await api.account(), event["id"], 2)).body["status"] == "held"
    path = f"/api/events/{event['id']}"
    refused = await api.call("PATCH", path, vendor, json={"totalTickets": 1})
    assert (refused.status, refused.body["error"], refused.body["sold"]) == (
        409, "capacity_below_sold", 2)
    assert (await api.call("PATCH", path, vendor, json={"totalTickets": 2})).status == 200
    assert await _available(api, event["id"]) == 0


def test_hold_commands_and_outcomes_cross_the_wire() -> None:
    pay = PayCommand(uuid.uuid4(), 7, 3, uuid.uuid4(), "reply")
    assert decode_commands(encode_commands([pay, WakeCommand(7)])) == [pay, WakeCommand(7)]
    held = Outcome(uuid.uuid4(), 7, 3, BookingStatus.HELD, 2, reply_to="r",
                   expires_at=datetime.now().astimezone(), amount_cents=1400, currency="JPY")
    assert decode_outcomes(encode_outcomes([held])) == [held]
