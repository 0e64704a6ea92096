"""A surge in miniature: 2,000 concurrent requests from 500 buyers for 100 seats.

Exactly 100 seats are confirmed, every other request gets a definite 409 or 422, and the
invariants hold in the database afterwards — for every strategy that promises them.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

import pytest

from engine.storage.invariants import check_invariants
from engine.types import Strategy
from tests.helpers import Api

SEATS, BUYERS, REQUESTS, PER_USER = 100, 500, 2000, 2


@pytest.mark.both_transports
@pytest.mark.parametrize("strategy", [Strategy.QUEUED, Strategy.LOCKED])
async def test_surge_sells_exactly_the_stock(make_api: Any, strategy: Strategy) -> None:
    api: Api = await make_api(booking_strategy=strategy)
    event = await api.event(totalTickets=SEATS, perUserLimit=PER_USER)
    buyers = await api.accounts(BUYERS)
    # Every buyer asks 4 times; shuffled so limits and stock run out interleaved.
    requests = [buyers[i % BUYERS] for i in range(REQUESTS)]
    random.Random(7).shuffle(requests)

    replies = await asyncio.gather(*(api.book(b, event["id"]) for b in requests))
    await api.drain()

    statuses = Counter(r.status for r in replies)
    assert statuses[201] == SEATS, statuses
    assert set(statuses) <= {201, 409, 422}, statuses
    assert all(r.body["error"] in {"sold_out", "limit_exceeded"}
               for r in replies if r.status != 201)

    confirmed = await api.pool.fetchval(
        "SELECT sum(quantity) FROM bookings WHERE event_id = $1 AND status = 'confirmed'",
        event["id"])
    assert confirmed == SEATS
    report = await check_invariants(api.pool, [event["id"]])
    assert report.ok, report
    per_user = await api.pool.fetchval(
        "SELECT max(n) FROM (SELECT sum(quantity) AS n FROM bookings WHERE event_id = $1"
        " AND status = 'confirmed' GROUP BY user_id) t", event["id"])
    assert per_user <= PER_USER
    detail = await api.call("GET", f"/api/events/{event['id']}")
    assert (detail.body["availableTickets"], detail.body["status"]) == (0, "sold_out")


async def test_naive_is_refused_without_opt_in(make_settings: Any) -> None:
    from engine.settings import SettingsError

    with pytest.raises(SettingsError, match="ALLOW_NAIVE"):
        make_settings(booking_strategy=Strategy.NAIVE)
