"""Refunds on cancel (issue 13): a buyer cancelling a confirmed paid booking within the event's
refund window, and an organizer cancelling the whole event, both decided by the event's actor
and refunded through the provider from the payments outbox — so a crash between the cancel
and the refund still refunds."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest

from engine.payments.fake import FakeProvider
from engine.storage.invariants import check_invariants
from engine.types import Role
from gateway.keys import metrics_key
from tests.clock import FakeClock
from tests.factories import Account
from tests.helpers import Api, Reply
from tests.test_payments import _checkout, _provider


def _iso(clock: FakeClock, seconds: float) -> str:
    return (clock.now() + timedelta(seconds=seconds)).isoformat()


async def _paid(api: Api, vendor: Account | None = None, quantity: int = 1,
                **fields: Any) -> tuple[dict[str, Any], Account, dict[str, Any]]:
    """A paid event and a buyer's confirmed (paid) booking of it."""
    event = await api.event(vendor, **{"totalTickets": 5, "priceCents": 1250, **fields})
    buyer = await api.account()
    held = await api.book(buyer, event["id"], quantity)
    assert held.body["status"] == "held", held.body
    paid = await api.call("POST", f"/api/bookings/{held.body['id']}/pay", buyer,
                          json={"paymentToken": "tok_ok"})
    assert paid.body["status"] == "confirmed", paid.body
    return event, buyer, paid.body


async def _cancel(api: Api, buyer: Account, booking: dict[str, Any]) -> Reply:
    return await api.call("POST", f"/api/bookings/{booking['id']}/cancel", buyer)


async def _cancel_event(api: Api, who: Account, event: dict[str, Any]) -> Reply:
    return await api.call("POST", f"/api/events/{event['id']}/cancel", who)


async def _payments(api: Api, event: dict[str, Any]) -> list[tuple[str, str | None]]:
    rows = await api.pool.fetch("SELECT status, refund_reason FROM payments"
                                " WHERE event_id = $1 ORDER BY created_at", event["id"])
    return [(r["status"], r["refund_reason"]) for r in rows]


def _refunds_counted(api: Api, reason: str) -> float:
    value = api.app[metrics_key].refunds.labels(reason)._value.get()
    return float(value)


@pytest.mark.both_transports
async def test_a_buyer_cancelling_within_the_window_is_refunded(
        api: Api, clock: FakeClock) -> None:
    event, buyer, booking = await _paid(api, quantity=2, refundableUntil=_iso(clock, 3600))
    counted = _refunds_counted(api, "buyer_cancelled")
    cancelled = await _cancel(api, buyer, booking)
    assert cancelled.status == 200, cancelled.body
    assert cancelled.body["status"] == "cancelled"
    assert all(t["void"] for t in cancelled.body["tickets"])
    assert cancelled.body["refund"]["amountCents"] == 2500
    await _checkout(api).settled()
    reread = await api.call("GET", f"/api/bookings/{booking['id']}", buyer)
    refund = reread.body["refund"]
    assert (refund["status"], refund["amountCents"], refund["currency"], refund["reason"]) == (
        "refunded", 2500, "EUR", "buyer_cancelled")
    assert refund["refundedAt"] is not None
    provider = _provider(api)
    assert len(provider.successful()) == 1 and provider.kept() == []
    assert await _payments(api, event) == [("refunded", "buyer_cancelled")]
    assert _refunds_counted(api, "buyer_cancelled") == counted + 1
    await api.drain()
    seats = (await api.call("GET", f"/api/events/{event['id']}")).body["availableTickets"]
    assert seats == 5
    assert (await check_invariants(api.pool, [event["id"]])).ok


async def test_outside_the_window_a_paid_booking_is_not_cancellable(
        api: Api, clock: FakeClock) -> None:
    event, buyer, booking = await _paid(api, refundableUntil=_iso(clock, 60))
    _, other, never = await _paid(api)  # an event that sets no window: never refundable
    refused = await _cancel(api, other, never)
    assert (refused.status, refused.body["error"]) == (409, "refund_window_closed")
    clock.advance(61)  # the window closes by the actor's clock
    late = await _cancel(api, buyer, booking)
    assert (late.status, late.body["error"]) == (409, "refund_window_closed")
    reread = await api.call("GET", f"/api/bookings/{booking['id']}", buyer)
    assert reread.body["status"] == "confirmed" and "refund" not in reread.body
    assert await _payments(api, event) == [("captured", None)]
    assert _provider(api).kept() == _provider(api).successful()
    free = await api.event(totalTickets=1)  # free bookings stay cancellable as before
    confirmed = await api.book(other, free["id"])
    assert (await _cancel(api, other, confirmed.body)).status == 200
    assert (await check_invariants(api.pool, [event["id"], free["id"]])).ok


