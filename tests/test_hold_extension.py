"""Adjustable hold deadlines (issue 13, WCAG 2.2.1): the owning actor warns the buyer 60 s
before a hold or offer expires (halfway through a shorter one) — a `booking` stream event and
an email — and grants one
extension, decided in order with the deadline on the actor's clock (tests move a fake one)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from engine.messages import (
    CancelCommand,
    ExtendCommand,
    Outcome,
    decode_commands,
    encode_commands,
)
from engine.storage.invariants import check_invariants
from engine.transport.base import Envelope
from engine.types import BookingStatus
from gateway.keys import notifications_key
from tests.clock import FakeClock
from tests.factories import Account
from tests.helpers import Api, Reply, assert_eventually
from tests.test_actor import RecordingOutlet
from tests.test_holds import _actor, _book, _paid_event
from tests.test_stream import _next_booking


def _warnings(api: Api, booking: dict[str, Any]) -> list[Outcome]:
    """The warnings this gateway hears for `booking`: only its own, as a gateway's runtime
    also takes over the open holds earlier tests left in the shared database (and warns them
    when the shared clock moves)."""
    seen: list[Outcome] = []
    api.app[notifications_key].on_outcome(
        lambda o: seen.append(o) if o.warning and str(o.booking_id) == booking["id"] else None)
    return seen


async def _held(api: Api, hold_seconds: int = 120) -> tuple[dict[str, Any], Account,
                                                           dict[str, Any]]:
    event = await api.event(totalTickets=3, priceCents=800, holdSeconds=hold_seconds)
    buyer = await api.account()
    held = await api.book(buyer, event["id"], 1)
    assert held.body["status"] == "held", held.body
    return event, buyer, held.body


async def _extend(api: Api, buyer: Account, booking: dict[str, Any]) -> Reply:
    return await api.call("POST", f"/api/bookings/{booking['id']}/extend", buyer)


def _at(reply: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(reply["expiresAt"])


async def _warning_rows(api: Api, booking: dict[str, Any]) -> int:
    return int(await api.pool.fetchval(
        "SELECT count(*) FROM notifications WHERE kind = 'warning' AND booking_id = $1",
        uuid.UUID(booking["id"])))


@pytest.mark.both_transports
async def test_the_buyer_is_warned_a_minute_before_the_deadline(
        api: Api, clock: FakeClock) -> None:
    _, buyer, booking = await _held(api)
    seen = _warnings(api, booking)
    ticket = (await api.call("POST", "/api/stream/ticket", buyer)).body["ticket"]
    async with api.client.get(f"/api/stream?ticket={ticket}") as stream:
        assert (await stream.content.readline()).startswith(b"retry:")
        clock.advance(59)
        await api.drain()
        assert seen == [] and await _warning_rows(api, booking) == 0  # not yet
        clock.advance(2)  # 61 s in: 59 s left
        await api.drain()
        async with asyncio.timeout(5):
            frame = await _next_booking(stream)
    assert (frame["id"], frame["status"], frame["warning"]) == (booking["id"], "held", True)
    assert frame["expiresAt"] == booking["expiresAt"]
    assert await _warning_rows(api, booking) == 1  # its email, in the outbox
    clock.advance(10)
    await api.drain()
    assert len(seen) == 1  # once per deadline
    assert (await api.call("GET", f"/api/bookings/{booking['id']}", buyer)).body[
        "status"] == "held"


@pytest.mark.both_transports
async def test_a_hold_is_extended_once_and_expires_at_its_new_deadline(
        api: Api, clock: FakeClock) -> None:
    event, buyer, booking = await _held(api)
    clock.advance(70)  # warned
    await api.drain()
    extended = await _extend(api, buyer, booking)
    assert extended.status == 200, extended.body
    assert extended.body["status"] == "held" and extended.body["extended"] is True
    assert _at(extended.body) == _at(booking) + timedelta(seconds=120)
    again = await _extend(api, buyer, booking)
    assert (again.status, again.body["error"]) == (409, "already_extended")
    reread = await api.call("GET", f"/api/bookings/{booking['id']}", buyer)
    assert reread.body["expiresAt"] == extended.body["expiresAt"]
    assert reread.body["extended"] is True
    seen = _warnings(api, booking)
    clock.advance(51)  # 121 s in, past the first deadline: still held
    await api.drain()
    reread = await api.call("GET", f"/api/bookings/{booking['id']}", buyer)
    assert reread.body["status"] == "held"
    clock.advance(60)  # 181 s in: warned again, a minute before the new deadline
    await api.drain()

    async def warned_again() -> bool:
        return len(seen) == 1
    await assert_eventually(warned_again, message="no warning before the new deadline")
    clock.advance(60)  # 241 s in: past the new deadline
    await api.drain()
    expired = await api.call("GET", f"/api/bookings/{booking['id']}", buyer)
    assert expired.body["status"] == "expired"
    late = await _extend(api, buyer, booking)
    assert (late.status, late.body["error"]) == (409, "hold_expired")
    assert (await check_invariants(api.pool, [event["id"]])).ok


async def test_only_an_open_hold_of_the_caller_is_extended(api: Api, clock: FakeClock) -> None:
    event, buyer, booking = await _held(api, hold_seconds=30)
    stranger = await api.account()
    assert (await _extend(api, stranger, booking)).status == 404
    assert (await _extend(api, buyer, {"id": str(uuid.uuid4())})).status == 404
    free = await api.event(totalTickets=1)
    confirmed = (await api.book(buyer, free["id"])).body
    refused = await _extend(api, buyer, confirmed)
    assert (refused.status, refused.body["error"]) == (409, "not_extendable")
    clock.advance(31)  # over by the clock, not yet decided: the actor refuses it in order
    late = await _extend(api, buyer, booking)
    assert (late.status, late.body["error"]) == (409, "hold_expired")
    await api.drain()
    assert (await api.call("GET", f"/api/bookings/{booking['id']}", buyer)).body[
        "status"] == "expired"
    # Its warning (15 s ahead) fell due with its deadline, in the same batch: not sent.
    assert await _warning_rows(api, booking) == 0
    assert (await check_invariants(api.pool, [event["id"]])).ok


@pytest.mark.both_transports
@pytest.mark.parametrize(("hold_seconds", "lead"), [(10, 5), (30, 15), (121, 60)])
async def test_a_short_hold_is_warned_half_its_length_ahead(
        make_api: Any, clock: FakeClock, hold_seconds: int, lead: int) -> None:
    # A minute ahead, or half the hold when it is shorter than two minutes: a 30 s hold is
    # warned 15 s before its end, not as it is taken (nor never).
    api: Api = await make_api()
    _, buyer, booking = await _held(api, hold_seconds)
    assert _at(booking) - datetime.fromisoformat(booking["warnAt"]) == timedelta(seconds=lead)
    seen = _warnings(api, booking)
    clock.advance(hold_seconds - lead - 1)
    await api.drain()
    assert seen == [] and await _warning_rows(api, booking) == 0  # not yet
    clock.advance(1)
    await api.drain()

    async def warned(times: int) -> bool:  # pushed per deadline; its email once per hold
        return len(seen) == times and await _warning_rows(api, booking) == 1
    await assert_eventually(lambda: warned(1), message=f"no warning {lead} s ahead")
    assert seen[0].warn_at == datetime.fromisoformat(booking["warnAt"])
    reread = (await api.call("GET", f"/api/bookings/{booking['id']}", buyer)).body
    assert reread["warnAt"] == booking["warnAt"]
    [listed] = (await api.call("GET", "/api/me/bookings", buyer)).body
    assert listed["warnAt"] == booking["warnAt"]
    extended = (await _extend(api, buyer, booking)).body
    assert _at(extended) - datetime.fromisoformat(extended["warnAt"]) == timedelta(
        seconds=lead)  # the same lead before the new deadline
    clock.advance(hold_seconds - 1)  # the extension added hold_seconds: warned again
    await api.drain()
    await assert_eventually(lambda: warned(2), message="no warning before the new deadline")


async def test_a_new_owner_keeps_the_extension_and_the_warning(
        make_api: Any, clock: FakeClock) -> None:
    api: Api = await make_api()
    event, buyer, booking = await _held(api)
    clock.advance(61)
    await api.drain()
    assert (await _extend(api, buyer, booking)).status == 200
    # Another gateway with its own actors claims the event: it reloads the hold as extended.
    successor: Api = await make_api()
    again = await _extend(successor, buyer, booking)
    assert (again.status, again.body["error"]) == (409, "already_extended")
    clock.advance(180)  # 241 s: past the extended deadline, decided by the new owner
    await successor.drain()
    reread = await successor.call("GET", f"/api/bookings/{booking['id']}", buyer)
    assert reread.body["status"] == "expired"
    assert (await check_invariants(api.pool, [event["id"]])).ok


async def test_a_hold_ended_in_the_batch_its_warning_falls_due_is_not_warned(
        api: Api, clock: FakeClock) -> None:
    event_id, [buyer, other] = await _paid_event(api, 4, 120, 2)
    outlet = RecordingOutlet()
    async with _actor(api, clock, outlet) as actor:
        actor.submit(_book(event_id, buyer))
        actor.submit(_book(event_id, other))
        await actor.drain()
        cancelled, kept = (o.booking_id for o in outlet.outcomes)
        clock.advance(61)  # both warnings due; the cancel is decided in the same batch
        actor.submit(Envelope([CancelCommand(cancelled, event_id, buyer, "test")]))
        await actor.drain()
    after = outlet.outcomes[2:]
    assert [(o.booking_id, o.status, o.warning) for o in after] == [
        (cancelled, BookingStatus.CANCELLED, False), (kept, BookingStatus.HELD, True)]
    assert await _warning_rows(api, {"id": str(kept)}) == 1
    assert await _warning_rows(api, {"id": str(cancelled)}) == 0


def test_an_extension_crosses_the_wire() -> None:
    command = ExtendCommand(uuid.uuid4(), 7, 3, uuid.uuid4(), "gw-1")
    assert decode_commands(encode_commands([command])) == [command]
    assert BookingStatus.HELD.value == "held"
