"""I4: a retry with the same Idempotency-Key returns the first outcome; another body is 422."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from engine.types import Strategy
from tests.helpers import Api

pytestmark = [pytest.mark.parametrize("strategy", [Strategy.QUEUED, Strategy.LOCKED]),
              pytest.mark.both_transports]


async def test_concurrent_replays_make_one_booking(make_api: Any, strategy: Strategy) -> None:
    api: Api = await make_api(booking_strategy=strategy)
    event = await api.event(totalTickets=50)
    buyer = await api.account()

    replies = await asyncio.gather(*(api.book(buyer, event["id"], 2, key="order-1")
                                     for _ in range(20)))
    await api.drain()

    assert {r.status for r in replies} == {201}, [(r.status, r.body) for r in replies]
    assert len({r.body["id"] for r in replies}) == 1
    assert len({tuple(t["code"] for t in r.body["tickets"]) for r in replies}) == 1
    rows = await api.pool.fetch("SELECT quantity, status FROM bookings WHERE user_id = $1",
                                buyer.id)
    assert [(r["quantity"], r["status"]) for r in rows] == [(2, "confirmed")]
    tickets = await api.call("GET", "/api/me/tickets", buyer)
    assert len(tickets.body) == 2


async def test_same_key_other_body_is_refused(make_api: Any, strategy: Strategy) -> None:
    api: Api = await make_api(booking_strategy=strategy)
    event = await api.event(totalTickets=50)
    other = await api.event(totalTickets=50)
    buyer = await api.account()
    first = await api.book(buyer, event["id"], 1, key="k")
    assert first.status == 201

    for replay in (await api.book(buyer, event["id"], 3, key="k"),
                   await api.book(buyer, other["id"], 1, key="k")):
        assert replay.status == 422, replay.body
        assert replay.body["error"] == "idempotency_key_reused"
    again = await api.book(buyer, event["id"], 1, key="k")
    assert (again.status, again.body["id"]) == (201, first.body["id"])


async def test_keys_are_scoped_to_the_user(make_api: Any, strategy: Strategy) -> None:
    api: Api = await make_api(booking_strategy=strategy)
    event = await api.event(totalTickets=50)
    alice, bob = await api.accounts(2)
    a = await api.book(alice, event["id"], 1, key="same")
    b = await api.book(bob, event["id"], 1, key="same")
    assert (a.status, b.status) == (201, 201)
    assert a.body["id"] != b.body["id"]


async def test_a_rejection_is_replayed_too(make_api: Any, strategy: Strategy) -> None:
    api: Api = await make_api(booking_strategy=strategy)
    event = await api.event(totalTickets=1)
    buyer = await api.account()
    first = await api.book(buyer, event["id"], 2, key="too-many")
    assert (first.status, first.body["error"]) == (409, "sold_out")
    replay = await api.book(buyer, event["id"], 2, key="too-many")
    assert (replay.status, replay.body["error"]) == (409, "sold_out")
    assert await api.pool.fetchval("SELECT count(*) FROM bookings WHERE user_id = $1",
                                   buyer.id) == 1


async def test_a_confirmed_replay_survives_the_sell_out(make_api: Any,
                                                        strategy: Strategy) -> None:
    api: Api = await make_api(booking_strategy=strategy)
    event = await api.event(totalTickets=2)
    buyer, other = await api.accounts(2)
    first = await api.book(buyer, event["id"], 1, key="early")
    assert first.status == 201
    assert (await api.book(other, event["id"], 1)).status == 201
    await api.drain()  # the gateway now knows the event is sold out
    assert (await api.book(other, event["id"], 1)).status == 409
    replay = await api.book(buyer, event["id"], 1, key="early")
    assert (replay.status, replay.body["id"]) == (201, first.body["id"])
    late = await api.book(other, event["id"], 1, key="late")
    assert (late.status, late.body["error"]) == (409, "sold_out")
    again = await api.book(other, event["id"], 1, key="late")
    assert (again.status, again.body["error"]) == (409, "sold_out")
    # queued refuses it at the gateway, before acceptance: nothing is written for it.
    # locked decides it in its transaction, which records the key and the rejection.
    keys = await api.pool.fetchval(
        "SELECT count(*) FROM idempotency_keys WHERE user_id = $1", other.id)
    assert keys == (0 if strategy is Strategy.QUEUED else 1)