@pytest.mark.both_transports
async def test_cancelling_an_event_voids_everything_and_refunds_the_paid(
        api: Api, clock: FakeClock) -> None:
    vendor = await api.account(Role.VENDOR)
    event, payer, paid = await _paid(api, vendor, quantity=2, holdSeconds=60)
    holder = await api.account()
    held = (await api.book(holder, event["id"], 3)).body  # the last three seats, held
    assert held["status"] == "held"
    waiting = await api.account()
    joined = await api.call("POST", f"/api/events/{event['id']}/waitlist", waiting,
                            json={"quantity": 1})
    assert joined.status == 201, joined.body
    counted = _refunds_counted(api, "event_cancelled")

    stranger = await api.account(Role.VENDOR)
    refused = await _cancel_event(api, stranger, event)
    assert (refused.status, refused.body["error"]) == (403, "forbidden")
    cancelled = await _cancel_event(api, vendor, event)
    assert cancelled.status == 200, cancelled.body
    assert (cancelled.body["status"], cancelled.body["availableTickets"]) == ("cancelled", 0)
    assert cancelled.body["cancelledAt"] is not None and not cancelled.body["waitlist"]
    await _checkout(api).settled()
    await api.drain()

    for who, booking, status in ((payer, paid, "cancelled"), (holder, held, "cancelled")):
        reread = await api.call("GET", f"/api/bookings/{booking['id']}", who)
        assert reread.body["status"] == status
        assert all(t["void"] for t in reread.body["tickets"])
    refund = (await api.call("GET", f"/api/bookings/{paid['id']}", payer)).body["refund"]
    assert (refund["status"], refund["amountCents"], refund["reason"]) == (
        "refunded", 2500, "event_cancelled")
    assert await _payments(api, event) == [("refunded", "event_cancelled")]
    assert _provider(api).kept() == []
    assert _refunds_counted(api, "event_cancelled") == counted + 1
    assert (await api.call("GET", "/api/me/waitlist", waiting)).body == []  # off the list
    assert await api.pool.fetchval("SELECT status FROM waitlist_entries WHERE id = $1",
                                   uuid.UUID(joined.body["id"])) == "left"

    # The cancelled event refuses everything, with stable codes; cancelling it again answers it.
    late = await api.book(await api.account(), event["id"])
    assert (late.status, late.body["error"]) == (409, "event_cancelled")
    edit = await api.call("PATCH", f"/api/events/{event['id']}", vendor,
                          json={"totalTickets": 9})
    assert (edit.status, edit.body["error"]) == (409, "event_cancelled")
    again = await _cancel_event(api, vendor, event)
    assert (again.status, again.body["status"]) == (200, "cancelled")
    door = await api.call("POST", f"/api/events/{event['id']}/checkin", vendor,
                          json={"code": paid["tickets"][0]["code"]})
    assert (door.status, door.body["error"]) == (409, "ticket_void")
    clock.advance(61)  # the released hold's deadline passes: nothing left to expire
    await api.drain()
    assert (await api.call("GET", f"/api/bookings/{held['id']}", holder)).body[
        "status"] == "cancelled"
    assert (await check_invariants(api.pool, [event["id"]])).ok


async def test_a_crash_between_the_cancel_and_its_refund_still_refunds(make_api: Any) -> None:
    provider = FakeProvider((0, 0))
    api: Api = await make_api(payments=provider)
    vendor = await api.account(Role.VENDOR)
    event, buyer, booking = await _paid(api, vendor)
    provider.refund_gate = asyncio.Event()  # the refund waits at the provider...
    reply = await _cancel_event(api, vendor, event)
    assert reply.status == 200
    await _checkout(api).stop()  # ...when the gateway dies: the outbox says it is owed
    provider.refund_gate = None
    assert provider.refunds == {}
    assert await _payments(api, event) == [("refunding", "event_cancelled")]
    pending = (await api.call("GET", f"/api/bookings/{booking['id']}", buyer)).body["refund"]
    assert (pending["status"], pending["refundedAt"]) == ("pending", None)
    successor: Api = await make_api(payments=provider)
    assert await _checkout(successor).refund_owed(older_than_seconds=0) >= 1
    assert await _payments(api, event) == [("refunded", "event_cancelled")]
    assert provider.kept() == []
    assert await _checkout(successor).refund_owed(older_than_seconds=0) == 0  # once


async def test_a_payment_after_the_event_was_cancelled_is_refunded(make_api: Any) -> None:
    api: Api = await make_api(payment_wait_seconds=0.05)
    vendor = await api.account(Role.VENDOR)
    event = await api.event(vendor, totalTickets=2, priceCents=900)
    buyer = await api.account()
    held = (await api.book(buyer, event["id"])).body
    provider = _provider(api)
    provider.gate = gate = asyncio.Event()
    pending = await api.call("POST", f"/api/bookings/{held['id']}/pay", buyer,
                             json={"paymentToken": "tok_ok"})
    assert pending.status == 202  # the charge waits at the provider...
    assert (await _cancel_event(api, vendor, event)).status == 200  # ...the event goes first
    gate.set()
    await _checkout(api).settled()
    reread = await api.call("GET", f"/api/bookings/{held['id']}", buyer)
    assert (reread.body["status"], reread.body["tickets"]) == ("cancelled", [])
    assert reread.body["refund"]["reason"] == "late_payment"
    assert len(provider.successful()) == 1 and provider.kept() == []
    assert (await check_invariants(api.pool, [event["id"]])).ok


async def test_an_event_under_way_is_not_cancelled(api: Api) -> None:
    vendor = await api.account(Role.VENDOR)
    event = await api.event(vendor, totalTickets=2)
    buyer = await api.account()
    booked = (await api.book(buyer, event["id"])).body
    code = booked["tickets"][0]["code"]
    assert (await api.call("POST", f"/api/events/{event['id']}/checkin", vendor,
                           json={"code": code})).status == 200
    refused = await _cancel_event(api, vendor, event)
    assert (refused.status, refused.body["error"]) == (409, "checked_in")
    assert (await api.call("GET", f"/api/events/{event['id']}")).body["status"] != "cancelled"
    missing = await api.call("POST", "/api/events/999999999/cancel", vendor)
    assert (missing.status, missing.body["error"]) == (404, "not_found")
    assert (await check_invariants(api.pool, [event["id"]])).ok
