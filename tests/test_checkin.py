"""Door staff and check-in (issue 13): staff granted per event by its vendor; a ticket checked
in once, decided by the event's shard actor in order with its cancels; the state a restarted
or new owner loads."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pytest

from engine.checkin import CheckinDesk
from engine.door import Door
from engine.errors import Unavailable
from engine.messages import (
    BookCommand,
    CancelCommand,
    CheckinCommand,
    CheckinResult,
    Outcome,
    TicketInfo,
    WakeCommand,
    decode_commands,
    decode_outcomes,
    encode_commands,
    encode_outcomes,
)
from engine.runtime import ShardActor, ShardRuntime
from engine.storage.deadletters import record_dead
from engine.storage.invariants import check_invariants
from engine.storage.shard_store import PgShardStore
from engine.transport.base import Envelope
from engine.types import BookingStatus, Role, Strategy
from gateway.keys import metrics_key, service_key
from tests.factories import Account
from tests.helpers import Api, assert_eventually
from tests.test_actor import FailsAfterCommit, RecordingOutlet


async def _sold(api: Api, vendor: Account | None = None, quantity: int = 2,
                buyer: Account | None = None) -> tuple[dict[str, Any], Account, dict[str, Any]]:
    """A free event of `vendor` (a new one if None), and a confirmed booking of `quantity`
    seats on it: (event, buyer, booking)."""
    vendor = vendor or await api.account(Role.VENDOR)
    event = await api.event(vendor, totalTickets=20)
    buyer = buyer or await api.account()
    booked = await api.book(buyer, event["id"], quantity)
    assert (booked.status, booked.body["status"]) == (201, "confirmed"), booked.body
    return event, buyer, booked.body


async def _check_in(api: Api, who: Account, event_id: int, code: str) -> Any:
    return await api.call("POST", f"/api/events/{event_id}/checkin", who, json={"code": code})


# -- door staff ------------------------------------------------------------------------


async def test_a_vendor_grants_lists_and_revokes_door_staff(api: Api) -> None:
    vendor = await api.account(Role.VENDOR)
    event = await api.event(vendor)
    door = await api.account()
    path = f"/api/events/{event['id']}/staff"
    granted = await api.call("POST", path, vendor, json={"email": door.email.upper()})
    assert granted.status == 201, granted.body
    assert (granted.body["userId"], granted.body["email"], granted.body["eventId"]) == (
        door.id, door.email, event["id"])
    again = await api.call("POST", path, vendor, json={"email": door.email})
    assert (again.status, again.body) == (200, granted.body)
    listed = await api.call("GET", path, vendor)
    assert (listed.status, listed.body) == (200, [granted.body])
    # The account's role does not change: staff is a right on this event only.
    assert await api.pool.fetchval("SELECT role FROM users WHERE id = $1", door.id) == "USER"
    assert (await api.call("DELETE", f"{path}/{door.id}", vendor)).status == 204
    assert (await api.call("GET", path, vendor)).body == []
    gone = await api.call("DELETE", f"{path}/{door.id}", vendor)
    assert (gone.status, gone.body["error"]) == (404, "not_found")


async def test_only_the_events_vendor_or_an_admin_manage_its_staff(api: Api) -> None:
    vendor, other_vendor = await api.accounts(2, Role.VENDOR)
    admin = await api.account(Role.ADMIN)
    buyer = await api.account()
    event = await api.event(vendor)
    path = f"/api/events/{event['id']}/staff"
    body = {"email": buyer.email}
    for who, status, code in ((buyer, 403, "forbidden"), (other_vendor, 403, "forbidden"),
                              (None, 401, "unauthenticated")):
        for method, json in (("POST", body), ("GET", None)):
            reply = await api.call(method, path, who, json=json)
            assert (reply.status, reply.body["error"]) == (status, code), (method, reply.body)
        revoke = await api.call("DELETE", f"{path}/{buyer.id}", who)
        assert (revoke.status, revoke.body["error"]) == (status, code)
    missing = await api.call("POST", "/api/events/999999999/staff", vendor, json=body)
    assert (missing.status, missing.body["error"]) == (404, "not_found")
    unknown = await api.call("POST", path, vendor, json={"email": "nobody@example.invalid"})
    assert (unknown.status, unknown.body["error"]) == (404, "unknown_user")
    bad = await api.call("POST", path, vendor, json={"email": buyer.email, "role": "ADMIN"})
    assert bad.status == 422
    assert (await api.call("POST", path, admin, json=body)).status == 201
    assert [m["userId"] for m in (await api.call("GET", path, admin)).body] == [buyer.id]


# -- check-in ---------------------------------------------------------------------------


@pytest.mark.both_transports
async def test_a_ticket_is_checked_in_once(api: Api) -> None:
    vendor = await api.account(Role.VENDOR)
    event, buyer, booking = await _sold(api, vendor)
    door = await api.account()
    grant = await api.call("POST", f"/api/events/{event['id']}/staff", vendor,
                           json={"email": door.email})
    assert grant.status == 201
    first, second = booking["tickets"]
    before = datetime.now().astimezone()
    done = await _check_in(api, door, event["id"], first["code"])
    assert done.status == 200, done.body
    assert done.body["ticket"] == first
    at = datetime.fromisoformat(done.body["checkedInAt"])
    assert before <= at <= datetime.now().astimezone()
    # Again, by anyone allowed: refused, with the first time.
    for who in (door, vendor):
        again = await _check_in(api, who, event["id"], first["code"])
        assert (again.status, again.body["error"]) == (409, "already_checked_in"), again.body
        assert (again.body["checkedInAt"], again.body["ticket"]) == (done.body["checkedInAt"],
                                                                      first)
    # The vendor checks the other ticket in; the event as its vendor reads it counts both.
    assert (await _check_in(api, vendor, event["id"], second["code"])).status == 200
    read = await api.call("GET", f"/api/events/{event['id']}", vendor)
    assert read.body["checkedIn"] == 2
    for who in (buyer, None):
        assert "checkedIn" not in (await api.call("GET", f"/api/events/{event['id']}",
                                                  who)).body
    stored = await api.pool.fetch(
        "SELECT checked_in_by FROM tickets WHERE booking_id = $1 ORDER BY code",
        uuid.UUID(booking["id"]))
    assert [r["checked_in_by"] for r in stored] == [door.id, vendor.id]
    assert (await check_invariants(api.pool, [event["id"]])).ok


@pytest.mark.both_transports
async def test_unknown_foreign_and_void_tickets_are_refused(api: Api) -> None:
    vendor = await api.account(Role.VENDOR)
    event, buyer, booking = await _sold(api, vendor)
    other_event, _, other_booking = await _sold(api, vendor)
    unknown = await _check_in(api, vendor, event["id"], "TW-00000-00000")
    assert (unknown.status, unknown.body["error"]) == (404, "unknown_ticket"), unknown.body
    # A code of another event, even the same vendor's, is unknown at this door.
    foreign = await _check_in(api, vendor, event["id"], other_booking["tickets"][0]["code"])
    assert (foreign.status, foreign.body["error"]) == (404, "unknown_ticket")
    cancelled = await api.call("POST", f"/api/bookings/{booking['id']}/cancel", buyer)
    assert cancelled.status == 200, cancelled.body
    code = booking["tickets"][0]["code"]
    void = await _check_in(api, vendor, event["id"], code)
    assert (void.status, void.body["error"]) == (409, "ticket_void"), void.body
    assert void.body["ticket"] == {**booking["tickets"][0], "void": True}
    assert (await api.call("GET", f"/api/events/{event['id']}", vendor)).body["checkedIn"] == 0
    assert (await check_invariants(api.pool, [event["id"], other_event["id"]])).ok


async def test_only_its_vendor_its_staff_or_an_admin_check_in(api: Api) -> None:
    vendor, other_vendor = await api.accounts(2, Role.VENDOR)
    admin = await api.account(Role.ADMIN)
    event, buyer, booking = await _sold(api, vendor, quantity=3)
    other_event = await api.event(other_vendor)
    door = await api.account()
    staff_path = f"/api/events/{other_event['id']}/staff"
    # Staff of another event is nobody here.
    assert (await api.call("POST", staff_path, other_vendor,
                           json={"email": door.email})).status == 201
    codes = [t["code"] for t in booking["tickets"]]
    for who in (buyer, other_vendor, door):
        refused = await _check_in(api, who, event["id"], codes[0])
        assert (refused.status, refused.body["error"]) == (403, "forbidden"), refused.body
    anonymous = await _check_in(api, None, event["id"], codes[0])  # type: ignore[arg-type]
    assert anonymous.status == 401
    missing = await _check_in(api, vendor, 999999999, codes[0])
    assert (missing.status, missing.body["error"]) == (404, "not_found")
    assert (await _check_in(api, admin, event["id"], codes[0])).status == 200
    # Granted, then revoked: the right ends with the row.
    path = f"/api/events/{event['id']}/staff"
    assert (await api.call("POST", path, vendor, json={"email": door.email})).status == 201
    assert (await _check_in(api, door, event["id"], codes[1])).status == 200
    assert (await api.call("DELETE", f"{path}/{door.id}", vendor)).status == 204
    revoked = await _check_in(api, door, event["id"], codes[2])
    assert (revoked.status, revoked.body["error"]) == (403, "forbidden")
    for body in ({}, {"code": ""}, {"code": 12}, {"code": "x" * 65}, {"code": "a\nb"}):
        bad = await api.call("POST", f"/api/events/{event['id']}/checkin", vendor, json=body)
        assert bad.status == 422, (body, bad.body)


@pytest.mark.both_transports
async def test_a_booking_with_a_ticket_checked_in_cannot_be_cancelled(api: Api) -> None:
    vendor = await api.account(Role.VENDOR)
    event, buyer, booking = await _sold(api, vendor)
    first, second = booking["tickets"]
    assert (await _check_in(api, vendor, event["id"], first["code"])).status == 200
    refused = await api.call("POST", f"/api/bookings/{booking['id']}/cancel", buyer)
    assert (refused.status, refused.body["error"]) == (409, "checked_in"), refused.body
    reread = await api.call("GET", f"/api/bookings/{booking['id']}", buyer)
    assert (reread.body["status"], reread.body["tickets"]) == ("confirmed", [first, second])
    # The booking stands: its other ticket is still good at the door.
    assert (await _check_in(api, vendor, event["id"], second["code"])).status == 200
    assert await api.pool.fetchval("SELECT sold FROM events WHERE id = $1", event["id"]) == 2
    assert (await check_invariants(api.pool, [event["id"]])).ok


@pytest.mark.both_transports
async def test_a_cancel_and_a_check_in_racing_on_one_booking_have_one_order(api: Api) -> None:
    vendor = await api.account(Role.VENDOR)
    event = await api.event(vendor, totalTickets=50)
    buyers = await api.accounts(8)
    bookings = [(await api.book(b, event["id"], 1)).body for b in buyers]
    assert {b["status"] for b in bookings} == {"confirmed"}

    async def race(buyer: Account, booking: dict[str, Any]) -> tuple[int, int, Any, Any]:
        cancel, checkin = await asyncio.gather(
            api.call("POST", f"/api/bookings/{booking['id']}/cancel", buyer),
            _check_in(api, vendor, event["id"], booking["tickets"][0]["code"]))
        return cancel.status, checkin.status, cancel.body, checkin.body

    results = await asyncio.gather(*(race(b, k) for b, k in zip(buyers, bookings,
                                                               strict=True)))
    for (cancel, checkin, cancel_body, checkin_body), booking in zip(results, bookings,
                                                                     strict=True):
        if cancel == 200:  # the cancel came first: the ticket is void
            assert (checkin, checkin_body["error"]) == (409, "ticket_void"), checkin_body
            expected = ("cancelled", None)
        else:  # the check-in came first: the booking stands
            assert (cancel, cancel_body["error"], checkin) == (409, "checked_in", 200), (
                cancel_body, checkin_body)
            expected = ("confirmed", checkin_body["checkedInAt"])
        row = await api.pool.fetchrow(
            "SELECT b.status, t.checked_in_at FROM bookings b JOIN tickets t"
            " ON t.booking_id = b.id WHERE b.id = $1", uuid.UUID(booking["id"]))
        at = row["checked_in_at"]
        assert (row["status"], None if at is None else at) == (
            expected[0], None if expected[1] is None else datetime.fromisoformat(expected[1]))
    assert (await check_invariants(api.pool, [event["id"]])).ok


async def test_check_ins_are_counted_by_outcome(api: Api) -> None:
    vendor = await api.account(Role.VENDOR)
    event, buyer, booking = await _sold(api, vendor)
    counter = api.app[metrics_key].checkins

    def counted() -> dict[str, float]:
        return {o: counter.labels(o)._value.get() for o in (
            "checked_in", "already_checked_in", "unknown_ticket", "ticket_void")}

    before = counted()
    code = booking["tickets"][0]["code"]
    for c in (code, code, code, "TW-NOPE0-NOPE0"):
        await _check_in(api, vendor, event["id"], c)
    await api.call("POST", f"/api/bookings/{booking['id']}/cancel", buyer)  # refused
    _, other_buyer, other = await _sold(api, vendor, quantity=1)
    await api.call("POST", f"/api/bookings/{other['id']}/cancel", other_buyer)
    await _check_in(api, vendor, other["eventId"], other["tickets"][0]["code"])
    after = counted()
    assert {k: after[k] - before[k] for k in after} == {
        "checked_in": 1, "already_checked_in": 2, "unknown_ticket": 1, "ticket_void": 1}


async def test_the_per_request_strategies_refuse_check_in_and_keep_checked_in_bookings(
        api: Api, make_api: Any) -> None:
    vendor = await api.account(Role.VENDOR)
    event, buyer, booking = await _sold(api, vendor)
    assert (await _check_in(api, vendor, event["id"], booking["tickets"][0]["code"])).status \
        == 200
    locked = await make_api(booking_strategy=Strategy.LOCKED)
    refused = await _check_in(locked, vendor, event["id"], booking["tickets"][1]["code"])
    assert (refused.status, refused.body["error"]) == (409, "checkin_needs_queued")
    cancel = await locked.call("POST", f"/api/bookings/{booking['id']}/cancel", buyer)
    assert (cancel.status, cancel.body["error"]) == (409, "checked_in"), cancel.body
    assert (await check_invariants(api.pool, [event["id"]])).ok


# -- the actor alone: restarts and a new owner -------------------------------------------


def _checkin(event_id: int, user_id: int, code: str) -> CheckinCommand:
    return CheckinCommand(uuid.uuid4(), event_id, user_id, code, "test")


def _answers(outcomes: Sequence[Outcome]) -> list[tuple[str | None, datetime | None]]:
    return [(o.reason, o.checkin.checked_in_at) for o in outcomes if o.checkin is not None]


async def test_a_check_in_survives_an_actor_restarted_in_process(api: Api) -> None:
    event, _, booking = await _sold(api, quantity=2)
    first, second = (t["code"] for t in booking["tickets"])
    scanner = (await api.account()).id
    outlet = FailsAfterCommit()
    runtime = ShardRuntime(PgShardStore(api.pool), shards=1)
    await runtime.start(outlet)
    try:
        runtime.submit(0, Envelope([_checkin(event["id"], scanner, first)]))
        await runtime.drain()
        dead = runtime.actors[0]
        outlet.fail = True
        # Committed, then the actor dies before answering: its successor decides the very
        # same command again, from the state it loads, and answers it as checked in.
        retried = _checkin(event["id"], scanner, second)
        runtime.submit(0, Envelope([retried]))

        async def restarted() -> bool:
            return runtime.actors[0] is not dead

        await assert_eventually(restarted, message="the dead actor was not started again")
        await runtime.drain()
        runtime.submit(0, Envelope([_checkin(event["id"], scanner, first),
                                    _checkin(event["id"], scanner, second)]))
        await runtime.drain()
    finally:
        await runtime.stop()
    stored = {r["code"]: (r["checked_in_at"], r["checkin_id"]) for r in await api.pool.fetch(
        "SELECT code, checked_in_at, checkin_id FROM tickets WHERE event_id = $1",
        event["id"])}
    assert stored[second][1] == retried.checkin_id
    assert _answers(outlet.outcomes) == [
        (None, stored[first][0]), (None, stored[second][0]),
        ("already_checked_in", stored[first][0]), ("already_checked_in", stored[second][0])]
    assert (await check_invariants(api.pool, [event["id"]])).ok


async def test_a_new_owner_loads_the_door_and_the_old_one_is_fenced(api: Api) -> None:
    event, buyer, booking = await _sold(api, quantity=2)
    first, second = (t["code"] for t in booking["tickets"])
    booking_id = uuid.UUID(booking["id"])
    scanner = (await api.account()).id
    old_outlet, new_outlet = RecordingOutlet(), RecordingOutlet()
    store = PgShardStore(api.pool)
    async with ShardActor(0, store, old_outlet) as old, \
            ShardActor(1, store, new_outlet) as new:
        old.submit(Envelope([_checkin(event["id"], scanner, first)]))
        await old.drain()
        new.submit(Envelope([WakeCommand(event["id"])]))  # the event moved: a new owner
        await new.drain()
        new.submit(Envelope([_checkin(event["id"], scanner, first),
                             CancelCommand(booking_id, event["id"], buyer.id, "test")]))
        await new.drain()
        moved = _checkin(event["id"], scanner, second)
        old.submit(Envelope([moved]))  # the old owner learns of the move at its write
        await old.drain()
        assert old.fenced == 1 and old_outlet.forwarded == [moved]
        # A ticket the new owner issued is unknown to the old one's door: its refusal is
        # fenced as well, never answered "unknown".
        old.submit(Envelope([WakeCommand(event["id"])]))  # claims it back, loads a door
        old.submit(Envelope([_checkin(event["id"], scanner, first)]))
        await old.drain()
        third_outlet = RecordingOutlet()
        async with ShardActor(2, store, third_outlet) as third:  # a third owner sells
            third.submit(Envelope([BookCommand(uuid.uuid4(), event["id"], buyer.id, 1,
                                               "test")]))
            await third.drain()
        fresh = _checkin(event["id"], scanner, third_outlet.outcomes[-1].tickets[0].code)
        old.submit(Envelope([fresh]))
        await old.drain()
        assert old.fenced == 2 and old_outlet.forwarded == [moved, fresh]
    checked_at = await api.pool.fetchval("SELECT checked_in_at FROM tickets WHERE code = $1",
                                         first)
    assert _answers(old_outlet.outcomes) == [(None, checked_at),
                                             ("already_checked_in", checked_at)]
    assert _answers(new_outlet.outcomes) == [("already_checked_in", checked_at)]
    refusal = [o for o in new_outlet.outcomes if o.checkin is None]
    assert [(o.status, o.reason) for o in refusal] == [(BookingStatus.CONFIRMED, "checked_in")]
    assert await api.pool.fetchval("SELECT checked_in_at FROM tickets WHERE code = $1",
                                   second) is None
    assert (await check_invariants(api.pool, [event["id"]])).ok


class _CountingDoors(PgShardStore):
    """Counts the door loads."""

    loads: list[set[int]]

    async def doors(self, event_ids: set[int]) -> dict[int, Door]:
        self.loads.append(set(event_ids))
        return await super().doors(event_ids)


async def test_the_door_is_loaded_once_and_kept_current_by_the_actor(api: Api) -> None:
    event, buyer, booking = await _sold(api, quantity=2)
    store = _CountingDoors(api.pool)
    store.loads = []
    scanner = (await api.account()).id
    outlet = RecordingOutlet()
    async with ShardActor(0, store, outlet) as actor:
        for code in [t["code"] for t in booking["tickets"]] * 2:
            actor.submit(Envelope([_checkin(event["id"], scanner, code)]))
            await actor.drain()
        bought = BookCommand(uuid.uuid4(), event["id"], buyer.id, 1, "test")
        actor.submit(Envelope([bought]))
        await actor.drain()
        actor.submit(Envelope([_checkin(event["id"], scanner,
                                        outlet.outcomes[-1].tickets[0].code)]))
        await actor.drain()
    assert store.loads == [{event["id"]}]
    assert [o.reason for o in outlet.outcomes if o.checkin is not None] == [
        None, None, "already_checked_in", "already_checked_in", None]


async def test_a_cancel_and_a_check_in_in_one_batch_are_decided_in_order(api: Api) -> None:
    event, buyer, booking = await _sold(api, quantity=1)
    other_buyer = await api.account()
    scanner = (await api.account()).id
    outlet = RecordingOutlet()
    async with ShardActor(0, PgShardStore(api.pool), outlet) as actor:
        # A new booking's tickets join a loaded door at once; the first command loads it.
        actor.submit(Envelope([_checkin(event["id"], scanner, "TW-LOAD0-LOAD0")]))
        await actor.drain()
        new = BookCommand(uuid.uuid4(), event["id"], other_buyer.id, 1, "test")
        actor.submit(Envelope([new]))
        await actor.drain()
        new_code = outlet.outcomes[-1].tickets[0].code
        actor.submit(Envelope([
            CancelCommand(uuid.UUID(booking["id"]), event["id"], buyer.id, "test"),
            _checkin(event["id"], scanner, booking["tickets"][0]["code"]),
            _checkin(event["id"], scanner, new_code),
            CancelCommand(new.booking_id, event["id"], other_buyer.id, "test")]))
        await actor.drain()
    last = outlet.outcomes[-4:]
    assert [(o.status, o.reason) for o in last] == [
        (BookingStatus.CANCELLED, None), (BookingStatus.REJECTED, "ticket_void"),
        (BookingStatus.CONFIRMED, None), (BookingStatus.CONFIRMED, "checked_in")]
    assert (await check_invariants(api.pool, [event["id"]])).ok


# -- the wire, dead letters, the invariants -----------------------------------------------


def test_check_in_commands_and_answers_cross_the_wire() -> None:
    command = _checkin(7, 3, "TW-ABCDE-FGHJK")
    assert decode_commands(encode_commands([command])) == [command]
    answer = Outcome(command.checkin_id, 7, 3, BookingStatus.CONFIRMED, 1, None,
                     (TicketInfo(uuid.uuid4(), "TW-ABCDE-FGHJK"),), "r",
                     checkin=CheckinResult(datetime.now().astimezone()))
    refused = Outcome(command.checkin_id, 7, 3, BookingStatus.REJECTED, 0, "unknown_ticket",
                      reply_to="r", checkin=CheckinResult())
    booking = Outcome(uuid.uuid4(), 7, 3, BookingStatus.CONFIRMED, 1)
    assert decode_outcomes(encode_outcomes([answer, refused, booking])) == [
        answer, refused, booking]


async def test_a_dead_lettered_check_in_is_answered_and_changes_nothing(api: Api) -> None:
    event, _, booking = await _sold(api, quantity=1)
    command = _checkin(event["id"], 1, booking["tickets"][0]["code"])
    [answer] = await record_dead(api.pool, [command])
    assert (answer.booking_id, answer.reason, answer.reply_to, answer.checkin) == (
        command.checkin_id, "undeliverable", "test", CheckinResult())
    assert await api.pool.fetchval("SELECT count(*) FROM tickets WHERE event_id = $1"
                                   " AND checked_in_at IS NOT NULL", event["id"]) == 0


async def test_the_invariants_name_a_void_or_unconfirmed_ticket_checked_in(api: Api) -> None:
    vendor = await api.account(Role.VENDOR)
    event, _, booking = await _sold(api, vendor, quantity=1)
    assert (await _check_in(api, vendor, event["id"],
                            booking["tickets"][0]["code"])).status == 200
    report = await check_invariants(api.pool, [event["id"]])
    assert report.ok and report.checked_in == 1
    async with api.pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            # Only by hand, past the constraint that refuses it.
            await conn.execute("ALTER TABLE tickets DROP CONSTRAINT checked_in_not_void")
            await conn.execute("UPDATE tickets SET voided_at = now() WHERE event_id = $1",
                               event["id"])
            await conn.execute("UPDATE bookings SET status = 'cancelled' WHERE id = $1",
                               uuid.UUID(booking["id"]))
            broken = await check_invariants(conn, [event["id"]])
        finally:
            await tx.rollback()
    assert [len(broken.violations[k]) for k in (
        "C1 void ticket checked in", "C2 checked in, booking not confirmed")] == [1, 1]
    assert not broken.ok


async def test_a_check_in_that_was_dead_lettered_answers_try_again(api: Api) -> None:
    vendor = await api.account(Role.VENDOR)
    event, _, booking = await _sold(api, vendor, quantity=1)
    principal = api.issuer.verify(vendor.token)

    async def dead_lettered(event_id: int, user_id: int, code: str) -> Outcome:
        [answer] = await record_dead(api.pool, [_checkin(event_id, user_id, code)])
        return answer

    desk = CheckinDesk(api.pool, api.app[service_key].event, dead_lettered)
    with pytest.raises(Unavailable) as refused:
        await desk.check_in(principal, event["id"], booking["tickets"][0]["code"])
    assert refused.value.retry_after == 5 and "undeliverable" in refused.value.message
