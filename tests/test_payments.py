"""Paying for holds (issue 13): the fake provider's tokens, the answers of the pay route, and
the race rules — one successful charge per booking, a late charge refunded, nothing lost to a
crash between charge and ticket."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from engine.checkout import Checkout
from engine.errors import StartupError
from engine.payments.fake import FakeProvider
from engine.storage.invariants import check_invariants
from engine.types import Role
from gateway.app import create_app
from gateway.keys import checkout_key, payments_key
from tests.clock import FakeClock
from tests.factories import Account
from tests.helpers import Api, Reply, assert_eventually


def _provider(api: Api) -> FakeProvider:
    provider = api.app[payments_key]
    assert isinstance(provider, FakeProvider)
    return provider


def _checkout(api: Api) -> Checkout:
    return api.app[checkout_key]


async def _held(api: Api, seats: int = 2, quantity: int = 1,
                hold_seconds: int = 60) -> tuple[dict[str, Any], Account, dict[str, Any]]:
    event = await api.event(totalTickets=seats, priceCents=700, currency="JPY",
                            holdSeconds=hold_seconds)
    buyer = await api.account()
    held = await api.book(buyer, event["id"], quantity)
    assert held.body["status"] == "held", held.body
    return event, buyer, held.body


async def _pay(api: Api, buyer: Account, booking: dict[str, Any], token: str = "tok_ok",
               key: str | None = None) -> Reply:
    headers = {"Idempotency-Key": key} if key else None
    return await api.call("POST", f"/api/bookings/{booking['id']}/pay", buyer,
                          json={"paymentToken": token}, headers=headers)


async def _payment_rows(api: Api, booking: dict[str, Any]) -> list[str]:
    return [r["status"] for r in await api.pool.fetch(
        "SELECT status FROM payments WHERE booking_id = $1 ORDER BY created_at",
        uuid.UUID(booking["id"]))]


@pytest.mark.both_transports
async def test_paying_a_hold_confirms_it_once(api: Api) -> None:
    event, buyer, booking = await _held(api, seats=3, quantity=2)
    paid = await _pay(api, buyer, booking, key="pay-1")
    assert paid.status == 200, paid.body
    assert (paid.body["status"], paid.body["amountCents"], paid.body["currency"]) == (
        "confirmed", 1400, "JPY")
    assert len(paid.body["tickets"]) == 2
    reread = await api.call("GET", f"/api/bookings/{booking['id']}", buyer)
    assert reread.body == paid.body
    # The same key replays the answer; another key finds nothing to pay: one charge in all.
    again = await _pay(api, buyer, booking, key="pay-1")
    assert (again.status, again.body) == (200, paid.body)
    other = await _pay(api, buyer, booking, key="pay-2")
    assert (other.status, other.body["error"]) == (409, "not_payable")
    assert len(_provider(api).successful()) == 1
    assert await _payment_rows(api, booking) == ["captured"]
    await api.drain()
    detail = (await api.call("GET", f"/api/events/{event['id']}")).body
    assert detail["availableTickets"] == 1
    assert len((await api.call("GET", "/api/me/tickets", buyer)).body) == 2
    assert (await check_invariants(api.pool, [event["id"]])).ok


async def test_a_declined_payment_keeps_the_hold(api: Api) -> None:
    event, buyer, booking = await _held(api)
    declined = await _pay(api, buyer, booking, "tok_declined", key="k1")
    assert (declined.status, declined.body["error"]) == (402, "payment_declined")
    replay = await _pay(api, buyer, booking, "tok_ok", key="k1")  # the key's answer stands
    assert (replay.status, replay.body["error"]) == (402, "payment_declined")
    held = await api.call("GET", f"/api/bookings/{booking['id']}", buyer)
    assert held.body["status"] == "held"
    assert (await _pay(api, buyer, booking, "tok_ok")).status == 200
    assert await _payment_rows(api, booking) == ["declined", "captured"]
    assert _provider(api).kept() == _provider(api).successful()
    assert (await check_invariants(api.pool, [event["id"]])).ok


async def test_only_a_held_booking_of_the_caller_can_be_paid(api: Api, clock: FakeClock) -> None:
    event, buyer, booking = await _held(api, seats=5, hold_seconds=10)
    stranger = await api.account()
    for who, path in ((stranger, booking["id"]), (buyer, str(uuid.uuid4()))):
        reply = await _pay(api, who, {"id": path})
        assert (reply.status, reply.body["error"]) == (404, "not_found")
    free = await api.event(totalTickets=2)
    confirmed = await api.book(buyer, free["id"], 1)
    not_held = await _pay(api, buyer, confirmed.body)
    assert (not_held.status, not_held.body["error"]) == (409, "not_payable")
    bad = await api.call("POST", f"/api/bookings/{booking['id']}/pay", buyer, json={})
    assert (bad.status, bad.body["error"]) == (422, "invalid_input")
    clock.advance(11)
    late = await _pay(api, buyer, booking)  # over by the clock: refused before any charge
    assert (late.status, late.body["error"]) == (409, "hold_expired")
    await api.drain()
    expired = await _pay(api, buyer, booking)
    assert (expired.status, expired.body["error"]) == (409, "hold_expired")
    assert _provider(api).charges == {}
    assert (await check_invariants(api.pool, [event["id"]])).ok


@pytest.mark.both_transports
async def test_a_charge_that_succeeds_after_the_expiry_is_refunded(
        make_api: Any, clock: FakeClock) -> None:
    api: Api = await make_api(payment_wait_seconds=0.05)  # 202 while the charge is held
    event, buyer, booking = await _held(api, hold_seconds=30)
    provider = _provider(api)
    provider.gate = gate = asyncio.Event()
    pending = await _pay(api, buyer, booking, key="race")
    assert (pending.status, pending.body["status"], pending.body["payment"]) == (
        202, "held", "pending")
    clock.advance(31)
    await api.drain()  # the expiry is decided first...
    gate.set()         # ...then the provider says yes
    await _checkout(api).settled()
    await api.drain()
    reread = await api.call("GET", f"/api/bookings/{booking['id']}", buyer)
    assert (reread.body["status"], reread.body["tickets"]) == ("expired", [])
    assert len(provider.successful()) == 1 and provider.kept() == []  # refunded
    assert await _payment_rows(api, booking) == ["refunded"]
    retry = await _pay(api, buyer, booking, key="race")
    assert (retry.status, retry.body["error"]) == (409, "hold_expired")
    assert (await check_invariants(api.pool, [event["id"]])).ok


@pytest.mark.both_transports
async def test_a_payment_decided_before_the_deadline_wins_over_the_expiry(
        api: Api, clock: FakeClock) -> None:
    event, buyer, booking = await _held(api, hold_seconds=30)
    clock.advance(29)
    paid = await _pay(api, buyer, booking)
    assert paid.body["status"] == "confirmed"
    clock.advance(2)
    await api.drain()  # the deadline passes: nothing left to expire
    reread = await api.call("GET", f"/api/bookings/{booking['id']}", buyer)
    assert reread.body["status"] == "confirmed"
    assert _provider(api).kept() == _provider(api).successful()
    assert (await check_invariants(api.pool, [event["id"]])).ok


async def test_concurrent_pays_with_different_keys_charge_once(make_api: Any) -> None:
    api: Api = await make_api(payment_wait_seconds=0.05)
    event, buyer, booking = await _held(api)
    provider = _provider(api)
    provider.gate = gate = asyncio.Event()
    first = await _pay(api, buyer, booking, key="a")
    second = await _pay(api, buyer, booking, "tok_ok", key="b")
    third = await _pay(api, buyer, booking)
    assert [r.status for r in (first, second, third)] == [202, 202, 202]
    gate.set()
    await _checkout(api).settled()
    assert len(provider.charges) == 1 and len(provider.successful()) == 1
    assert (await _pay(api, buyer, booking, key="a")).body["status"] == "confirmed"
    assert (await check_invariants(api.pool, [event["id"]])).ok


@pytest.mark.both_transports
async def test_a_lost_answer_is_recovered_into_a_ticket(make_api: Any) -> None:
    provider = FakeProvider((0, 0))
    api: Api = await make_api(payments=provider)
    event, buyer, booking = await _held(api)
    lost = await _pay(api, buyer, booking, "tok_timeout", key="t")
    assert (lost.status, lost.body["payment"]) == (202, "pending")  # charged, answer lost
    assert await _payment_rows(api, booking) == ["charging"]
    # The gateway dies; another one (sharing the provider) recovers from the outbox.
    successor: Api = await make_api(payments=provider)
    assert await _checkout(successor).recover(0) == 1
    reread = await successor.call("GET", f"/api/bookings/{booking['id']}", buyer)
    assert reread.body["status"] == "confirmed" and len(reread.body["tickets"]) == 1
    assert await _payment_rows(api, booking) == ["captured"]
    assert (await _pay(successor, buyer, booking, key="t")).body["status"] == "confirmed"
    assert (await check_invariants(api.pool, [event["id"]])).ok


async def test_a_lost_answer_after_the_expiry_is_recovered_into_a_refund(
        api: Api, clock: FakeClock) -> None:
    event, buyer, booking = await _held(api, hold_seconds=30)
    await _pay(api, buyer, booking, "tok_timeout")
    clock.advance(31)
    await api.drain()
    assert await _checkout(api).recover(0) == 1
    assert await _payment_rows(api, booking) == ["refunded"]
    assert _provider(api).kept() == [] and len(_provider(api).successful()) == 1
    assert await _checkout(api).recover(0) == 0  # settled for good
    assert (await check_invariants(api.pool, [event["id"]])).ok


async def test_an_attempt_the_provider_never_got_is_closed(api: Api) -> None:
    event, buyer, booking = await _held(api)
    await api.pool.execute(
        "INSERT INTO payments (id, booking_id, user_id, event_id, amount_cents, currency,"
        " provider, status) VALUES ($1, $2, $3, $4, 700, 'JPY', 'fake', 'charging')",
        uuid.uuid4(), uuid.UUID(booking["id"]), buyer.id, event["id"])
    assert await _checkout(api).recover(0) == 1  # the process died before the charge
    assert await _payment_rows(api, booking) == ["failed"]
    assert (await _pay(api, buyer, booking)).status == 200


def test_a_configured_database_needs_a_named_provider(make_settings: Any) -> None:
    with pytest.raises(StartupError) as refused:
        create_app(make_settings(payment_provider=""))
    assert "PAYMENT_PROVIDER" in str(refused.value) and "\n" not in str(refused.value)


async def test_a_charge_recovery_gave_up_on_is_refunded_when_it_succeeds(
        make_api: Any) -> None:
    api: Api = await make_api(payment_wait_seconds=0.05)
    event, buyer, booking = await _held(api)
    provider = _provider(api)
    provider.gate = gate = asyncio.Event()
    assert (await _pay(api, buyer, booking)).status == 202  # the charge waits at the gate
    # Recovery finds the attempt, and the provider knows nothing of it yet: closed.
    assert await _checkout(api).recover(0) == 1
    assert await _payment_rows(api, booking) == ["failed"]
    gate.set()  # the provider takes the money after all
    await _checkout(api).settled()
    assert await _payment_rows(api, booking) == ["refunded"]
    assert len(provider.successful()) == 1 and provider.kept() == []
    held = await api.call("GET", f"/api/bookings/{booking['id']}", buyer)
    assert held.body["status"] == "held"  # and the buyer may pay again
    provider.gate = None
    # 200, or 202 when the actor's confirmation takes longer than this test's 50 ms wait (a
    # loaded machine): either way the booking ends confirmed.
    assert (await _pay(api, buyer, booking)).status in (200, 202)

    async def confirmed() -> bool:
        reply = await api.call("GET", f"/api/bookings/{booking['id']}", buyer)
        return bool(reply.body["status"] == "confirmed")
    await assert_eventually(confirmed, message="the second payment never confirmed")
    assert (await check_invariants(api.pool, [event["id"]])).ok


async def test_its_organizer_reads_the_revenue_kept(api: Api) -> None:
    vendor = await api.account(Role.VENDOR)
    event = await api.event(vendor, totalTickets=5, priceCents=1250, currency="EUR")
    paying, declined, refunded = await api.accounts(3)
    for buyer, token in ((paying, "tok_ok"), (declined, "tok_declined")):
        held = await api.book(buyer, event["id"], 2 if buyer is paying else 1)
        await _pay(api, buyer, held.body, token)
    # A hold cancelled before it was paid: whatever its payment came to, nothing is kept.
    late = await api.book(refunded, event["id"], 1)
    await api.call("POST", f"/api/bookings/{late.body['id']}/cancel", refunded)
    await _pay(api, refunded, late.body)
    read = await api.call("GET", f"/api/events/{event['id']}", vendor)
    assert read.body["revenueCents"] == 2500, read.body  # 2 seats paid, nothing else kept
    for outsider in (paying, None):
        assert "revenueCents" not in (await api.call("GET", f"/api/events/{event['id']}",
                                                     outsider)).body


async def test_the_config_names_the_payment_provider(api: Api) -> None:
    # The web UI offers the fake provider's test cards only when the fake one charges.
    reply = await api.call("GET", "/api/config")
    assert (reply.status, reply.body) == (200, {"paymentProvider": "fake"})
