"""The waiting list of sold-out events (issue 13): joins and leaves decided by the event's
actor, returned seats offered to the first entry that fits, offers that expire and pass on,
are paid (or accepted, when free), and survive a change of owner."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

import pytest

from engine.messages import (
    BookCommand,
    CancelCommand,
    JoinCommand,
    LeaveCommand,
    Outcome,
    WakeCommand,
    decode_commands,
    decode_outcomes,
    encode_commands,
    encode_outcomes,
)
from engine.runtime import ShardActor, ShardRuntime
from engine.storage.invariants import check_invariants
from engine.storage.shard_store import PgShardStore
from engine.transport.base import Envelope
from engine.types import BookingStatus, Role
from gateway.keys import notifications_key
from tests.clock import FakeClock
from tests.factories import Account, create_accounts
from tests.helpers import Api, Reply, assert_eventually
from tests.test_actor import FailsAfterCommit, RecordingOutlet


async def _join(api: Api, buyer: Account, event_id: int, quantity: int | None = 1) -> Reply:
    body = None if quantity is None else {"quantity": quantity}
    return await api.call("POST", f"/api/events/{event_id}/waitlist", buyer, json=body)


async def _mine(api: Api, buyer: Account) -> list[dict[str, Any]]:
    await api.drain()
    reply = await api.call("GET", "/api/me/waitlist", buyer)
    assert reply.status == 200, reply.body
    return list(reply.body)


async def _available(api: Api, event_id: int) -> int:
    await api.drain()
    return int((await api.call("GET", f"/api/events/{event_id}")).body["availableTickets"])


async def _cancel(api: Api, buyer: Account, booking: Reply) -> Reply:
    return await api.call("POST", f"/api/bookings/{booking.body['id']}/cancel", buyer)


async def _sold_out(api: Api, seats: int, **fields: Any) -> tuple[dict[str, Any], list[Reply],
                                                                 list[Account]]:
    """An event whose seats are booked one each by `seats` buyers."""
    event = await api.event(totalTickets=seats, **fields)
    holders = await api.accounts(seats)
    booked = [await api.book(h, event["id"]) for h in holders]
    assert all(b.status == 201 for b in booked), [b.body for b in booked]
    return event, booked, holders


@pytest.mark.both_transports
async def test_joining_leaving_and_listing(api: Api) -> None:
    event, _, _ = await _sold_out(api, 2, perUserLimit=3)
    assert event["waitlist"] is True
    first, second = await api.accounts(2)
    joined = await _join(api, first, event["id"], 2)
    assert (joined.status, joined.body["status"], joined.body["position"]) == (
        201, "waiting", 1), joined.body
    again = await _join(api, first, event["id"], 2)
    assert (again.status, again.body) == (200, joined.body)
    assert (await _join(api, second, event["id"], None)).body["position"] == 2
    over = await _join(api, await api.account(), event["id"], 4)
    assert (over.status, over.body["error"]) == (422, "limit_exceeded")
    for quantity in (0, 11):
        bad = await _join(api, second, event["id"], quantity)
        assert (bad.status, bad.body["error"]) == (422, "invalid_quantity")
    assert [e["position"] for e in await _mine(api, second)] == [2]
    left = await api.call("DELETE", f"/api/events/{event['id']}/waitlist", first)
    assert (left.status, left.body["status"], left.body["id"]) == (200, "left",
                                                                    joined.body["id"])
    gone = await api.call("DELETE", f"/api/events/{event['id']}/waitlist", first)
    assert (gone.status, gone.body["error"]) == (404, "not_waiting")
    assert [e["position"] for e in await _mine(api, second)] == [1]
    assert await _mine(api, first) == []
    assert (await check_invariants(api.pool, [event["id"]])).ok


@pytest.mark.both_transports
async def test_a_join_is_refused_while_seats_are_on_sale_or_the_list_is_off(api: Api) -> None:
    vendor = await api.account(Role.VENDOR)
    open_event = await api.event(vendor, totalTickets=3)
    buyer = await api.account()
    refused = await _join(api, buyer, open_event["id"], 3)
    assert (refused.status, refused.body["error"]) == (409, "not_sold_out")
    closed, _, _ = await _sold_out(api, 1, waitlist=False)
    assert closed["waitlist"] is False
    shut = await _join(api, buyer, closed["id"])
    assert (shut.status, shut.body["error"]) == (409, "waitlist_closed")
    # Turned off after a sell-out (the edit drops this gateway's cached copy).
    path = f"/api/events/{open_event['id']}"
    await api.book(await api.account(), open_event["id"], 3)
    edited = await api.call("PATCH", path, vendor, json={"waitlist": False})
    assert (edited.status, edited.body["waitlist"]) == (200, False)
    later = await _join(api, buyer, open_event["id"])
    assert (later.status, later.body["error"]) == (409, "waitlist_closed")
    assert (await api.call("GET", path)).body["waitlist"] is False
    missing = await _join(api, buyer, 10**12)
    assert missing.status == 404


def _seen(api: Api) -> list[Outcome]:
    seen: list[Outcome] = []
    api.app[notifications_key].on_outcome(seen.append)
    return seen


@pytest.mark.both_transports
async def test_returned_seats_are_offered_in_order_to_the_first_entry_that_fits(
        api: Api) -> None:
    event, booked, holders = await _sold_out(api, 3)
    big, small, other = await api.accounts(3)
    seen = _seen(api)
    entries = [await _join(api, a, event["id"], q) for a, q in ((big, 2), (small, 1),
                                                                (other, 1))]
    assert [e.body["position"] for e in entries] == [1, 2, 3]
    assert (await _cancel(api, holders[0], booked[0])).status == 200
    # One seat back: the 2-seat entry keeps its place, the next that fits gets the seat.
    [offer] = await _mine(api, small)
    assert (offer["status"], offer["id"], offer["position"]) == (
        "offered", entries[1].body["id"], None)
    assert "expiresAt" in offer
    assert [e["position"] for e in await _mine(api, big)] == [1]
    assert [e["position"] for e in await _mine(api, other)] == [2]
    assert await _available(api, event["id"]) == 0
    # Offered seats are taken: nobody else books them, at the gateway or the actor.
    refused = await api.book(await api.account(), event["id"])
    assert (refused.status, refused.body["error"]) == (409, "sold_out")
    held = await api.call("GET", f"/api/bookings/{offer['id']}", small)
    assert (held.body["status"], held.body["offer"], held.body["quantity"]) == ("held", True, 1)
    # Pushed to its owner as a booking outcome.
    offered_id = uuid.UUID(offer["id"])

    async def pushed() -> bool:
        return any(o.booking_id == offered_id and o.offer and not o.waitlist for o in seen)
    await assert_eventually(pushed, message="the offer never reached its owner's gateway")
    # Two seats back, one by one: the first goes to `other` (the big one still does not
    # fit), the second stays on sale... until both are back together for `big`.
    await _cancel(api, holders[1], booked[1])
    assert [e["status"] for e in await _mine(api, other)] == ["offered"]
    assert [e["status"] for e in await _mine(api, big)] == ["waiting"]
    await _cancel(api, holders[2], booked[2])
    assert await _available(api, event["id"]) == 1  # one seat, the entry wants two
    await api.call("POST", f"/api/bookings/{offer['id']}/cancel", small)
    assert [e["status"] for e in await _mine(api, big)] == ["offered"]
    assert await _available(api, event["id"]) == 0
    assert (await check_invariants(api.pool, [event["id"]])).ok


@pytest.mark.both_transports
async def test_an_unused_offer_expires_and_passes_on(api: Api, clock: FakeClock) -> None:
    event, booked, holders = await _sold_out(api, 1, holdSeconds=30)
    first, second = await api.accounts(2)
    await _join(api, first, event["id"])
    await _join(api, second, event["id"])
    await _cancel(api, holders[0], booked[0])
    [offer] = await _mine(api, first)
    clock.advance(29)
    assert [e["status"] for e in await _mine(api, first)] == ["offered"]
    clock.advance(2)
    assert await _mine(api, first) == []
    expired = await api.call("GET", f"/api/bookings/{offer['id']}", first)
    assert (expired.body["status"], expired.body["offer"]) == ("expired", True)
    [passed] = await _mine(api, second)
    assert passed["status"] == "offered"
    assert await _available(api, event["id"]) == 0
    assert (await check_invariants(api.pool, [event["id"]])).ok


@pytest.mark.both_transports
async def test_an_offer_is_paid_or_accepted(api: Api) -> None:
    # A paid event: the offer is paid like any hold.
    paid = await api.event(totalTickets=1, priceCents=700, currency="EUR")
    holder, waiting = await api.accounts(2)
    hold = await api.book(holder, paid["id"])
    assert (await _join(api, waiting, paid["id"])).status == 201
    await _cancel(api, holder, hold)
    [offer] = await _mine(api, waiting)
    pay_path = f"/api/bookings/{offer['id']}/pay"
    missing = await api.call("POST", pay_path, waiting, json={})
    assert (missing.status, missing.body["error"]) == (422, "invalid_input")
    bought = await api.call("POST", pay_path, waiting, json={"paymentToken": "tok_ok"})
    assert (bought.status, bought.body["status"], bought.body["amountCents"],
            len(bought.body["tickets"])) == (200, "confirmed", 700, 1), bought.body
    # A free event: accepted the same way, with no token and no charge.
    free, booked, holders = await _sold_out(api, 2)
    taker = await api.account()
    assert (await _join(api, taker, free["id"], 2)).status == 201
    await _cancel(api, holders[0], booked[0])
    assert [e["status"] for e in await _mine(api, taker)] == ["waiting"]  # one of two
    await _cancel(api, holders[1], booked[1])
    [gift] = await _mine(api, taker)
    accepted = await api.call("POST", f"/api/bookings/{gift['id']}/pay", taker)
    assert (accepted.status, accepted.body["status"], accepted.body["amountCents"],
            len(accepted.body["tickets"])) == (200, "confirmed", 0, 2), accepted.body
    twice = await api.call("POST", f"/api/bookings/{gift['id']}/pay", taker)
    assert (twice.status, twice.body["status"]) == (200, "confirmed")
    assert await api.pool.fetchval("SELECT count(*) FROM payments WHERE booking_id = $1",
                                   uuid.UUID(gift["id"])) == 0
    assert await _mine(api, taker) == []
    assert (await check_invariants(api.pool, [paid["id"], free["id"]])).ok


@pytest.mark.both_transports
async def test_a_raised_capacity_goes_to_the_list_first(api: Api) -> None:
    vendor = await api.account(Role.VENDOR)
    event = await api.event(vendor, totalTickets=1)
    await api.book(await api.account(), event["id"])
    waiting = await api.account()
    await _join(api, waiting, event["id"], 2)
    raised = await api.call("PATCH", f"/api/events/{event['id']}", vendor,
                            json={"totalTickets": 4})
    assert raised.status == 200

    # The edit's wake-up is sent without a wait for any answer: over RabbitMQ it may still
    # be on its way to the worker when a drain there finds nothing to do.
    async def offered() -> bool:
        return [(e["status"], e["quantity"]) for e in await _mine(api, waiting)] == [
            ("offered", 2)]
    await assert_eventually(offered, message="the raised capacity was never offered")
    assert await _available(api, event["id"]) == 1
    assert (await check_invariants(api.pool, [event["id"]])).ok


@pytest.mark.both_transports
async def test_a_cancel_racing_a_join_ends_one_way_or_the_other(api: Api) -> None:
    for _ in range(4):
        event, booked, holders = await _sold_out(api, 1)
        waiting = await api.account()
        cancelled, joined = await asyncio.gather(_cancel(api, holders[0], booked[0]),
                                                 _join(api, waiting, event["id"]))
        assert cancelled.status == 200
        mine = await _mine(api, waiting)
        if joined.status == 201:  # joined first: the returned seat is its offer
            assert [e["status"] for e in mine] == ["offered"]
            assert await _available(api, event["id"]) == 0
        else:  # the seat came back first: it is on sale, book it
            assert (joined.status, joined.body["error"]) == (409, "not_sold_out")
            assert (mine, await _available(api, event["id"])) == ([], 1)
        assert (await check_invariants(api.pool, [event["id"]])).ok


# -- the actor alone: a new owner reloads the list -----------------------------------------

def _env(*commands: Any) -> Envelope:
    return Envelope(list(commands))


async def _sold_out_event(api: Api, buyers: int) -> tuple[int, list[int]]:
    event = await api.event(totalTickets=1, holdSeconds=20)
    users = [a.id for a in await create_accounts(api.pool, api.issuer, buyers, Role.USER)]
    return event["id"], users


async def test_a_new_owner_reloads_the_list_and_its_open_offers(api: Api,
                                                                 clock: FakeClock) -> None:
    event_id, users = await _sold_out_event(api, 4)
    holder, first, second, third = users
    booking = uuid.uuid4()
    old_outlet, new_outlet = RecordingOutlet(), RecordingOutlet()
    store = PgShardStore(api.pool)
    async with ShardActor(0, store, old_outlet, clock=clock.now, sleeper=clock.sleep) as old:
        old.submit(_env(BookCommand(booking, event_id, holder, 1, "t"),
                        JoinCommand(uuid.uuid4(), event_id, first, 1, "t"),
                        JoinCommand(uuid.uuid4(), event_id, second, 1, "t")))
        await old.drain()
        old.submit(_env(CancelCommand(booking, event_id, holder, "t")))
        await old.drain()
    offered = [o for o in old_outlet.outcomes if o.offer]
    assert [(o.user_id, o.status) for o in offered] == [(first, BookingStatus.HELD)]
    # The old owner is gone. The new one claims the event: the list and the open offer
    # come back, and the offer's deadline with them.
    async with ShardActor(1, store, new_outlet, clock=clock.now, sleeper=clock.sleep) as new:
        new.submit(_env(WakeCommand(event_id),
                        JoinCommand(uuid.uuid4(), event_id, third, 1, "t"),
                        JoinCommand(uuid.uuid4(), event_id, first, 1, "t")))
        await new.drain()
        positions = [(o.user_id, o.status, o.position) for o in new_outlet.outcomes]
        assert positions == [(third, BookingStatus.WAITING, 2),
                             (first, BookingStatus.HELD, None)]  # its open offer
        clock.advance(21)
        await new.drain()
    after = [(o.user_id, o.status) for o in new_outlet.outcomes[2:]]
    assert after == [(first, BookingStatus.EXPIRED), (second, BookingStatus.HELD)]
    assert (await check_invariants(api.pool, [event_id])).ok


async def test_an_actor_restarted_in_process_keeps_the_list(api: Api,
                                                            clock: FakeClock) -> None:
    event_id, users = await _sold_out_event(api, 3)
    holder, first, second = users
    free = (await api.event(totalTickets=5))["id"]
    outlet = FailsAfterCommit()
    runtime = ShardRuntime(PgShardStore(api.pool), shards=1, clock=clock.now,
                           sleeper=clock.sleep)
    await runtime.start(outlet)
    booking = uuid.uuid4()
    try:
        runtime.submit(0, _env(BookCommand(booking, event_id, holder, 1, "t"),
                               JoinCommand(uuid.uuid4(), event_id, first, 1, "t"),
                               JoinCommand(uuid.uuid4(), event_id, second, 1, "t")))
        await runtime.drain()
        runtime.submit(0, _env(CancelCommand(booking, event_id, holder, "t")))
        await runtime.drain()
        dead = runtime.actors[0]
        outlet.fail = True
        runtime.submit(0, _env(BookCommand(uuid.uuid4(), free, holder, 1, "t")))

        async def restarted() -> bool:
            return runtime.actors[0] is not dead

        await assert_eventually(restarted, message="the dead actor was not started again")
        runtime.submit(0, _env(LeaveCommand(uuid.uuid4(), event_id, second, "t")))
        await runtime.drain()
        clock.advance(21)  # the first's offer expires: nobody is left to pass it to
        await runtime.drain()
    finally:
        await runtime.stop()
    mine = [(o.user_id, o.status) for o in outlet.outcomes
            if o.event_id == event_id and o.user_id != holder]
    assert mine == [(first, BookingStatus.WAITING), (second, BookingStatus.WAITING),
                    (first, BookingStatus.HELD), (second, BookingStatus.LEFT),
                    (first, BookingStatus.EXPIRED)]
    assert await api.pool.fetchval(
        "SELECT capacity - sold - held FROM events WHERE id = $1", event_id) == 1
    assert (await check_invariants(api.pool, [event_id, free])).ok


async def test_the_checker_finds_a_broken_list(api: Api) -> None:
    event, _, holders = await _sold_out(api, 1)
    user = await api.account()
    assert (await _join(api, user, event["id"])).status == 201
    # An offer nobody was offered: a held booking flagged as an offer, with no entry.
    await api.pool.execute(
        "INSERT INTO bookings (id, event_id, user_id, quantity, status, expires_at, offer)"
        " VALUES ($1, $2, $3, 1, 'held', now(), true)", uuid.uuid4(), event["id"], user.id)
    report = await check_invariants(api.pool, [event["id"]])
    assert [k for k, v in report.violations.items() if v] == [
        "I1 oversold", "I1 held counter", "I7 more than one waiting-list entry",
        "I7 offer without its entry"]
    del holders


def test_waitlist_commands_and_answers_cross_the_wire() -> None:
    commands = [JoinCommand(uuid.uuid4(), 7, 3, 2, "r"), LeaveCommand(uuid.uuid4(), 7, 3, "r"),
                WakeCommand(7, edited=True)]
    assert decode_commands(encode_commands(commands)) == commands  # type: ignore[arg-type]
    answers = [Outcome(uuid.uuid4(), 7, 3, BookingStatus.WAITING, 2, waitlist=True,
                       position=12, answers=uuid.uuid4()),
               Outcome(uuid.uuid4(), 7, 3, BookingStatus.HELD, 2, offer=True,
                       expires_at=datetime.now().astimezone(), amount_cents=0,
                       currency="EUR")]
    assert decode_outcomes(encode_outcomes(answers)) == answers


async def test_a_join_sent_again_after_it_was_done_with_is_answered_not_redone(
        api: Api) -> None:
    event_id, users = await _sold_out_event(api, 2)
    holder, buyer = users
    join = JoinCommand(uuid.uuid4(), event_id, buyer, 1, "t")
    outlet = RecordingOutlet()
    async with ShardActor(0, PgShardStore(api.pool), outlet) as actor:
        actor.submit(_env(BookCommand(uuid.uuid4(), event_id, holder, 1, "t"), join))
        await actor.drain()
        actor.submit(_env(LeaveCommand(uuid.uuid4(), event_id, buyer, "t")))
        await actor.drain()
        # A redelivery of the join, then a resend the broker did not flag: both find the
        # entry stored (left), and neither adds it again.
        actor.submit(Envelope([join], None, True))
        actor.submit(_env(join))
        await actor.drain()
    assert [(o.booking_id, o.status) for o in outlet.outcomes[1:]] == [
        (join.booking_id, BookingStatus.WAITING), (join.booking_id, BookingStatus.LEFT),
        (join.booking_id, BookingStatus.LEFT), (join.booking_id, BookingStatus.LEFT)]
    assert await api.pool.fetchval(
        "SELECT count(*) FROM waitlist_entries WHERE user_id = $1", buyer) == 1
