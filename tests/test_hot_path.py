"""The hot path makes no database round trip at the gateway (issue: per-request I/O).

Counted for real: every connection of the gateway's pool reports each statement it sends
(`ticketwar_db_statements`), and the shard actors run in the worker process over RabbitMQ,
so whatever the gateway's counter shows is the gateway's own traffic.

Buyers here are new to the gateway: their session check reads nothing either (a gateway
holds only the users whose token version is not 0, engine/sessions.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from engine.strategies.queued import QueuedBooker
from gateway.keys import metrics_key, service_key
from tests.helpers import Api, assert_eventually

pytestmark = pytest.mark.parametrize("transport", ["rabbitmq"], indirect=True)


def _statements(api: Api) -> float:
    value = api.app[metrics_key].registry.get_sample_value("ticketwar_db_statements_total")
    return float(value or 0.0)


async def test_an_accepted_keyed_booking_makes_no_gateway_statement(make_api: Any) -> None:
    api: Api = await make_api(event_cache_seconds=600)
    event = await api.event(totalTickets=100)
    buyers = await api.accounts(10)  # never seen by this gateway
    warm = await api.book(buyers[0], event["id"], 1, key="warm")  # reads the event once
    assert warm.status == 201, warm.body

    before = _statements(api)
    replies = [await api.book(b, event["id"], 2, key=f"order-{b.id}") for b in buyers[1:]]
    replay = await api.book(buyers[1], event["id"], 2, key=f"order-{buyers[1].id}")
    assert _statements(api) - before == 0

    assert {r.status for r in replies} == {201}, [r.body for r in replies]
    assert (replay.status, replay.body["id"]) == (201, replies[0].body["id"])
    assert replay.body["tickets"] == replies[0].body["tickets"]
    keys = await api.pool.fetchval(
        "SELECT count(*) FROM idempotency_keys WHERE event_id = $1", event["id"])
    assert keys == 10  # pinned by the actor, in its batches


async def test_a_sold_out_refusal_of_a_buyer_holding_nothing_makes_no_statement(
        make_api: Any) -> None:
    api: Api = await make_api(event_cache_seconds=600)
    event = await api.event(totalTickets=2)
    holder, *others = await api.accounts(6)
    first = await api.book(holder, event["id"], 2, key="mine")
    assert first.status == 201
    await api.drain()  # the sell-out broadcast has reached this gateway
    booker = api.app[service_key].booker
    assert isinstance(booker, QueuedBooker)
    # The first keyed refusal loads who holds seats there, once.
    assert (await api.book(others[0], event["id"], 1, key="late-0")).status == 409

    async def holders_loaded() -> bool:
        return api.app[service_key].stock.holders(event["id"]) is not None
    await assert_eventually(holders_loaded)

    before = _statements(api)
    refused = [await api.book(b, event["id"], 1, key=f"late-{b.id}") for b in others]
    unkeyed = await api.book(others[1], event["id"], 1)
    assert _statements(api) - before == 0
    assert {r.status for r in refused} | {unkeyed.status} == {409}
    assert {r.body["error"] for r in refused} == {"sold_out"}

    # The one buyer who does hold seats still hears "confirmed" on a retry (I4), at the
    # price of a read.
    again = await api.book(holder, event["id"], 2, key="mine")
    assert (again.status, again.body["id"]) == (201, first.body["id"])
    assert _statements(api) - before > 0


async def test_not_on_sale_is_answered_from_the_cached_event(make_api: Any) -> None:
    api: Api = await make_api(event_cache_seconds=600)
    event = await api.event(totalTickets=5, saleStartsAt="2099-01-01T00:00:00Z")
    buyer = await api.account()
    assert (await api.book(buyer, event["id"], 1, key="early-0")).status == 409
    before = _statements(api)
    early = await api.book(buyer, event["id"], 1, key="early-1")
    assert (early.status, early.body["error"]) == (409, "not_on_sale")
    assert _statements(api) - before == 0


async def test_a_burst_on_an_uncached_event_reads_it_once(make_api: Any) -> None:
    """The first second of a sale: every buyer's first request finds the event uncached.
    They share one read instead of each paying its own (and queueing for the pool)."""
    api: Api = await make_api(event_cache_seconds=600)
    event = await api.event(totalTickets=100)
    buyers = await api.accounts(20)
    before = _statements(api)
    replies = await asyncio.gather(
        *(api.book(b, event["id"], 1, key=f"first-{b.id}") for b in buyers))
    assert {r.status for r in replies} == {201}, [r.body for r in replies]
    assert _statements(api) - before == 1

